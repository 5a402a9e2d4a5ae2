//! Training: parameter walks, the Ranger optimizer, the trainer.
pub mod params;
pub mod ranger;
