//! `frontier-common`: the small pieces every `frontier` crate shares, with no dependency on
//! the others: atomic file writes safe on shared folders ([`write_atomic`], [`write_new`],
//! [`clean_orphans`]), the one CSV writer ([`Table`]), a deterministic parallel map
//! ([`par_map`]), mean ± sd ([`Stat`]) and the progress callback long computations report
//! through ([`Progress`]).

mod atomic;
mod parallel;
mod progress;
mod record;
mod stat;
mod table;

pub use atomic::{ORPHAN_AGE, clean_orphans, write_atomic, write_new};
pub use parallel::{par_map, resolve_threads};
pub use progress::{Progress, Silent};
pub use record::record_of;
pub use stat::Stat;
pub use table::{Field, Record, Table, TableError};
