//! Reference toolkit for the *conflicting bundles* theory of trainability
//! (Peer, Stabinger, Rodríguez-Sánchez): the bundle metric, models that expose
//! every hidden activation, a Ranger trainer, data loaders and experiments.
pub mod bundle;
pub mod data;
pub mod device;
pub mod experiments;
pub mod layers;
pub mod models;
pub mod npy;
pub mod plots;
pub mod train;
