//! Training: parameter walks, the Ranger optimizer, checkpoints, the trainer.
pub mod checkpoint;
pub mod params;
pub mod progress;
pub mod ranger;
pub mod samples;
pub mod trainer;

pub use progress::ProgressMode;
pub use ranger::{Ranger, RangerConfig};
pub use samples::Samples;
pub use trainer::{
    evaluate, measure_hidden, train, BundlePoint, EpochStats, RunOptions, TrainConfig, TrainReport,
};
