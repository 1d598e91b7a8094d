//! A serialisable struct as one CSV [`Record`]: its fields in declaration order, each a
//! plain value (number, integer, bool, string, unit enum variant, `Option` of these;
//! `#[serde(flatten)]` of such a struct works too). Unlike a JSON round trip this keeps
//! `NaN` and `±inf` as numbers and `None` as a missing value.

use serde::ser::{self, Impossible, Serialize};

use crate::table::{Field, Record, TableError};

/// The record of `row`.
pub fn record_of<T: Serialize + ?Sized>(row: &T) -> Result<Record, TableError> {
    row.serialize(RowSerializer)
}

impl ser::Error for TableError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        TableError::Row(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, TableError> {
    Err(TableError::Row(format!(
        "{what} cannot be a CSV field (a row is a struct of plain values)"
    )))
}

/// Serialises a struct (or a map with string keys, as `flatten` produces) into a record.
struct RowSerializer;

/// Collects the fields of a row.
struct Fields {
    record: Record,
    key: Option<String>,
}

impl ser::SerializeStruct for Fields {
    type Ok = Record;
    type Error = TableError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TableError> {
        self.record
            .push((key.to_string(), value.serialize(FieldSerializer)?));
        Ok(())
    }

    fn end(self) -> Result<Record, TableError> {
        Ok(self.record)
    }
}

impl ser::SerializeMap for Fields {
    type Ok = Record;
    type Error = TableError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), TableError> {
        match key.serialize(FieldSerializer)? {
            Field::Text(name) => {
                self.key = Some(name);
                Ok(())
            }
            _ => unsupported("a map key that is not a string"),
        }
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TableError> {
        let key = self.key.take().unwrap_or_default();
        self.record.push((key, value.serialize(FieldSerializer)?));
        Ok(())
    }

    fn end(self) -> Result<Record, TableError> {
        Ok(self.record)
    }
}

/// Everything but a struct or a map is refused as a row.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*) -> $what:literal;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<Self::Ok, TableError> {
            unsupported($what)
        })*
    };
}

impl ser::Serializer for RowSerializer {
    type Ok = Record;
    type Error = TableError;
    type SerializeSeq = Impossible<Record, TableError>;
    type SerializeTuple = Impossible<Record, TableError>;
    type SerializeTupleStruct = Impossible<Record, TableError>;
    type SerializeTupleVariant = Impossible<Record, TableError>;
    type SerializeMap = Fields;
    type SerializeStruct = Fields;
    type SerializeStructVariant = Impossible<Record, TableError>;

    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Fields, TableError> {
        Ok(Fields {
            record: Vec::with_capacity(len),
            key: None,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Fields, TableError> {
        Ok(Fields {
            record: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Record, TableError> {
        value.serialize(self)
    }

    refuse! {
        serialize_bool(bool) -> "a bool";
        serialize_i8(i8) -> "a number";
        serialize_i16(i16) -> "a number";
        serialize_i32(i32) -> "a number";
        serialize_i64(i64) -> "a number";
        serialize_u8(u8) -> "a number";
        serialize_u16(u16) -> "a number";
        serialize_u32(u32) -> "a number";
        serialize_u64(u64) -> "a number";
        serialize_f32(f32) -> "a number";
        serialize_f64(f64) -> "a number";
        serialize_char(char) -> "a char";
        serialize_str(&str) -> "a string";
        serialize_bytes(&[u8]) -> "bytes";
        serialize_none() -> "an option";
        serialize_unit() -> "a unit";
        serialize_unit_struct(&'static str) -> "a unit struct";
        serialize_unit_variant(&'static str, u32, &'static str) -> "an enum";
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Record, TableError> {
        unsupported("an option")
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Record, TableError> {
        unsupported("an enum")
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, TableError> {
        unsupported("a sequence")
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, TableError> {
        unsupported("a tuple")
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, TableError> {
        unsupported("a tuple struct")
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, TableError> {
        unsupported("an enum")
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, TableError> {
        unsupported("an enum")
    }
}

/// Serialises one plain value into a [`Field`].
struct FieldSerializer;

impl ser::Serializer for FieldSerializer {
    type Ok = Field;
    type Error = TableError;
    type SerializeSeq = Impossible<Field, TableError>;
    type SerializeTuple = Impossible<Field, TableError>;
    type SerializeTupleStruct = Impossible<Field, TableError>;
    type SerializeTupleVariant = Impossible<Field, TableError>;
    type SerializeMap = Impossible<Field, TableError>;
    type SerializeStruct = Impossible<Field, TableError>;
    type SerializeStructVariant = Impossible<Field, TableError>;

    fn serialize_bool(self, v: bool) -> Result<Field, TableError> {
        Ok(Field::Flag(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Field, TableError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Field, TableError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Field, TableError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Field, TableError> {
        Ok(u64::try_from(v).map_or(Field::Number(v as f64), Field::Count))
    }
    fn serialize_u8(self, v: u8) -> Result<Field, TableError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Field, TableError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Field, TableError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Field, TableError> {
        Ok(Field::Count(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Field, TableError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Field, TableError> {
        Ok(Field::Number(v))
    }
    fn serialize_char(self, v: char) -> Result<Field, TableError> {
        Ok(Field::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Field, TableError> {
        Ok(Field::Text(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Field, TableError> {
        unsupported("bytes")
    }
    fn serialize_none(self) -> Result<Field, TableError> {
        Ok(Field::Missing)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Field, TableError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Field, TableError> {
        Ok(Field::Missing)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Field, TableError> {
        Ok(Field::Missing)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Field, TableError> {
        Ok(Field::Text(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Field, TableError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Field, TableError> {
        unsupported("an enum with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, TableError> {
        unsupported("a sequence")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, TableError> {
        unsupported("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, TableError> {
        unsupported("a tuple struct")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, TableError> {
        unsupported("an enum with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, TableError> {
        unsupported("a nested map")
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, TableError> {
        unsupported("a nested struct")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, TableError> {
        unsupported("an enum with data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Table;

    #[derive(serde::Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Loss {
        Squared,
    }

    #[derive(serde::Serialize)]
    struct Inner {
        rho: f64,
        converged: bool,
    }

    #[derive(serde::Serialize)]
    struct Row {
        loss: Loss,
        seed: u64,
        shift: i32,
        sigma: f64,
        at: Option<usize>,
        #[serde(flatten)]
        inner: Inner,
    }

    #[test]
    fn a_struct_becomes_a_record_with_nan_kept_and_none_missing() {
        let row = Row {
            loss: Loss::Squared,
            seed: 3,
            shift: -2,
            sigma: f64::NAN,
            at: None,
            inner: Inner {
                rho: 1.5,
                converged: true,
            },
        };
        let table = Table::from_rows([&row]).unwrap();
        let text = String::from_utf8(table.to_csv().unwrap()).unwrap();
        assert_eq!(
            text,
            "loss,seed,shift,sigma,at,rho,converged\nsquared,3,-2.0,NaN,,1.5,true\n"
        );
    }

    #[test]
    fn nested_values_are_refused_with_a_reason() {
        #[derive(serde::Serialize)]
        struct Nested {
            v: Vec<f64>,
        }
        let err = record_of(&Nested { v: vec![1.0] }).unwrap_err();
        assert!(err.to_string().contains("sequence"), "{err}");
        assert!(record_of(&1.0).unwrap_err().to_string().contains("number"));
    }
}
