//! The integration tests, one module per file, in one test binary: each test
//! binary links the crate and dfdx on its own, so one binary instead of one
//! per file halves `cargo test`'s build time after a change to the library and
//! saves most of the disk its binaries take (docs/benchmarks.md). Select a
//! file's tests with its module path: `cargo test --test it recorded::`.
//!
//! The tests share one process and run on parallel threads, so none may change
//! process-wide state: no `std::env::set_var` or `set_current_dir`. Environment
//! for a `cb` run goes on its `Command` (`.env(..)`); a check of how the crate
//! reads an environment variable runs in a child process
//! (`data_idx::data_dir_resolution`). Files a test holds open are also shared,
//! until they exec, with the `cb` processes other tests spawn (why `OutLock`
//! unlocks explicitly when dropped).
//!
//! `tests/cuda_parity.rs` stays a binary of its own: `scripts/build-gpu.sh`
//! builds it with CUDA and ships it alone to a GPU machine that has neither
//! Rust nor this repository (nor the MNIST files and fixtures these tests read).

mod common;
mod support {
    pub mod formats;
    pub mod mutation;
}

mod autotune;
mod bundle_metric;
mod bundle_precision;
mod checkpoint_compat;
mod cli_bundles;
mod cli_output;
mod cli_report;
mod cli_train;
mod conv_layers;
mod conv_sweep;
mod convnet;
mod crash_resume;
mod criteria;
mod data_augment;
mod data_batch;
mod data_fetch;
mod data_fetch_remote;
mod data_formats;
mod data_idx;
mod exercises;
mod fc_sweep;
mod fuzz_checkpoint;
mod fuzz_data;
mod fuzz_layer_file;
mod fuzz_npy;
mod layer_file;
mod layering;
mod lbe;
mod lbe_study;
mod lesion;
mod plots;
mod precision_sweep;
mod ranger;
mod recorded;
mod reuse;
mod shards;
mod sweep_runner;
mod toy;
mod train_conv_mnist;
mod train_mnist;
mod trainer;
mod widths;
