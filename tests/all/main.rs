//! End-to-end tests of the `frontier` command line, one test binary with modules.

mod bench;
mod cli;
mod coherence;
mod data;
mod heatmap;
mod mlp;
mod stability;
mod tensors;
mod train;
mod unlearn;
