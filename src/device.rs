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
///
/// It also asks glibc's malloc to keep freed memory (see [`keep_freed_pages`]).
pub fn cpu() -> dfdx::tensor::Cpu {
    use dfdx::tensor::Cache;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(keep_freed_pages);
    let dev = dfdx::tensor::Cpu::default();
    dev.enable_cache();
    dev
}

/// Buffers that dfdx's cache does not hold (host copies, patch matrices of a
/// size seen once per step, `Vec`s of the fused CPU ops) go back to malloc.
/// By default glibc serves blocks from 128 KiB up (its threshold grows with
/// use, to at most 32 MiB) with fresh `mmap`s and returns freed heap tops to
/// the kernel, so each step takes page faults and zeroes pages again: about
/// 7% of a VGG-20 step (perf, docs/benchmarks.md). Here blocks up to 32 MiB
/// (glibc's maximum) come from the heap, and up to 512 MiB of freed heap is
/// kept for reuse. A process-wide setting, made once; other platforms and
/// allocators are left as they are.
fn keep_freed_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only changes malloc's tuning parameters; both
        // values are inside the ranges glibc documents.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 512 << 20);
        }
    }
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
