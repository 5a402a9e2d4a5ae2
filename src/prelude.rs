//! What a notebook cell or a short program needs, in one `use`:
//!
//! ```no_run
//! use conflicting_bundles::prelude::*;
//! # fn main() -> anyhow::Result<()> {
//! let dev = cpu(); // CUDA: `let dev = cuda(0)?;` in a `--features cuda` build
//! let data_dir = resolve_data_dir(None);
//! let (train_set, test_set) = train_test(&data_dir, DatasetKind::Mnist, &Prepare::default(), Some(6000), None)?;
//! let mut net = MnistFnn::new(&dev, 37, 20, 0)?;
//! let report = Trainer::default().fit(&dev, &mut net, &train_set, Some(&test_set))?;
//! plots::layer_profile(&report); // `.evcxr_display()` in a notebook
//! # Ok(()) }
//! ```
pub use anyhow::Context;

pub use crate::bundle::{
    measure_layer, measure_tensors, BundleConfig, Criterion, LayerReport, Precision,
};
pub use crate::criteria;
pub use crate::data::{
    fetch, load_prepared, resolve_data_dir, train_test, Dataset, DatasetKind, Prepare, Split,
};
#[cfg(feature = "cuda")]
pub use crate::device::cuda;
pub use crate::device::{cpu, DeviceChoice};
pub use crate::experiments::autotune::{self, prune, run_autotune, AutotuneConfig, AutotuneReport};
pub use crate::experiments::conv_nets::{conv_net, load_images, measure_untrained, train_conv};
pub use crate::experiments::conv_sweep::{run_conv_sweep, ConvSweepConfig, ConvSweepReport};
pub use crate::experiments::criteria::{
    self as criteria_comparison, run_criteria, CriteriaConfig, CriteriaNet, CriteriaReport,
    NetRecipe, Rule,
};
pub use crate::experiments::exercises;
pub use crate::experiments::fc_sweep::{
    self, run_fc_sweep, train_net, FcSweepConfig, FcSweepReport,
};
pub use crate::experiments::lbe::{run_lbe, LbeStudyConfig, LbeStudyReport, PlainNet};
pub use crate::experiments::lesion::{
    run_lesion, ConflictRow, DrawKind, LesionConfig, LesionReport,
};
pub use crate::experiments::precision::{
    run_precision_sweep, PrecisionConfig, PrecisionNet, PrecisionReport,
};
pub use crate::experiments::recorded::{recorded, Recorded};
pub use crate::experiments::reuse::recorded_or_run;
pub use crate::experiments::runner::{self, RunOptions};
pub use crate::experiments::settings::RunSettings;
pub use crate::experiments::toy::{run_toy, toy_data, ToyConfig, ToyReport};
pub use crate::experiments::{quick_mode, Preset, Presets};
pub use crate::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
pub use crate::models::toy::{toy_net, ToyInit};
pub use crate::models::{Classifier, Fnn, MnistFnn};
pub use crate::plots;
pub use crate::table::Table;
pub use crate::train::{
    BundlePoint, LbeConfig, ProgressMode, RangerConfig, TrainConfig, TrainReport, Trainer,
};
