//! Layers with run-time sizes, the parameter walk every model implements, and
//! seeded initialisation. Besides a dense layer: what dfdx 0.13 only offers on
//! nightly Rust, written for stable: 2-D convolution and max pooling (over one
//! im2col primitive), batch normalization for NHWC maps, global average pooling.

pub mod batchnorm;
pub mod conv;
mod conv_products;
mod cpu;
#[cfg(feature = "cudnn")]
mod cudnn;
pub mod dense;
pub mod device;
pub mod im2col;
mod implicit_conv;
pub mod init;
mod matmul;
pub mod params;
pub mod pool;

pub use batchnorm::{BatchNorm, Mode};
pub use conv::Conv2d;
#[cfg(feature = "cudnn")]
pub use cudnn::{cudnn_conv_algorithms, CudnnAlgorithms, CudnnPlanError};
pub use dense::Dense;
#[cfg(feature = "cuda")]
pub use device::CUDA_CONV;
pub use device::{batch_norm_by_ops, conv2d_by_ops, Channels, ConvDevice, Stats};
pub use im2col::{im2col_by_gather, Maps, Patches, Window};
pub use pool::{global_avg_pool, MaxPool2d};
