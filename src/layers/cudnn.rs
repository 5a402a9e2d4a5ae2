//! [`ConvDevice::conv2d`](super::ConvDevice::conv2d) on CUDA through cuDNN
//! (feature `cudnn`): one cuDNN call per direction, where the default path
//! gathers the patch matrix (dfdx's gather, atomic-add backward), multiplies
//! it with cuBLAS and scatters the patch gradient back.
//!
//! # Layouts
//!
//! Maps are NHWC and described to cuDNN as such (`CUDNN_TENSOR_NHWC`; cuDNN
//! takes the sizes in N, C, H, W order whatever the layout). With NHWC maps
//! cuDNN wants a KRSC filter, `(c_out, ky, kx, c_in)`: the transpose of the
//! project's `(ky·kx·c_in, c_out)` weight. The transpose is a dfdx `permute`
//! made `contiguous` (one copy kernel) on the taped weight, so dfdx carries
//! the filter gradient cuDNN writes back to the weight's own layout. An input
//! that is a view (the nets read channels-first rows through a permute into
//! the stem) is laid out NHWC the same way, its gradient going back to the
//! view's layout; a contiguous input is passed as it is, without a copy.
//!
//! # Precision
//!
//! f32 data, f32 accumulation, and the math type set to `CUDNN_FMA_MATH`: no
//! TF32 tensor-core kernels, which cuDNN's default math type allows from
//! Ampere on (they round the inputs to 10 mantissa bits). The algorithms are
//! cuDNN's heuristic pick per geometry, so sums run in another order than on
//! the im2col path (and may change with the cuDNN version or the GPU):
//! results agree with it to f32 rounding, not bit for bit, and the backward
//! algorithms that accumulate with atomics are not bitwise reproducible from
//! run to run. `tests/cuda_parity.rs` compares the two paths.
//!
//! # Gradients
//!
//! dfdx accumulates gradients: a tensor read by several ops (a ResNet block's
//! input feeds its conv and its shortcut) gets every contribution added into
//! one buffer, which `get_or_alloc_mut` hands out zeroed to the first. Both
//! backward calls therefore add (`beta = 1`) instead of overwriting.
//!
//! # Plans
//!
//! Descriptors and algorithms are chosen once per geometry, device and thread
//! and then reused: cuDNN's heuristic query costs far more than a launch, and
//! a training step repeats the same few geometries. A geometry cuDNN refuses
//! at that point (or one beyond its 32-bit sizes) runs on
//! [`conv2d_by_ops`](super::device::conv2d_by_ops) instead, with a note on
//! stderr once; [`cudnn_conv_algorithms`] says which applies.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use cudarc::cudnn::{
    sys, Conv2dBackwardData, Conv2dBackwardFilter, Conv2dDescriptor, Conv2dForward, Cudnn,
    CudnnError, FilterDescriptor, TensorDescriptor,
};
use cudarc::driver::sys::CUdeviceptr;
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, DeviceSlice};
use dfdx::prelude::*;

use super::device::conv2d_by_ops;
use super::im2col::{Geometry, Maps, Window};

/// Why a conv geometry runs on the im2col path instead of cuDNN.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CudnnPlanError {
    /// cuDNN's convolution API takes sizes and element counts as 32-bit ints.
    #[error("the {what} ({value}) exceeds cuDNN's 32-bit sizes")]
    TooLarge { what: &'static str, value: usize },
    /// cuDNN rejected a descriptor or found no algorithm. `status` is the raw
    /// `cudnnStatus_t` of the cuDNN library loaded: cudarc 0.9 names cuDNN
    /// 8's numbers, which cuDNN 9 changed.
    #[error("cuDNN {step} failed with status {status} (cudnnStatus_t, see cudnn_graph.h)")]
    Cudnn { step: &'static str, status: u32 },
}

/// The algorithms cuDNN runs one conv geometry with, and the largest
/// workspace (bytes) among them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CudnnAlgorithms {
    pub forward: sys::cudnnConvolutionFwdAlgo_t,
    pub backward_data: sys::cudnnConvolutionBwdDataAlgo_t,
    pub backward_filter: sys::cudnnConvolutionBwdFilterAlgo_t,
    pub workspace_bytes: usize,
}

/// The cuDNN algorithms [`Cuda`]'s `conv2d` runs `(batch, rows, cols,
/// channels)` maps through `window` to `c_out` channels with, or why that
/// geometry takes the im2col path. Plans it if it was not planned yet.
pub fn cudnn_conv_algorithms(
    dev: &Cuda,
    x: (usize, usize, usize, usize),
    c_out: usize,
    window: Window,
) -> Result<CudnnAlgorithms, CudnnPlanError> {
    let p = plan(dev, &Geometry::new(x, window), c_out)?;
    Ok(CudnnAlgorithms {
        forward: p.forward.0,
        backward_data: p.backward_data.0,
        backward_filter: p.backward_filter.0,
        workspace_bytes: p.forward.1.max(p.backward_data.1).max(p.backward_filter.1),
    })
}

/// `x` convolved with `weight` (rows `(ky, kx, c_in)`) by cuDNN, on `x`'s tape.
pub(super) fn conv2d<T: Tape<f32, Cuda>>(
    x: Maps<Cuda, T>,
    weight: &Tensor<(usize, usize), f32, Cuda>,
    window: Window,
) -> Maps<Cuda, T> {
    let (g, c_out) = Geometry::of_conv(*x.shape(), window, *weight.shape());
    let dev = x.device().clone();
    let Ok(plan) = plan(&dev, &g, c_out) else {
        return conv2d_by_ops(x, weight, window);
    };
    let (x, x_tape) = x.contiguous().split_tape();
    let (w, w_tape) = weight
        .retaped::<T>()
        .permute::<_, Axes2<1, 0>>()
        .contiguous()
        .split_tape();
    let mut tape = x_tape.merge(w_tape);
    let mut y = Storage::<f32>::try_alloc_len(&dev, g.num_rows() * c_out)
        .unwrap_or_else(|e| panic!("conv output: {e}"));
    plan.forward(&dev, x.storage(), w.storage(), &mut y)
        .unwrap_or_else(|e| panic!("conv workspace: {e}"));
    let out = Tensor::from_storage(&dev, (g.batch, g.out_rows, g.out_cols, c_out), y);
    if T::OWNS_TAPE {
        let (x_ghost, w_ghost, out_ghost) = (x.ghost(), w.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_ghost)?;
            grads.try_alloc_for(&w_ghost)?;
            let gy = DeviceView::of(grads.get_or_alloc_mut(&out_ghost)?);
            plan.backward_data(&dev, grads.get_or_alloc_mut(&x_ghost)?, w.storage(), &gy)?;
            plan.backward_filter(&dev, x.storage(), grads.get_or_alloc_mut(&w_ghost)?, &gy)
        });
    }
    out.put_tape(tape)
}

/// The descriptors of one conv geometry and, per direction, the algorithm
/// and its workspace size in bytes.
struct Plan {
    /// Elements of the input, the filter and the output.
    lens: [usize; 3],
    x: TensorDescriptor<f32>,
    w: FilterDescriptor<f32>,
    y: TensorDescriptor<f32>,
    conv: Conv2dDescriptor<f32>,
    forward: (sys::cudnnConvolutionFwdAlgo_t, usize),
    backward_data: (sys::cudnnConvolutionBwdDataAlgo_t, usize),
    backward_filter: (sys::cudnnConvolutionBwdFilterAlgo_t, usize),
}

impl Plan {
    fn new(cudnn: &Arc<Cudnn>, g: &Geometry, c_out: usize) -> Result<Self, CudnnPlanError> {
        c_ints([
            ("input size", g.batch * g.rows * g.cols * g.channels),
            ("output size", g.num_rows() * c_out),
            ("filter size", g.row_len() * c_out),
        ])?;
        let [n, c, h, w, k, o, oh, ow, stride, pad] = c_ints([
            ("batch", g.batch),
            ("input channels", g.channels),
            ("input rows", g.rows),
            ("input columns", g.cols),
            ("kernel", g.window.kernel),
            ("output channels", c_out),
            ("output rows", g.out_rows),
            ("output columns", g.out_cols),
            ("stride", g.window.stride),
            ("padding", g.window.padding),
        ])?;
        let nhwc = sys::cudnnTensorFormat_t::CUDNN_TENSOR_NHWC;
        let x = cudnn
            .create_4d_tensor::<f32>(nhwc, [n, c, h, w])
            .map_err(failed("input descriptor"))?;
        let y = cudnn
            .create_4d_tensor::<f32>(nhwc, [n, o, oh, ow])
            .map_err(failed("output descriptor"))?;
        let filter = cudnn
            .create_4d_filter::<f32>(nhwc, [o, c, k, k])
            .map_err(failed("filter descriptor"))?;
        let mut conv = cudnn
            .create_conv2d::<f32>(
                [pad, pad],
                [stride, stride],
                [1, 1],
                sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
            )
            .map_err(failed("convolution descriptor"))?;
        // FMA kernels only: no TF32 (see the module docs). The algorithm
        // queries below honour the math type set here.
        conv.set_math_type(sys::cudnnMathType_t::CUDNN_FMA_MATH)
            .map_err(failed("math type"))?;

        let fwd = Conv2dForward {
            conv: &conv,
            x: &x,
            w: &filter,
            y: &y,
        };
        let a = fwd.pick_algorithm().map_err(failed("forward algorithm"))?;
        let forward = (
            a,
            fwd.get_workspace_size(a)
                .map_err(failed("forward workspace"))?,
        );
        let bwd = Conv2dBackwardData {
            conv: &conv,
            dx: &x,
            w: &filter,
            dy: &y,
        };
        let a = bwd
            .pick_algorithm()
            .map_err(failed("backward-data algorithm"))?;
        let backward_data = (
            a,
            bwd.get_workspace_size(a)
                .map_err(failed("backward-data workspace"))?,
        );
        let bwf = Conv2dBackwardFilter {
            conv: &conv,
            x: &x,
            dw: &filter,
            dy: &y,
        };
        let a = bwf
            .pick_algorithm()
            .map_err(failed("backward-filter algorithm"))?;
        let backward_filter = (
            a,
            bwf.get_workspace_size(a)
                .map_err(failed("backward-filter workspace"))?,
        );
        Ok(Self {
            lens: [
                g.batch * g.rows * g.cols * g.channels,
                g.row_len() * c_out,
                g.num_rows() * c_out,
            ],
            x,
            w: filter,
            y,
            conv,
            forward,
            backward_data,
            backward_filter,
        })
    }

    /// Buffers of the input, filter and output sizes (or their gradients'):
    /// cuDNN reads and writes as far as the descriptors say, unchecked.
    fn check_lens(&self, lens: [usize; 3]) {
        assert_eq!(
            lens, self.lens,
            "cuDNN conv buffers (input, filter, output)"
        );
    }

    /// `y = conv(x, w)` (overwritten: beta = 0).
    fn forward(
        &self,
        dev: &Cuda,
        x: &impl DevicePtr<f32>,
        w: &impl DevicePtr<f32>,
        y: &mut impl DevicePtrMut<f32>,
    ) -> Result<(), CudaError> {
        let op = Conv2dForward {
            conv: &self.conv,
            x: &self.x,
            w: &self.w,
            y: &self.y,
        };
        self.check_lens([x.len(), w.len(), y.len()]);
        let (algo, bytes) = self.forward;
        with_workspace(dev, "forward", bytes, |ws| {
            // SAFETY: the buffers hold the contiguous NHWC / KRSC f32 tensors
            // the descriptors describe (their lengths checked above).
            unsafe { op.launch(algo, ws, (1.0, 0.0), x, w, y) }
        })
    }

    /// `gx += conv_transpose(gy, w)`.
    fn backward_data(
        &self,
        dev: &Cuda,
        gx: &mut impl DevicePtrMut<f32>,
        w: &impl DevicePtr<f32>,
        gy: &impl DevicePtr<f32>,
    ) -> Result<(), CudaError> {
        let op = Conv2dBackwardData {
            conv: &self.conv,
            dx: &self.x,
            w: &self.w,
            dy: &self.y,
        };
        self.check_lens([gx.len(), w.len(), gy.len()]);
        let (algo, bytes) = self.backward_data;
        with_workspace(dev, "backward data", bytes, |ws| {
            // SAFETY: as in `forward`; gx is the gradient buffer of the
            // contiguous input, gy that of the output.
            unsafe { op.launch(algo, ws, (1.0, 1.0), gx, w, gy) }
        })
    }

    /// `gw += ∂(y · gy) / ∂w`, the KRSC filter's gradient.
    fn backward_filter(
        &self,
        dev: &Cuda,
        x: &impl DevicePtr<f32>,
        gw: &mut impl DevicePtrMut<f32>,
        gy: &impl DevicePtr<f32>,
    ) -> Result<(), CudaError> {
        let op = Conv2dBackwardFilter {
            conv: &self.conv,
            x: &self.x,
            dw: &self.w,
            dy: &self.y,
        };
        self.check_lens([x.len(), gw.len(), gy.len()]);
        let (algo, bytes) = self.backward_filter;
        with_workspace(dev, "backward filter", bytes, |ws| {
            // SAFETY: as in `forward`; gw is the gradient buffer of the
            // contiguous KRSC filter.
            unsafe { op.launch(algo, ws, (1.0, 1.0), x, gw, gy) }
        })
    }
}

/// Plans and workspaces of this thread. cuDNN descriptors are not `Send`
/// (they hold the handle), so they live per thread, keyed by the handle.
#[derive(Default)]
struct State {
    plans: HashMap<PlanKey, Result<Rc<Plan>, CudnnPlanError>>,
    /// One workspace per cuDNN handle, grown to the largest request: every
    /// launch goes to the handle's one stream, so launches can share it.
    workspaces: HashMap<usize, CudaSlice<u8>>,
}

/// cuDNN handle (by address), input shape, output channels, window.
type PlanKey = (usize, usize, usize, usize, usize, usize, Window);

thread_local! {
    static STATE: RefCell<State> = RefCell::default();
}

/// The address of `dev`'s cuDNN handle: plans made for it hold the handle,
/// so the address is not reused for another device while they exist.
fn handle_key(dev: &Cuda) -> usize {
    Arc::as_ptr(dev.cudnn()) as usize
}

/// The plan of geometry `g` with `c_out` output channels on `dev`, made on
/// first use; the error (also cached) when cuDNN cannot run it.
fn plan(dev: &Cuda, g: &Geometry, c_out: usize) -> Result<Rc<Plan>, CudnnPlanError> {
    let key = (
        handle_key(dev),
        g.batch,
        g.rows,
        g.cols,
        g.channels,
        c_out,
        g.window,
    );
    STATE.with(|s| {
        s.borrow_mut()
            .plans
            .entry(key)
            .or_insert_with(|| {
                let plan = Plan::new(dev.cudnn(), g, c_out).map(Rc::new);
                if let Err(e) = &plan {
                    let Window { kernel: k, stride, padding } = g.window;
                    eprintln!(
                        "note: the {k}x{k} conv (stride {stride}, padding {padding}) of {}x{}x{}x{} maps to {c_out} channels runs on the im2col path: {e}",
                        g.batch, g.rows, g.cols, g.channels
                    );
                }
                plan
            })
            .clone()
    })
}

/// Runs `launch` with a workspace of at least `bytes` on `dev` (none when 0).
///
/// # Panics
/// If cuDNN fails to run a plan it accepted: a device fault or a bug, not
/// bad input (`ConvDevice::conv2d`, like dfdx's own ops, has no error path).
fn with_workspace(
    dev: &Cuda,
    step: &str,
    bytes: usize,
    launch: impl FnOnce(Option<&mut CudaSlice<u8>>) -> Result<(), CudnnError>,
) -> Result<(), CudaError> {
    let result = if bytes == 0 {
        launch(None)
    } else {
        STATE.with(|s| -> Result<_, CudaError> {
            let workspaces = &mut s.borrow_mut().workspaces;
            let key = handle_key(dev);
            if workspaces.get(&key).is_none_or(|w| w.len() < bytes) {
                // The old buffer is freed first (in stream order, after the
                // launches that use it), so its memory can serve the new one.
                workspaces.remove(&key);
                workspaces.insert(key, dev.cuda_device().alloc_zeros::<u8>(bytes)?);
            }
            Ok(launch(workspaces.get_mut(&key)))
        })?
    };
    result.unwrap_or_else(|e| {
        panic!(
            "cuDNN convolution {step} failed with status {} (cudnnStatus_t, see cudnn_graph.h)",
            status_code(e)
        )
    });
    Ok(())
}

/// `values` as the 32-bit ints cuDNN's convolution API takes.
fn c_ints<const N: usize>(values: [(&'static str, usize); N]) -> Result<[i32; N], CudnnPlanError> {
    let mut ints = [0; N];
    for (int, (what, value)) in ints.iter_mut().zip(values) {
        *int = i32::try_from(value).map_err(|_| CudnnPlanError::TooLarge { what, value })?;
    }
    Ok(ints)
}

/// A `map_err` for planning step `step`.
fn failed(step: &'static str) -> impl Fn(CudnnError) -> CudnnPlanError {
    move |e| CudnnPlanError::Cudnn {
        step,
        status: status_code(e),
    }
}

/// The number cuDNN returned. cudarc 0.9's status enum was generated from
/// cuDNN 8, and cuDNN 9 renumbered the errors (NOT_SUPPORTED: 9 there, 3000
/// here), so cudarc's names for them would be wrong: report the number.
fn status_code(e: CudnnError) -> u32 {
    e.0 as u32
}

/// A read-only view of a device buffer by its address. The backward op reads
/// the output's gradient while it writes another gradient of the same
/// `Gradients` map, which (outside dfdx) lends one entry at a time. The map
/// owns the buffer for the whole op; moving an entry moves its handle, not
/// the device memory, so the address stays valid.
struct DeviceView {
    ptr: CUdeviceptr,
    len: usize,
}

impl DeviceView {
    fn of(buffer: &impl DevicePtr<f32>) -> Self {
        Self {
            ptr: *buffer.device_ptr(),
            len: buffer.len(),
        }
    }
}

impl DeviceSlice<f32> for DeviceView {
    fn len(&self) -> usize {
        self.len
    }
}

impl DevicePtr<f32> for DeviceView {
    fn device_ptr(&self) -> &CUdeviceptr {
        &self.ptr
    }
}
