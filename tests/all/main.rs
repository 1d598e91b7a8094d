//! End-to-end tests of the `frontier` command line, one test binary with modules.

mod bench;
mod cli;
mod coherence;
mod configs;
mod contracts;
mod data;
mod heatmap;
mod inspect;
mod mlp;
mod outputs;
mod shard;
mod stability;
mod sweep;
mod tensors;
mod train;
mod unlearn;
