//! [`TrainDevice::ranger_step`](crate::device::TrainDevice::ranger_step) on
//! the CPU: one pass over the buffers of a parameter, its gradient and its
//! moments, in place, where the dfdx op chain (`ops_kernel.rs`) takes
//! a dozen passes and a fresh buffer for each.
//!
//! Per element it evaluates the lines of the module docs' step exactly as
//! written, in their order, in f32: the same bits as the op chain (the
//! `cpu_kernel_matches_the_op_chain` test compares them), whatever the
//! instruction set (Rust neither contracts `a * b + c` into a fused
//! multiply-add nor reorders float ops; vector division and square root are
//! correctly rounded like the scalar ones) and whatever the thread count
//! (elements are independent).

use dfdx::prelude::*;

use super::{Moments, RangerStep};
use crate::layers::vectorized;

/// Values per task when a parameter is split over rayon's threads; smaller
/// parameters are stepped on the calling thread, where a split would cost
/// more in hand-offs than it saves (a pass takes about a nanosecond per value).
const CHUNK: usize = 1 << 15;

/// One Ranger step on `p`. `p` must have a gradient in `grads`, and the state
/// `p`'s element count (both checked by the caller).
pub(crate) fn step<S: Shape>(
    sc: &RangerStep,
    p: &mut Tensor<S, f32, Cpu>,
    grads: &Gradients<f32, Cpu>,
    st: &mut Moments<Cpu>,
) -> Result<(), <Cpu as HasErr>::Err> {
    let g = grads
        .get_ref_checked(p)
        .expect("the caller checked the gradient");
    let bufs = Buffers {
        p: p.storage_mut(),
        g,
        m: st.m.storage_mut(),
        v: st.v.storage_mut(),
        slow: st
            .slow
            .as_mut()
            .filter(|_| sc.sync)
            .map(|s| &mut s.storage_mut()[..]),
    };
    assert!(
        [bufs.g.len(), bufs.m.len(), bufs.v.len()] == [bufs.p.len(); 3]
            && bufs.slow.as_ref().is_none_or(|s| s.len() == bufs.p.len()),
        "a parameter, its gradient and its moments have equal lengths"
    );
    bufs.run(sc);
    Ok(())
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
    /// The step on every value, halves in parallel down to `CHUNK` values.
    fn run(self, sc: &RangerStep) {
        if self.p.len() < 2 * CHUNK || rayon::current_num_threads() == 1 {
            return vectorized(|| self.pass(sc));
        }
        let mid = self.p.len() / 2;
        let (p0, p1) = self.p.split_at_mut(mid);
        let (g0, g1) = self.g.split_at(mid);
        let (m0, m1) = self.m.split_at_mut(mid);
        let (v0, v1) = self.v.split_at_mut(mid);
        let (s0, s1) = match self.slow.map(|s| s.split_at_mut(mid)) {
            Some((s0, s1)) => (Some(s0), Some(s1)),
            None => (None, None),
        };
        let (a, b) = (
            Buffers {
                p: p0,
                g: g0,
                m: m0,
                v: v0,
                slow: s0,
            },
            Buffers {
                p: p1,
                g: g1,
                m: m1,
                v: v1,
                slow: s1,
            },
        );
        rayon::join(|| a.run(sc), || b.run(sc));
    }

    /// One loop per combination of the step's branches, each free of
    /// branches (so it vectorizes).
    #[inline(always)]
    fn pass(self, sc: &RangerStep) {
        // A local copy: the loops read its fields from registers.
        let copy = *sc;
        let sc = &copy;
        match (sc.rect, sc.wd != 0.0) {
            (Some(r), true) => self.pass_with(sc, |m, v| rectified(sc, r, m, v), true),
            (Some(r), false) => self.pass_with(sc, |m, v| rectified(sc, r, m, v), false),
            (None, true) => self.pass_with(sc, |m, _| m / sc.bias1, true),
            (None, false) => self.pass_with(sc, |m, _| m / sc.bias1, false),
        }
    }

    /// The step with the RAdam direction `dir(m, v)` (of the updated
    /// moments), with weight decay if `wd`.
    #[inline(always)]
    fn pass_with(self, sc: &RangerStep, dir: impl Fn(f32, f32) -> f32, wd: bool) {
        let radam = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
            *m = *m * sc.b1 + g * sc.one_minus_b1;
            *v = *v * sc.b2 + (g * g) * sc.one_minus_b2;
            let mut u = dir(*m, *v);
            if wd {
                u += *p * sc.wd;
            }
            *p = *p * 1.0 + u * -sc.lr;
        };
        let values = self.p.iter_mut().zip(self.g).zip(self.m).zip(self.v);
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
