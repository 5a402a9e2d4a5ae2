//! Choosing the compute device at run time (`--device cpu|cuda[:N]`), and
//! what training and the metric need from a device ([`TrainDevice`]).
//!
//! Every model, the optimizer, the trainer and the metric are generic over
//! the dfdx device; [`with_device!`](crate::with_device) turns a runtime
//! choice into the concrete type once, at the top of a command.

use std::str::FromStr;

use dfdx::shapes::Shape;
use dfdx::tensor::{Cpu, Gradients, Tensor};
use dfdx::tensor_ops::Device;

/// What training and the bundle metric need from a dfdx device beyond
/// `Device<f32>`: each item is a place where the CPU and CUDA take different
/// paths. Implemented for [`Cpu`] and, with the `cuda` feature, `Cuda`; the
/// conv layers' [`ConvDevice`](crate::layers::ConvDevice) builds on it.
pub trait TrainDevice: Device<f32> {
    /// Whether the f32 resolution-mode metric runs on the host, over the
    /// activations' buffers in place (the CPU), rather than as tensor ops on
    /// the device ([`measure_tensors`](crate::bundle::measure_tensors)).
    const METRIC_ON_HOST: bool;

    /// How many training units (independent nets, one
    /// [`Trainer::fit`](crate::train::Trainer::fit) each) to run at once to
    /// keep this device busy.
    ///
    /// On the CPU: rayon's thread count (`rayon::current_num_threads()`, set
    /// by `RAYON_NUM_THREADS`). A small net keeps about one core busy (its
    /// parallel loops are too short to split), and units started on the pool
    /// share its threads, so one unit per thread fills the machine; each
    /// unit's numbers do not depend on how many run beside it. On CUDA: 1
    /// (one stream per device, and every unit's work is already on the GPU).
    fn concurrent_units(&self) -> usize;

    /// Runs `f` where this device's work is best issued from, the caller
    /// waiting, and returns its result.
    ///
    /// On the CPU that is one of rayon's worker threads: a parallel loop
    /// (ours, or dfdx's matmul) started from outside the pool hands its work
    /// to the pool and sleeps until it is done, two context switches per
    /// loop, which a training step with hundreds of small loops pays
    /// hundreds of times; started from inside, the loops split among the
    /// workers directly, and with one thread they run inline. On CUDA `f`
    /// runs on the calling thread (dfdx's CUDA device, its streams and
    /// tensors are neither `Send` nor `Sync`).
    ///
    /// # Safety
    ///
    /// `f` need not be `Send`: a job that is generic over the device (a
    /// trainer holding a model of device tensors) cannot prove it is, since
    /// CUDA's tensors are not. Where this device runs `f` on another thread
    /// (the CPU), everything `f` captures must be usable from there while the
    /// calling thread waits: no thread-bound values (locks held, thread-local
    /// handles). The crate's CPU models, data and optimizer qualify: CPU
    /// tensors are `Send` and `Sync`.
    unsafe fn on_pool<R: Send>(&self, f: impl FnOnce() -> R) -> R;

    /// An elementwise update of the parameter `p` and its `state` (flat
    /// tensors of `p`'s element count, in its memory order, such as an
    /// optimizer's moments), in place, with `p`'s gradient in `grads`
    /// (which must hold one).
    ///
    /// On the CPU `host(p, g, state)` runs over the buffers themselves
    /// (parameter and state written, the gradient read, in place; `p` keeps
    /// its id); a parameter of `2 * HOST_RUN` values or more is cut in
    /// halves that run on rayon's threads, so `host` must treat each value
    /// on its own. On CUDA `by_ops(p, g, state)` runs, the update as dfdx
    /// ops.
    fn update_param<S: Shape>(
        p: &mut Tensor<S, f32, Self>,
        grads: &Gradients<f32, Self>,
        state: &mut [Tensor<(usize,), f32, Self>],
        host: impl Fn(&mut [f32], &[f32], &mut [&mut [f32]]) + Sync,
        by_ops: impl FnOnce(
            &mut Tensor<S, f32, Self>,
            Tensor<S, f32, Self>,
            &mut [Tensor<(usize,), f32, Self>],
        ) -> Result<(), Self::Err>,
    ) -> Result<(), Self::Err>;

    /// This device's value in `all`.
    fn pick<F: DeviceFamily>(all: &PerDevice<F>) -> &F::On<Self>;

    /// This device's value in `all`, mutably.
    fn pick_mut<F: DeviceFamily>(all: &mut PerDevice<F>) -> &mut F::On<Self>;
}

/// Values per run of [`TrainDevice::update_param`] on the CPU: smaller
/// parameters are updated on the calling thread, where a split would cost
/// more in hand-offs than it saves (a pass takes about a nanosecond a value).
pub const HOST_RUN: usize = 1 << 15;

/// A type for each device: `On<D>` is what a [`PerDevice`] holds for `D`.
pub trait DeviceFamily {
    type On<D: TrainDevice>: Default;
}

/// One value per device type ([`DeviceFamily::On`]), for holders that are
/// not generic over the device but keep device tensors (a Ranger's moments,
/// a thread's cache of im2col indices): [`TrainDevice::pick_mut`] takes the
/// value of a device type, which is the typed form of a map keyed by type.
pub struct PerDevice<F: DeviceFamily> {
    cpu: F::On<Cpu>,
    #[cfg(feature = "cuda")]
    cuda: F::On<dfdx::tensor::Cuda>,
}

impl<F: DeviceFamily> Default for PerDevice<F> {
    fn default() -> Self {
        Self {
            cpu: Default::default(),
            #[cfg(feature = "cuda")]
            cuda: Default::default(),
        }
    }
}

/// Receives each device's value of a [`PerDevice`] ([`PerDevice::visit`]).
pub trait DeviceVisitor<F: DeviceFamily> {
    fn visit<D: TrainDevice>(&mut self, value: &F::On<D>);
}

impl<F: DeviceFamily> PerDevice<F> {
    /// Shows `v` every device's value.
    pub fn visit(&self, v: &mut impl DeviceVisitor<F>) {
        v.visit::<Cpu>(&self.cpu);
        #[cfg(feature = "cuda")]
        v.visit::<dfdx::tensor::Cuda>(&self.cuda);
    }
}

impl TrainDevice for Cpu {
    const METRIC_ON_HOST: bool = true;

    fn concurrent_units(&self) -> usize {
        rayon::current_num_threads()
    }

    unsafe fn on_pool<R: Send>(&self, f: impl FnOnce() -> R) -> R {
        struct AssertSend<F>(F);
        // SAFETY: the caller's promise (see the trait); the job runs on one
        // worker while the calling thread blocks in `rayon::scope`, so no
        // value it touches is used by two threads at once.
        unsafe impl<F> Send for AssertSend<F> {}
        impl<F> AssertSend<F> {
            // A method, so the closure below captures the whole (Send) wrapper.
            fn into_inner(self) -> F {
                self.0
            }
        }
        let job = AssertSend(f);
        rayon::scope(move |_| job.into_inner()())
    }

    fn update_param<S: Shape>(
        p: &mut Tensor<S, f32, Self>,
        grads: &Gradients<f32, Self>,
        state: &mut [Tensor<(usize,), f32, Self>],
        host: impl Fn(&mut [f32], &[f32], &mut [&mut [f32]]) + Sync,
        _by_ops: impl FnOnce(
            &mut Tensor<S, f32, Self>,
            Tensor<S, f32, Self>,
            &mut [Tensor<(usize,), f32, Self>],
        ) -> Result<(), Self::Err>,
    ) -> Result<(), Self::Err> {
        let g = grads
            .get_ref_checked(p)
            .expect("update_param needs the parameter's gradient");
        let p = p.storage_mut();
        let mut state: Vec<&mut [f32]> =
            state.iter_mut().map(|t| &mut t.storage_mut()[..]).collect();
        assert!(
            g.len() == p.len() && state.iter().all(|s| s.len() == p.len()),
            "a parameter, its gradient and its state have equal lengths"
        );
        host_runs(&host, p, g, &mut state);
        Ok(())
    }

    fn pick<F: DeviceFamily>(all: &PerDevice<F>) -> &F::On<Self> {
        &all.cpu
    }

    fn pick_mut<F: DeviceFamily>(all: &mut PerDevice<F>) -> &mut F::On<Self> {
        &mut all.cpu
    }
}

/// [`TrainDevice::update_param`]'s host pass over `p` and the buffers that
/// go with it, halves in parallel down to [`HOST_RUN`] values.
fn host_runs(
    host: &(impl Fn(&mut [f32], &[f32], &mut [&mut [f32]]) + Sync),
    p: &mut [f32],
    g: &[f32],
    state: &mut [&mut [f32]],
) {
    if p.len() < 2 * HOST_RUN || rayon::current_num_threads() == 1 {
        return host(p, g, state);
    }
    let mid = p.len() / 2;
    let (p0, p1) = p.split_at_mut(mid);
    let (g0, g1) = g.split_at(mid);
    let (mut s0, mut s1): (Vec<_>, Vec<_>) = state.iter_mut().map(|s| s.split_at_mut(mid)).unzip();
    rayon::join(
        || host_runs(host, p0, g0, &mut s0),
        || host_runs(host, p1, g1, &mut s1),
    );
}

/// Runs `f` compiled for AVX2 where the CPU has it (checked at run time), so
/// loops in it are vectorized 8 lanes wide instead of the baseline x86-64's
/// 4. Only the instruction set changes: Rust does not contract `a * b + c`
/// into an FMA or reorder float ops, so the results are the same bits
/// either way.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(feature = "cuda")]
impl TrainDevice for dfdx::tensor::Cuda {
    const METRIC_ON_HOST: bool = false;

    fn concurrent_units(&self) -> usize {
        1
    }

    unsafe fn on_pool<R: Send>(&self, f: impl FnOnce() -> R) -> R {
        f()
    }

    fn update_param<S: Shape>(
        p: &mut Tensor<S, f32, Self>,
        grads: &Gradients<f32, Self>,
        state: &mut [Tensor<(usize,), f32, Self>],
        _host: impl Fn(&mut [f32], &[f32], &mut [&mut [f32]]) + Sync,
        by_ops: impl FnOnce(
            &mut Tensor<S, f32, Self>,
            Tensor<S, f32, Self>,
            &mut [Tensor<(usize,), f32, Self>],
        ) -> Result<(), Self::Err>,
    ) -> Result<(), Self::Err> {
        let g = grads.get(p);
        by_ops(p, g, state)
    }

    fn pick<F: DeviceFamily>(all: &PerDevice<F>) -> &F::On<Self> {
        &all.cuda
    }

    fn pick_mut<F: DeviceFamily>(all: &mut PerDevice<F>) -> &mut F::On<Self> {
        &mut all.cuda
    }
}

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
