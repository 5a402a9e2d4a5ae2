//! The step on the CPU, the `host` pass of
//! [`TrainDevice::update_param`](crate::device::TrainDevice::update_param):
//! one pass over the buffers of a parameter, its gradient and its state, in
//! place, where the dfdx op chain (`ops_kernel.rs`) takes a dozen passes
//! and a fresh buffer for each.
//!
//! Per element it evaluates the lines of the module docs' step exactly as
//! written, in their order, in f32: the same bits as the op chain (the
//! `cpu_kernel_matches_the_op_chain` test compares them), whatever the
//! instruction set (Rust neither contracts `a * b + c` into a fused
//! multiply-add nor reorders float ops; vector division and square root are
//! correctly rounded like the scalar ones) and however the values are split
//! over threads (elements are independent).

use super::RangerStep;
use crate::device::vectorized;

/// One Ranger step on the values `p` with gradients `g` and state
/// `[m, v]`, or `[m, v, slow]` on a Lookahead sync step (equal lengths).
/// One loop per combination of the step's branches, each free of branches,
/// so it vectorizes (8 lanes wide where the CPU has AVX2).
pub(super) fn step(sc: &RangerStep, p: &mut [f32], g: &[f32], state: &mut [&mut [f32]]) {
    let (m, v, slow) = match state {
        [m, v] => (m, v, None),
        [m, v, slow] => (m, v, Some(&mut **slow)),
        _ => panic!("Ranger's state is [m, v] or [m, v, slow]"),
    };
    // A local copy: the loops read its fields from registers.
    let copy = *sc;
    let sc = &copy;
    let bufs = Buffers { p, g, m, v, slow };
    vectorized(|| match (sc.rect, sc.wd != 0.0) {
        (Some(r), true) => bufs.pass(sc, |m, v| rectified(sc, r, m, v), true),
        (Some(r), false) => bufs.pass(sc, |m, v| rectified(sc, r, m, v), false),
        (None, true) => bufs.pass(sc, |m, _| m / sc.bias1, true),
        (None, false) => bufs.pass(sc, |m, _| m / sc.bias1, false),
    })
}

/// The buffers of one parameter's step (or of a part of them); `slow` only
/// on a Lookahead sync step.
struct Buffers<'a> {
    p: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    slow: Option<&'a mut [f32]>,
}

impl Buffers<'_> {
    /// The step with the RAdam direction `dir(m, v)` (of the updated
    /// moments), with weight decay if `wd`.
    #[inline(always)]
    fn pass(self, sc: &RangerStep, dir: impl Fn(f32, f32) -> f32, wd: bool) {
        let radam = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
            *m = *m * sc.b1 + g * sc.one_minus_b1;
            *v = *v * sc.b2 + (g * g) * sc.one_minus_b2;
            let mut u = dir(*m, *v);
            if wd {
                u += *p * sc.wd;
            }
            *p = *p * 1.0 + u * -sc.lr;
        };
        let values = self
            .p
            .iter_mut()
            .zip(self.g)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut());
        match self.slow {
            None => values.for_each(|(((p, &g), m), v)| radam(p, g, m, v)),
            Some(slow) => values.zip(slow).for_each(|((((p, &g), m), v), s)| {
                radam(p, g, m, v);
                let diff = *p - *s;
                *s = *s * 1.0 + diff * sc.alpha;
                *p = *p * 0.0 + *s * 1.0;
            }),
        }
    }
}

/// The rectified direction `(m_hat * r_t) / (sqrt(v_hat) + eps)`.
#[inline(always)]
fn rectified(sc: &RangerStep, r: f32, m: f32, v: f32) -> f32 {
    ((m / sc.bias1) * r) / ((v / sc.bias2).sqrt() + sc.eps)
}
