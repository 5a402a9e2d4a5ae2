//! Training: the Ranger optimizer, checkpoints, progress, the trainer.
pub mod checkpoint;
pub mod lbe;
pub mod progress;
pub mod ranger;
pub mod trainer;

pub use lbe::LbeConfig;
pub use progress::ProgressMode;
pub use ranger::{Ranger, RangerConfig};
pub use trainer::{
    bundle_subset, evaluate, measure_hidden, measure_hidden_in, BundlePoint, EpochStats,
    TrainConfig, TrainReport, Trainer,
};
