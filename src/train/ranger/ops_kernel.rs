//! The step as a chain of dfdx ops, the `by_ops` path of
//! [`TrainDevice::update_param`](crate::device::TrainDevice::update_param),
//! which runs on every device: CUDA's step, and on the CPU the reference the
//! CPU kernel is tested against (same bits).

use dfdx::prelude::*;

use super::{Flat, RangerStep};

/// One Ranger step on `p` with its gradient `g` and state `[m, v]`, or
/// `[m, v, slow]` on a Lookahead sync step (flat, `p`'s element count); see
/// the module docs of `train::ranger` for the op order.
pub(super) fn step<S: Shape, D: Device<f32>>(
    sc: &RangerStep,
    p: &mut Tensor<S, f32, D>,
    g: Tensor<S, f32, D>,
    state: &mut [Flat<D>],
) -> Result<(), D::Err> {
    let (m, v, slow) = match state {
        [m, v] => (m, v, None),
        [m, v, slow] => (m, v, Some(slow)),
        _ => panic!("Ranger's state is [m, v] or [m, v, slow]"),
    };
    let n = (p.shape().num_elements(),);
    // Flat views of `p`'s shape (a reshape of a row-major tensor shares its
    // buffer), so the ops line up with the flat state.
    let flat = |t: &Tensor<S, f32, D>| t.clone().try_reshape_like(&n);
    let g = g.try_reshape_like(&n)?;

    // Moments, in place.
    m.try_axpy(sc.b1, &g, sc.one_minus_b1)?;
    let g2 = g.try_square()?;
    v.try_axpy(sc.b2, &g2, sc.one_minus_b2)?;
    drop(g2);

    // RAdam direction.
    let m_hat = m.clone().try_div(sc.bias1)?;
    let mut u = match sc.rect {
        Some(r) => {
            let denom = v.clone().try_div(sc.bias2)?.try_sqrt()?.try_add(sc.eps)?;
            m_hat.try_mul(r)?.try_div(denom)?
        }
        None => m_hat,
    };

    // Decoupled weight decay, from p before this step (TF-Addons: var_t += wd * var).
    if sc.wd != 0.0 {
        u = u.try_add(flat(p)?.try_mul(sc.wd)?)?;
    }

    // p <- p - lr * u, in place (keeps p's id). `-lr * u` is exact negation of `lr * u`.
    p.try_axpy(1.0f32, &u.try_reshape_like(p.shape())?, -sc.lr)?;

    // Lookahead sync.
    if let Some(slow) = slow {
        let diff = flat(p)?.try_sub(slow.clone())?;
        slow.try_axpy(1.0f32, &diff, sc.alpha)?;
        p.try_axpy(0.0f32, &slow.clone().try_reshape_like(p.shape())?, 1.0f32)?;
    }
    Ok(())
}
