//! What a grid is: a base setup and unlearning config, one or two axes over the parameters
//! of [`Param`], repetitions and a master seed; and how a cell's configs are resolved from
//! them.

use frontier_model::{CnnConfig, ModelSpec};
use frontier_stability::sweep::Region;
use serde::de::{DeserializeOwned, IntoDeserializer, value::StrDeserializer};
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use crate::predict::{AsymptoticConfig, PredictConfig};
use crate::run::UnlearnConfig;
use crate::setup::SetupConfig;
use crate::update::validate;

/// A parameter a grid axis can vary. Numeric parameters take numbers; categorical ones
/// ([`Param::Loss`], [`Param::ForgetKind`]) take the names their config key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// Batch size B = B_r (and B_f unless `batch_forget` is set), positive integers.
    Batch,
    /// Forget batch size B_f, positive integers (`unlearn.step.batch_forget`).
    BatchForget,
    /// Mixing ratio α ∈ [0, 1].
    Alpha,
    /// SNR = ‖μ‖/(σ_p√d) ≥ 0 (changes the data, so each value has its own w*).
    Snr,
    /// Unlearning learning rate η > 0.
    Eta,
    /// Step budget K of the unlearning runs, positive integers (`unlearn.steps`).
    Steps,
    /// Forget-set size n_f, positive integers (`setup.data.n_forget`; its own setup).
    NForget,
    /// Forget fraction n_f/n ∈ (0, 1) (changes the forget set, so its own setup).
    ForgetFraction,
    /// Where the forget set is drawn from: the names `setup.data.forget_from` takes (today
    /// "random", "positive", "negative"); its own setup.
    ForgetKind,
    /// The loss of pre-training and unlearning: "logistic" or "squared" (its own setup).
    Loss,
    /// Label noise: the probability a training label is flipped, in [0, 0.5]
    /// (`setup.data.label_flip`; its own setup).
    LabelFlip,
}

impl Param {
    /// Every parameter, in the order above.
    pub const ALL: [Param; 11] = [
        Param::Batch,
        Param::BatchForget,
        Param::Alpha,
        Param::Snr,
        Param::Eta,
        Param::Steps,
        Param::NForget,
        Param::ForgetFraction,
        Param::ForgetKind,
        Param::Loss,
        Param::LabelFlip,
    ];

    /// Axis label with units.
    pub fn label(self) -> &'static str {
        match self {
            Param::Batch => "batch size B = B_r = B_f (samples)",
            Param::BatchForget => "forget batch size B_f (samples)",
            Param::Alpha => "mixing ratio α (forget weight)",
            Param::Snr => "SNR ‖μ‖/(σ_p√d) (dimensionless)",
            Param::Eta => "unlearning learning rate η (1/step)",
            Param::Steps => "step budget K (steps)",
            Param::NForget => "forget-set size n_f (samples)",
            Param::ForgetFraction => "forget fraction n_f/n",
            Param::ForgetKind => "forget set drawn from",
            Param::Loss => "loss",
            Param::LabelFlip => "label noise (flip probability)",
        }
    }

    /// Short name: the config value of `param` and the CSV column of the axis.
    pub fn name(self) -> &'static str {
        match self {
            Param::Batch => "batch",
            Param::BatchForget => "batch_forget",
            Param::Alpha => "alpha",
            Param::Snr => "snr",
            Param::Eta => "eta",
            Param::Steps => "steps",
            Param::NForget => "n_forget",
            Param::ForgetFraction => "forget_fraction",
            Param::ForgetKind => "forget_kind",
            Param::Loss => "loss",
            Param::LabelFlip => "label_flip",
        }
    }

    /// Whether its values are names rather than numbers.
    pub fn categorical(self) -> bool {
        matches!(self, Param::ForgetKind | Param::Loss)
    }

    /// Whether the axis is best drawn on a log₂ scale (sizes, budgets, SNR).
    pub fn log2(self) -> bool {
        matches!(
            self,
            Param::Batch | Param::BatchForget | Param::Snr | Param::Steps | Param::NForget
        )
    }

    /// Which end of this axis, used as y, unlearning is expected to escape at: small batches
    /// and SNR; large α, η, budgets, forget sets and label noise; for a categorical axis the
    /// end is arbitrary (the last name).
    pub fn escape_region(self) -> Region {
        match self {
            Param::Batch | Param::BatchForget | Param::Snr => Region::LowY,
            _ => Region::HighY,
        }
    }

    /// Sets this parameter to `value` in a cell's configs.
    pub fn apply<C>(
        self,
        value: &AxisValue,
        setup: &mut SetupConfig<C>,
        unlearn: &mut UnlearnConfig,
    ) -> Result<()> {
        let v = value.number().unwrap_or(f64::NAN);
        match self {
            Param::Batch => unlearn.step.batch_retain = v as usize,
            Param::BatchForget => unlearn.step.batch_forget = Some(v as usize),
            Param::Alpha => unlearn.step.alpha = v,
            Param::Snr => setup.data.snr = v,
            Param::Eta => unlearn.step.eta = v,
            Param::Steps => unlearn.steps = v as usize,
            Param::NForget => setup.data.n_forget = v as usize,
            Param::ForgetFraction => setup.data.forget_fraction = Some(v),
            Param::ForgetKind => setup.data.forget_from = self.choice(value)?,
            Param::Loss => setup.pretrain.loss = self.choice(value)?,
            Param::LabelFlip => setup.data.label_flip = v,
        }
        Ok(())
    }

    /// The value `value` names, parsed as the config key of this categorical parameter
    /// parses it (so the axis takes whatever names the key does).
    fn choice<T: DeserializeOwned>(self, value: &AxisValue) -> Result<T> {
        let name = match value {
            AxisValue::Name(name) => name.as_str(),
            AxisValue::Number(v) => {
                return Err(invalid(
                    "grid axis values",
                    format!("{} takes names, got the number {v}", self.name()),
                ));
            }
        };
        let names: StrDeserializer<'_, serde::de::value::Error> = name.into_deserializer();
        T::deserialize(names).map_err(|e| {
            invalid(
                "grid axis values",
                format!("`{name}` is not a {} value: {e}", self.name()),
            )
        })
    }

    /// Checks one axis value.
    fn check(self, value: &AxisValue) -> Result<()> {
        if self.categorical() {
            let mut setup = SetupConfig::<CnnConfig>::default();
            return self.apply(value, &mut setup, &mut UnlearnConfig::default());
        }
        let Some(v) = value.number() else {
            return Err(invalid(
                "grid axis values",
                format!("{} takes numbers, got `{value}`", self.name()),
            ));
        };
        let count = v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f64;
        let ok = match self {
            Param::Batch | Param::BatchForget | Param::Steps | Param::NForget => count,
            Param::Alpha => (0.0..=1.0).contains(&v),
            Param::Snr => v >= 0.0 && v.is_finite(),
            Param::Eta => v > 0.0 && v.is_finite(),
            Param::ForgetFraction => v > 0.0 && v < 1.0,
            Param::LabelFlip => (0.0..=0.5).contains(&v),
            Param::ForgetKind | Param::Loss => unreachable!("categorical, checked above"),
        };
        if ok {
            Ok(())
        } else {
            Err(invalid(
                "grid axis values",
                format!("{v} is not a valid {} value", self.name()),
            ))
        }
    }
}

/// One value of an axis: a number, or a name for a categorical parameter. In TOML and JSON a
/// bare number or string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AxisValue {
    /// A numeric value.
    Number(f64),
    /// A name (e.g. "squared").
    Name(String),
}

impl AxisValue {
    /// The number, if it is one.
    pub fn number(&self) -> Option<f64> {
        match self {
            AxisValue::Number(v) => Some(*v),
            AxisValue::Name(_) => None,
        }
    }
}

impl std::fmt::Display for AxisValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AxisValue::Number(v) => write!(f, "{v}"),
            AxisValue::Name(name) => f.write_str(name),
        }
    }
}

/// One axis: a parameter and its grid values (numbers strictly ascending; names distinct).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// The parameter.
    pub param: Param,
    /// Its values.
    pub values: Vec<AxisValue>,
}

impl Axis {
    /// An axis of numbers.
    pub fn numbers(param: Param, values: Vec<f64>) -> Axis {
        Axis {
            param,
            values: values.into_iter().map(AxisValue::Number).collect(),
        }
    }

    /// An axis of names (a categorical parameter).
    pub fn names(param: Param, names: &[&str]) -> Axis {
        Axis {
            param,
            values: names
                .iter()
                .map(|n| AxisValue::Name(n.to_string()))
                .collect(),
        }
    }

    /// Where the values sit on a plot: the numbers, or 0, 1, 2, … for names.
    pub fn positions(&self) -> Vec<f64> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| v.number().unwrap_or(i as f64))
            .collect()
    }

    /// Checks the values against the parameter; errors name `field`.
    fn validate(&self, field: &'static str) -> Result<()> {
        if self.values.is_empty() {
            return Err(invalid(field, "must hold at least one value"));
        }
        self.values.iter().try_for_each(|v| self.param.check(v))?;
        let ordered = if self.param.categorical() {
            (1..self.values.len()).all(|i| !self.values[..i].contains(&self.values[i]))
        } else {
            self.positions().windows(2).all(|w| w[0] < w[1])
        };
        if ordered {
            Ok(())
        } else {
            Err(invalid(
                field,
                if self.param.categorical() {
                    "must not repeat a name"
                } else {
                    "must be strictly ascending"
                },
            ))
        }
    }
}

/// A grid: a base setup (of any model; the CNN by default) and unlearning config, one or two
/// axes, repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    bound(serialize = "C: Serialize", deserialize = "C: ModelSpec")
)]
pub struct GridConfig<C = CnnConfig> {
    /// Data, model, pre-training, precision (the seeds are replaced per repetition).
    pub setup: SetupConfig<C>,
    /// The unlearning run.
    pub unlearn: UnlearnConfig,
    /// The predicted verdicts.
    pub predict: PredictConfig,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis; `None` (omitted in a config file) for a grid over x alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<Axis>,
    /// Repetitions (seeds) per cell (≥ 1).
    pub reps: usize,
    /// Master seed.
    pub seed: u64,
}

impl<C: ModelSpec> Default for GridConfig<C> {
    /// B ∈ {1, 2, 5, 10} × α ∈ {0, 0.1, 0.2, 0.4, 0.6, 0.8, 1}, 3 repetitions, defaults
    /// elsewhere.
    fn default() -> Self {
        GridConfig {
            setup: SetupConfig::default(),
            unlearn: UnlearnConfig::default(),
            predict: PredictConfig::default(),
            x: Axis::numbers(Param::Batch, vec![1.0, 2.0, 5.0, 10.0]),
            y: Some(Axis::numbers(
                Param::Alpha,
                vec![0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0],
            )),
            reps: 3,
            seed: 0,
        }
    }
}

impl<C: ModelSpec> GridConfig<C> {
    /// A smoke-test grid of `setup` (seconds for a small model): B ∈ {1, 3} × α ∈ {0, 1}, 2
    /// repetitions, 15 unlearning steps recorded every 5, short predictions (2 runs of
    /// growth within K, 20 power iterations, γ_∞ of the first setup from 2 runs capped at
    /// 800 steps), master seed `seed`.
    pub fn smoke(setup: SetupConfig<C>, seed: u64) -> Self {
        GridConfig {
            setup,
            unlearn: UnlearnConfig {
                steps: 15,
                record_every: 5,
                ..UnlearnConfig::default()
            },
            predict: PredictConfig {
                sim_reps: 2,
                power_max_iter: 20,
                asymptotic: AsymptoticConfig {
                    reps: 2,
                    max_steps: 800,
                    ..AsymptoticConfig::default()
                },
                ..PredictConfig::default()
            },
            x: Axis::numbers(Param::Batch, vec![1.0, 3.0]),
            y: Some(Axis::numbers(Param::Alpha, vec![0.0, 1.0])),
            reps: 2,
            seed,
        }
    }
}

impl<C> GridConfig<C> {
    /// Number of columns (x values).
    pub fn nx(&self) -> usize {
        self.x.values.len()
    }

    /// Number of rows (y values; 1 without a y axis).
    pub fn ny(&self) -> usize {
        self.y.as_ref().map_or(1, |y| y.values.len())
    }

    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.nx() * self.ny()
    }

    /// The axes: x, then y if there is one.
    pub fn axes(&self) -> impl Iterator<Item = &Axis> {
        std::iter::once(&self.x).chain(&self.y)
    }

    /// Whether `param` is one of the axes.
    pub fn varies(&self, param: Param) -> bool {
        self.axes().any(|a| a.param == param)
    }
}

impl<C: ModelSpec> GridConfig<C> {
    /// The configs of repetition `rep` of cell (ix, iy): the setup (seeded) and the run.
    pub fn resolve(
        &self,
        ix: usize,
        iy: usize,
        rep: usize,
    ) -> Result<(SetupConfig<C>, UnlearnConfig)> {
        let mut setup = self.setup.seeded(self.seed, rep);
        let mut unlearn = self.unlearn.clone();
        self.x
            .param
            .apply(&self.x.values[ix], &mut setup, &mut unlearn)?;
        if let Some(y) = &self.y {
            y.param.apply(&y.values[iy], &mut setup, &mut unlearn)?;
        }
        Ok((setup, unlearn))
    }

    /// Checks the axes, the repetitions and every cell's configs.
    pub fn validate(&self) -> Result<()> {
        if let Some(y) = &self.y
            && y.param == self.x.param
        {
            return Err(invalid(
                "grid.y.param",
                format!(
                    "must differ from grid.x.param (both {})",
                    self.x.param.name()
                ),
            ));
        }
        self.x.validate("grid.x.values")?;
        if let Some(y) = &self.y {
            y.validate("grid.y.values")?;
        }
        if self.varies(Param::NForget) && self.setup.data.forget_fraction.is_some() {
            return Err(invalid(
                "setup.data.forget_fraction",
                "must be unset when an axis varies n_forget (it would override every value)",
            ));
        }
        if self.reps == 0 {
            return Err(invalid("grid.reps", "must be at least 1, got 0"));
        }
        self.unlearn.validate()?;
        self.predict.validate()?;
        self.setup.model.validate()?;
        for iy in 0..self.ny() {
            for ix in 0..self.nx() {
                let (setup, unlearn) = self.resolve(ix, iy, 0)?;
                setup.data.validate()?;
                unlearn.validate()?;
                let n_forget = setup.data.forget_count();
                validate(&unlearn.step, setup.data.n - n_forget, n_forget)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::tests::tiny;
    use frontier_model::{ForgetFrom, Loss};

    fn config() -> GridConfig {
        GridConfig::smoke(tiny(0.05), 0)
    }

    #[test]
    fn bad_grids_name_their_field() {
        let mut same = config();
        same.y = Some(Axis::numbers(Param::Batch, vec![1.0]));
        let mut unsorted = config();
        unsorted.x = Axis::numbers(Param::Batch, vec![3.0, 1.0]);
        let mut too_big = config();
        too_big.x = Axis::numbers(Param::Batch, vec![1.0, 7.0]);
        let mut repeated = config();
        repeated.x = Axis::names(Param::Loss, &["squared", "squared"]);
        let mut fraction = config();
        fraction.x = Axis::numbers(Param::NForget, vec![2.0, 4.0]);
        fraction.setup.data.forget_fraction = Some(0.1);
        for (cfg, field) in [
            (same, "grid.y.param"),
            (unsorted, "grid.x.values"),
            (too_big, "unlearn.step.batch_forget"),
            (repeated, "grid.x.values"),
            (fraction, "setup.data.forget_fraction"),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn categorical_axes_take_the_names_of_their_key() {
        let mut cfg = config();
        cfg.x = Axis::names(Param::Loss, &["logistic", "squared"]);
        cfg.y = Some(Axis::names(Param::ForgetKind, &["random", "negative"]));
        cfg.validate().unwrap();
        let (setup, _) = cfg.resolve(1, 1, 0).unwrap();
        assert_eq!(setup.pretrain.loss, Loss::Squared);
        assert_eq!(setup.data.forget_from, ForgetFrom::Negative);
        assert_eq!(cfg.x.positions(), vec![0.0, 1.0]);
        cfg.x = Axis::names(Param::Loss, &["hinge"]);
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("`hinge`") && err.contains("loss"), "{err}");
        cfg.x = Axis::numbers(Param::Loss, vec![1.0]);
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("takes names"), "{err}");
        cfg.x = Axis::names(Param::Alpha, &["high"]);
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("takes numbers"), "{err}");
    }

    #[test]
    fn every_numeric_parameter_reaches_its_config_key() {
        let cfg = config();
        for (param, value) in [
            (Param::BatchForget, 2.0),
            (Param::Steps, 7.0),
            (Param::NForget, 5.0),
            (Param::LabelFlip, 0.25),
            (Param::Eta, 0.125),
        ] {
            let mut one = cfg.clone();
            one.x = Axis::numbers(param, vec![value]);
            one.y = None;
            one.validate().unwrap();
            assert_eq!(one.cells(), 1);
            let (setup, unlearn) = one.resolve(0, 0, 0).unwrap();
            let got = match param {
                Param::BatchForget => unlearn.step.batch_forget.unwrap() as f64,
                Param::Steps => unlearn.steps as f64,
                Param::NForget => setup.data.n_forget as f64,
                Param::LabelFlip => setup.data.label_flip,
                _ => unlearn.step.eta,
            };
            assert_eq!(got, value, "{param:?}");
        }
        assert_eq!(Param::ALL.len(), 11);
        for param in Param::ALL {
            let parsed: Param =
                serde_json::from_value(serde_json::Value::String(param.name().into())).unwrap();
            assert_eq!(parsed, param, "the config name of {param:?} is its name()");
        }
    }
}
