//! End-to-end tests of the `frontier` command line, one test binary with modules.

mod bench;
mod cli;
mod coherence;
mod configs;
mod contracts;
mod heatmap;
mod inspect;
mod mlp;
mod stability;
mod sweep;
mod train;
mod unlearn;
