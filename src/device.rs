//! Choosing the compute device at run time (`--device cpu|cuda[:N]`).
//!
//! Every model, the optimizer, the trainer and the metric are generic over
//! the dfdx device; [`with_device!`](crate::with_device) turns a runtime
//! choice into the concrete type once, at the top of a command.

use std::str::FromStr;

/// `cpu`, `cuda` (device 0) or `cuda:N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("unknown device `{s}` (expected cpu, cuda or cuda:N)")),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// The CUDA device `ordinal`, or a one-line error when it cannot be opened
/// or this build has no CUDA support.
#[cfg(feature = "cuda")]
pub fn cuda(ordinal: usize) -> anyhow::Result<dfdx::tensor::Cuda> {
    use dfdx::tensor::Cache;
    let dev = dfdx::tensor::Cuda::try_build(ordinal, 0)
        .map_err(|e| anyhow::anyhow!("cannot open CUDA device {ordinal}: {e:?}"))?;
    dev.enable_cache();
    Ok(dev)
}

/// The CPU device with dfdx's buffer cache on: training allocates the same
/// shapes every step, and reusing buffers avoids fresh pages from the OS
/// (about a quarter of an FNN step, measured in benches/train_step.rs).
pub fn cpu() -> dfdx::tensor::Cpu {
    use dfdx::tensor::Cache;
    let dev = dfdx::tensor::Cpu::default();
    dev.enable_cache();
    dev
}

/// The error for `--device cuda` in a build without the `cuda` feature.
pub fn no_cuda() -> anyhow::Error {
    anyhow::anyhow!("this build has no CUDA support: rebuild with `cargo build --release --features cuda` (see environment.md)")
}

/// Runs `$body` with `$dev` bound to the chosen device (a `&Cpu` or a
/// `&Cuda`); evaluates to `anyhow::Result<_>`.
#[macro_export]
macro_rules! with_device {
    ($choice:expr, $dev:ident => $body:expr) => {
        match $choice {
            $crate::device::DeviceChoice::Cpu => {
                let $dev = &$crate::device::cpu();
                $body
            }
            #[cfg(feature = "cuda")]
            $crate::device::DeviceChoice::Cuda(n) => {
                let owned = $crate::device::cuda(n)?;
                let $dev = &owned;
                $body
            }
            #[cfg(not(feature = "cuda"))]
            $crate::device::DeviceChoice::Cuda(_) => Err($crate::device::no_cuda()),
        }
    };
}

/// `data` as a tensor of `shape` on `dev`, in a buffer from dfdx's cache.
///
/// `tensor_from_vec` wraps a fresh host allocation, which the cache keeps
/// when the tensor drops but never hands out again unless something asks for
/// exactly that length: inference passes that upload a batch each time would
/// grow the cache without bound. A buffer allocated through the cache goes
/// back to it, so repeated uploads reuse the same memory.
pub fn upload<S: dfdx::shapes::Shape, D: dfdx::tensor_ops::Device<f32>>(
    dev: &D,
    data: &[f32],
    shape: S,
) -> dfdx::tensor::Tensor<S, f32, D> {
    let mut t = dev.zeros_like(&shape);
    t.copy_from(data);
    t
}
