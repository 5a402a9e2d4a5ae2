//! Reference toolkit for the *conflicting bundles* theory of trainability
//! (Peer, Stabinger, Rodríguez-Sánchez): the bundle metric, models that expose
//! every hidden activation, a Ranger trainer, data loaders and experiments.
//!
//! Modules point one way (each uses only those listed before it):
//!
//! | module | uses |
//! |---|---|
//! | [`util`], [`table`], [`npy`], [`device`], [`lock`] | nothing of the crate |
//! | [`bundle`] (the metric) | `device` |
//! | [`criteria`] (batch entropy, block influence, angular distance) | nothing of the crate |
//! | [`layer_file`] (many layers' arrays in one .npz, .safetensors or folder) | `npy` |
//! | [`report`] (`cb report`: the metric on every layer of any model) | `bundle`, `criteria`, `layer_file`, `npy`, `table` |
//! | [`data`] | `util` |
//! | [`layers`] (parameter walk, init, dense/conv/pool/norm) | `util`, `device` |
//! | [`models`] | `layers`, `util` |
//! | [`train`] | `models`, `layers`, `bundle`, `criteria`, `data`, `device`, `table` |
//! | [`experiments`] | `train` and everything below it (`criteria` included) |
//! | [`plots`] | the result types of `train`, `experiments` and `report`; `table`'s HTML escaping |
//! | [`figures`] (each report's named charts) | `plots`, the result types |
//!
//! [`prelude`] (one `use` for notebooks) and the `cb` binary sit on top of all of them; `tests/it/layering.rs` checks
//! the table against the `use crate::` lines of every module.
pub mod bundle;
pub mod criteria;
pub mod data;
pub mod device;
pub mod experiments;
pub mod figures;
pub mod layer_file;
pub mod layers;
pub mod lock;
pub mod models;
pub mod npy;
pub mod plots;
pub mod prelude;
pub mod report;
pub mod table;
pub mod train;
pub mod util;
