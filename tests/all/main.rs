//! End-to-end tests of the `frontier` command line, one test binary with modules.

mod cli;
mod coherence;
mod stability;
mod train;
