use std::borrow::Cow;

use super::ops::{BinaryKernel, UnaryKernel};
use crate::{
    shapes::{Dtype, Shape},
    tensor::{
        cpu::{Cpu, LendingIterator, NdIndex},
        unique_id, Tensor, Tensorlike, ZerosTensor,
    },
};

pub trait UnaryDerivative<E> {
    /// Whether the [UnaryDerivative::df] function can re-use the output
    /// from [UnaryDerivative::f].
    const DF_USES_FX: bool;
    /// Whether the derivative of this op can be computed without
    /// any data.
    const HAS_CONST_DF: bool;

    fn f(&self, x: &E) -> E;

    /// Receives `f(x)` if [UnaryDerivative::DF_USES_FX] is true,
    /// otherwise `x`.
    fn df(&self, x: &E) -> E;

    fn const_df(&self) -> E {
        unimplemented!()
    }
}

pub trait BinaryDerivative<E>: std::fmt::Debug {
    /// Whether the derivative of this op can be computed without
    /// any data.
    const HAS_CONST_DF: bool;
    fn f(&self, x: &E, y: &E) -> E;
    fn dfdx(&self, x: &E, y: &E) -> E;
    fn dfdy(&self, x: &E, y: &E) -> E;
    fn const_dfdx(&self) -> E {
        unimplemented!()
    }
    fn const_dfdy(&self) -> E {
        unimplemented!()
    }
}

impl<E: Dtype, Op: UnaryDerivative<E>> UnaryKernel<Op, E> for Cpu {
    const BACKWARD_WITHOUT_INP: bool = Op::DF_USES_FX;
    const BACKWARD_WITHOUT_DATA: bool = Op::HAS_CONST_DF;

    fn forward<S: Shape>(
        &self,
        op: Op,
        inp: Cow<Tensor<S, E, Self>>,
    ) -> Result<Tensor<S, E, Self>, Self::Err> {
        let mut out = match inp {
            Cow::Borrowed(inp) => {
                // allocate a new data buffer
                Tensor {
                    id: unique_id(),
                    data: inp.data.clone(),
                    shape: inp.shape,
                    strides: inp.strides,
                    device: self.clone(),
                    tape: Default::default(),
                }
            }
            Cow::Owned(mut inp) => {
                // re-use the data buffer
                inp.id = unique_id();
                inp
            }
        };
        // NOTE: we can iterate over buf here because we know inp & out
        // have exact same strides due to clone.
        for x in out.buf_iter_mut() {
            *x = op.f(x);
        }
        Ok(out)
    }
    fn backward<S: Shape>(
        &self,
        op: Op,
        inp: &impl Tensorlike<S, E, Self>,
        grad_inp: &mut Self::Vec,
        out: &impl Tensorlike<S, E, Self>,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        match (inp.data(), out.data()) {
            (None, None) => {
                let df = op.const_df();
                for (i, x) in grad_inp.iter_mut().enumerate() {
                    *x += df * grad_out[i];
                }
            }
            (None, Some(out)) => {
                for (i, x) in grad_inp.iter_mut().enumerate() {
                    *x += op.df(&out[i]) * grad_out[i];
                }
            }
            (Some(inp), None) => {
                for (i, x) in grad_inp.iter_mut().enumerate() {
                    *x += op.df(&inp[i]) * grad_out[i];
                }
            }
            _ => unreachable!(),
        }
        Ok(())
    }
}

impl<E: Dtype, Op: BinaryDerivative<E>> BinaryKernel<Op, E> for Cpu {
    const BACKWARD_WITHOUT_DATA: bool = Op::HAS_CONST_DF;
    fn forward<S: Shape>(
        &self,
        op: Op,
        lhs: Cow<Tensor<S, E, Self>>,
        rhs: Cow<Tensor<S, E, Self>>,
    ) -> Result<Tensor<S, E, Self>, Self::Err> {
        match (lhs, rhs) {
            (Cow::Borrowed(lhs), Cow::Borrowed(rhs)) => {
                let mut out = self.try_zeros_like(&lhs.shape)?;
                // conflicting-bundles patch (see vendor/README.md): row-major
                // operands zip their buffers instead of stepping an index per
                // element (the same op on the same elements).
                if lhs.strides == lhs.shape.strides() && rhs.strides == rhs.shape.strides() {
                    let (l, r) = (lhs.data.iter(), rhs.data.iter());
                    for (o, (l, r)) in out.buf_iter_mut().zip(l.zip(r)) {
                        *o = op.f(l, r);
                    }
                    return Ok(out);
                }
                // conflicting-bundles patch: otherwise (a broadcast operand)
                // run by run along the last dimension, in the same order.
                let (l, r) = (&lhs.data, &rhs.data);
                let o = std::sync::Arc::make_mut(&mut out.data);
                for_each_run(lhs.shape, lhs.strides, rhs.strides, |[oi, li, ri], n, steps| {
                    if steps == [1, 1] {
                        let (o, l, r) = (&mut o[oi..oi + n], &l[li..li + n], &r[ri..ri + n]);
                        o.iter_mut().zip(l.iter().zip(r)).for_each(|(o, (l, r))| *o = op.f(l, r));
                        return;
                    }
                    let [sl, sr] = steps;
                    for k in 0..n {
                        o[oi + k] = op.f(&l[li + k * sl], &r[ri + k * sr]);
                    }
                });
                Ok(out)
            }
            (Cow::Owned(mut lhs), Cow::Owned(mut rhs)) => {
                let lhs_valid = lhs.strides == lhs.shape.strides();
                let rhs_valid = rhs.strides == rhs.shape.strides();
                if lhs_valid || rhs_valid {
                    let lhs_count = std::sync::Arc::strong_count(&lhs.data);
                    let rhs_count = std::sync::Arc::strong_count(&rhs.data);
                    if rhs_valid && (rhs_count == 1 || !lhs_valid || lhs_count != 1) {
                        rhs.id = unique_id();
                        // conflicting-bundles patch: as above.
                        if lhs_valid {
                            for (r, l) in rhs.buf_iter_mut().zip(lhs.data.iter()) {
                                *r = op.f(l, r);
                            }
                            return Ok(rhs);
                        }
                        // conflicting-bundles patch: the broadcast operand
                        // run by run, as in the borrowed case.
                        let (shape, strides) = (lhs.shape, lhs.strides);
                        let l = &lhs.data;
                        let o = std::sync::Arc::make_mut(&mut rhs.data);
                        for_each_run(shape, shape.strides(), strides, |[oi, _, li], n, [_, sl]| {
                            if sl == 1 {
                                let (o, l) = (&mut o[oi..oi + n], &l[li..li + n]);
                                o.iter_mut().zip(l).for_each(|(o, l)| *o = op.f(l, o));
                                return;
                            }
                            for k in 0..n {
                                o[oi + k] = op.f(&l[li + k * sl], &o[oi + k]);
                            }
                        });
                        Ok(rhs)
                    } else {
                        lhs.id = unique_id();
                        // conflicting-bundles patch: as above.
                        if rhs_valid {
                            for (l, r) in lhs.buf_iter_mut().zip(rhs.data.iter()) {
                                *l = op.f(l, r);
                            }
                            return Ok(lhs);
                        }
                        // conflicting-bundles patch: as above.
                        let (shape, strides) = (rhs.shape, rhs.strides);
                        let r = &rhs.data;
                        let o = std::sync::Arc::make_mut(&mut lhs.data);
                        for_each_run(shape, shape.strides(), strides, |[oi, _, ri], n, [_, sr]| {
                            if sr == 1 {
                                let (o, r) = (&mut o[oi..oi + n], &r[ri..ri + n]);
                                o.iter_mut().zip(r).for_each(|(o, r)| *o = op.f(o, r));
                                return;
                            }
                            for k in 0..n {
                                o[oi + k] = op.f(&o[oi + k], &r[ri + k * sr]);
                            }
                        });
                        Ok(lhs)
                    }
                } else {
                    <Self as BinaryKernel<Op, E>>::forward(
                        self,
                        op,
                        Cow::Borrowed(&lhs),
                        Cow::Borrowed(&rhs),
                    )
                }
            }
            _ => unreachable!(),
        }
    }
    fn backward<S: Shape>(
        &self,
        op: Op,
        lhs: &impl Tensorlike<S, E, Self>,
        grad_lhs: &mut Self::Vec,
        rhs: &impl Tensorlike<S, E, Self>,
        grad_rhs: &mut Self::Vec,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        match (lhs.data(), rhs.data()) {
            (Some(lhs_buf), Some(rhs_buf)) => {
                // conflicting-bundles patch: as in the forward pass.
                let row_major = |s: S, strides: S::Concrete| strides == s.strides();
                if row_major(*lhs.shape(), lhs.strides()) && row_major(*rhs.shape(), rhs.strides()) {
                    let grads = grad_lhs.iter_mut().zip(grad_rhs.iter_mut());
                    let values = lhs_buf.iter().zip(rhs_buf.iter());
                    for ((go, (gl, gr)), (l, r)) in grad_out.iter().zip(grads).zip(values) {
                        *gl += op.dfdx(l, r) * *go;
                        *gr += op.dfdy(l, r) * *go;
                    }
                    return Ok(());
                }
                // conflicting-bundles patch: otherwise run by run along the
                // last dimension, in the same order (grad_out is row-major).
                let (sl, sr) = (lhs.strides(), rhs.strides());
                for_each_run(*lhs.shape(), sl, sr, |[oi, li, ri], n, steps| {
                    if steps == [1, 1] {
                        let go = &grad_out[oi..oi + n];
                        let (gl, gr) = (&mut grad_lhs[li..li + n], &mut grad_rhs[ri..ri + n]);
                        let (l, r) = (&lhs_buf[li..li + n], &rhs_buf[ri..ri + n]);
                        let grads = gl.iter_mut().zip(gr.iter_mut());
                        for ((go, (gl, gr)), (l, r)) in go.iter().zip(grads).zip(l.iter().zip(r)) {
                            *gl += op.dfdx(l, r) * *go;
                            *gr += op.dfdy(l, r) * *go;
                        }
                        return;
                    }
                    let [sl, sr] = steps;
                    for k in 0..n {
                        let (lhs_i, rhs_i, go) = (li + k * sl, ri + k * sr, grad_out[oi + k]);
                        let l = &lhs_buf[lhs_i];
                        let r = &rhs_buf[rhs_i];
                        grad_lhs[lhs_i] += op.dfdx(l, r) * go;
                        grad_rhs[rhs_i] += op.dfdy(l, r) * go;
                    }
                });
            }
            (None, None) => {
                assert!(Op::HAS_CONST_DF);
                let dx = op.const_dfdx();
                let dy = op.const_dfdy();
                // conflicting-bundles patch: run by run, as above.
                let (sl, sr) = (lhs.strides(), rhs.strides());
                for_each_run(*lhs.shape(), sl, sr, |[oi, li, ri], n, steps| {
                    if steps == [1, 1] {
                        let go = &grad_out[oi..oi + n];
                        let (gl, gr) = (&mut grad_lhs[li..li + n], &mut grad_rhs[ri..ri + n]);
                        for (go, (gl, gr)) in go.iter().zip(gl.iter_mut().zip(gr.iter_mut())) {
                            *gl += dx * *go;
                            *gr += dy * *go;
                        }
                        return;
                    }
                    let [sl, sr] = steps;
                    for k in 0..n {
                        let go = grad_out[oi + k];
                        grad_lhs[li + k * sl] += dx * go;
                        grad_rhs[ri + k * sr] += dy * go;
                    }
                });
            }
            _ => unreachable!(),
        }
        Ok(())
    }
}

// conflicting-bundles patch (see vendor/README.md): a row-major walk of
// `shape`'s elements as runs along its last dimension, for operands that are
// not both row-major (a broadcast bias). `f([out, a, b], len, [step_a,
// step_b])` receives each run's start in the row-major output and in two
// operands of strides `sa` and `sb`, its length, and the operands' strides
// along it: the same elements in the same order as an `NdIndex` stepped per
// element. Where both steps are 1 (a bias broadcast over rows) the callers
// zip slices, which vectorizes; each element still sees the same ops in the
// same order.
fn for_each_run<S: Shape>(
    shape: S,
    sa: S::Concrete,
    sb: S::Concrete,
    mut f: impl FnMut([usize; 3], usize, [usize; 2]),
) {
    let numel = shape.num_elements();
    if numel == 0 {
        return;
    }
    let (len, steps) = match S::NUM_DIMS {
        0 => (1, [0, 0]),
        n => (
            shape.concrete()[n - 1],
            [sa[n - 1], sb[n - 1]],
        ),
    };
    let (a, b) = (NdIndex::new(shape, sa), NdIndex::new(shape, sb));
    for start in (0..numel).step_by(len) {
        f(
            [start, a.get_strided_index(start), b.get_strided_index(start)],
            len,
            steps,
        );
    }
}
