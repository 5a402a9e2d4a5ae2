//! The Ranger optimizer: RAdam (Liu et al. 2020, "On the Variance of the
//! Adaptive Learning Rate and Beyond") wrapped in Lookahead (Zhang et al. 2019),
//! exactly as the *conflicting bundles* paper trains with it.
//!
//! The paper's code builds
//! `tfa.optimizers.Lookahead(tfa.optimizers.RectifiedAdam(lr, epsilon=1e-6, weight_decay=1e-2))`,
//! so this module follows the **TensorFlow-Addons** conventions throughout:
//!
//! * **Rectification threshold**: the adaptive (rectified) step is used when
//!   `rho_t >= sma_threshold` with `sma_threshold = 5.0` (TF-Addons'
//!   `RectifiedAdam` default, also the value in the official RAdam and the
//!   PyTorch Ranger code). The paper's Algorithm 2 writes `rho_t > 4`; with
//!   `beta2 = 0.999`, `rho_5 = 4.996`, so the two conventions differ exactly at
//!   step 5 (SGD-with-momentum here, rectified with 4). Set `sma_threshold` to
//!   4.0 for the paper's variant. Thresholds below 4 behave like 4: `r_t` is
//!   undefined (square root of a negative number) for `rho_t < 4`.
//! * **Weight decay**: decoupled (AdamW-style) and applied *alongside* the
//!   update, from the parameter value *before* this step:
//!   `p <- p - lr * (u_t + wd * p)`, where `u_t` is the RAdam direction. This is
//!   what TF-Addons does (`var_t += wd * var; var -= lr * var_t`) and is
//!   mathematically the same as Ranger/PyTorch's "decay first, then step"
//!   (`u_t` does not depend on `p`). It is applied in both RAdam phases.
//! * **Epsilon** is added to the square root of the *bias-corrected* second
//!   moment: `u_t = r_t * m_hat / (sqrt(v_hat) + eps)`.
//! * **Lookahead**: slow weights are a copy of the parameter taken the first
//!   time the parameter is updated (TF-Addons initializes its `slow` slot from
//!   the variable); after the RAdam step of every step `t` with
//!   `t % k == 0`: `slow <- slow + alpha * (p - slow)`, `p <- slow`.
//!   `t` is the optimizer's global step counter (one per `update` call), as in
//!   TF-Addons' `iterations`, so all parameters sync on the same steps.
//!
//! # One step, per parameter (the op order, which the rounding depends on)
//!
//! Scalars that depend only on `t` and the configuration (`1 - beta^t`, `rho_t`,
//! `r_t`, `1 - beta`) are computed in `f64` and rounded to `f32` once. All tensor
//! arithmetic is `f32`, elementwise, in this order (`*`, `/`, `+` by a scalar are
//! dfdx scalar ops; `axpy(a, x, b)` is dfdx's in-place `self = self * a + x * b`):
//!
//! ```text
//! m  <- m * b1 + g * (1 - b1)                       (axpy, in place)
//! v  <- v * b2 + (g * g) * (1 - b2)                 (square, then axpy)
//! mh  = m / (1 - b1^t)
//! if rho_t >= threshold (rectified phase):
//!     u = (mh * r_t) / (sqrt(v / (1 - b2^t)) + eps)
//! else (warm-up phase, SGD with momentum):
//!     u = mh
//! if wd != 0:  u = u + p * wd                       (p before this step)
//! p  <- p * 1 + u * (-lr)                           (axpy, in place)
//! if lookahead on and t % k == 0:
//!     slow <- slow * 1 + (p - slow) * alpha         (axpy, in place)
//!     p    <- p * 0 + slow * 1                      (axpy, in place)
//! ```
//!
//! On the CPU one host loop evaluates each line exactly as written, in this
//! order (the same bits as the dfdx op chain, which runs on other devices); CUDA kernels may
//! contract `a * b + c` into a fused multiply-add, so CPU and GPU can differ in
//! the last bit.
//!
//! # One way in
//!
//! [`Ranger::update`] walks any model implementing the project's [`Params`]
//! trait (runtime-depth models). Every parameter must have a gradient entry:
//! train with gradients allocated up front
//! ([`alloc_grads`](crate::layers::params::alloc_grads), as dfdx's own MNIST
//! example does with `model.alloc_grads()`), so a parameter the loss does not
//! reach gets a zero gradient instead of a missing entry (dfdx 0.13 has no
//! public checked lookup; a missing entry panics inside dfdx).
//!
//! # Parameters are updated in place
//!
//! Every write to a parameter goes through dfdx's in-place `axpy`, so the
//! tensor keeps its id (gradients are keyed by id) and, when its buffer is not
//! shared, its allocation.

use std::any::Any;

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::layers::params::{ParamVisitor, Params};
use crate::util::owned_to_vec;

/// Hyperparameters of [`Ranger`]. `Default` is the paper's setting
/// (TF-Addons `RectifiedAdam(epsilon=1e-6, weight_decay=1e-2)` inside a default
/// `Lookahead`). Missing fields deserialize to their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RangerConfig {
    /// Learning rate. Default `1e-3`.
    pub lr: f64,
    /// `[beta1, beta2]`: decay rates of the first and second moments. Default `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// Added to `sqrt(v_hat)` in the rectified step. Default `1e-6`.
    pub eps: f64,
    /// Decoupled weight decay `wd`: `p <- p - lr * (u + wd * p)`. Default `1e-2`; `0` disables it.
    pub weight_decay: f64,
    /// The rectified step is taken when `rho_t >= sma_threshold` (TF-Addons' `sma_threshold`).
    /// Default `5.0`; the RAdam paper's `rho_t > 4` is `4.0`.
    pub sma_threshold: f64,
    /// Lookahead sync period `k` (TF-Addons' `sync_period`). Default `6`; `0` disables Lookahead
    /// (no slow weights are kept).
    pub lookahead_k: u64,
    /// Lookahead slow step `alpha` (TF-Addons' `slow_step_size`). Default `0.5`.
    pub lookahead_alpha: f64,
}

impl Default for RangerConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-6,
            weight_decay: 1e-2,
            sma_threshold: 5.0,
            lookahead_k: 6,
            lookahead_alpha: 0.5,
        }
    }
}

impl RangerConfig {
    /// `rho_inf = 2 / (1 - beta2) - 1`, the maximum length of the approximated SMA.
    pub fn rho_inf(&self) -> f64 {
        2.0 / (1.0 - self.betas[1]) - 1.0
    }

    /// `rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)` for step `t >= 1`.
    pub fn rho(&self, t: u64) -> f64 {
        let b2t = self.betas[1].powf(t as f64);
        self.rho_inf() - 2.0 * t as f64 * b2t / (1.0 - b2t)
    }

    /// The variance rectification term `r_t` if step `t` (1-based) takes the
    /// rectified adaptive step, `None` if it takes the un-adapted momentum step.
    pub fn rectifier(&self, t: u64) -> Option<f64> {
        let (rho, rho_inf) = (self.rho(t), self.rho_inf());
        (rho >= self.sma_threshold && rho > 4.0).then(|| {
            ((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)).sqrt()
        })
    }
}

/// An optimizer state that does not fit the model (or a malformed saved state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Ranger state: {0}")]
pub struct StateError(pub String);

/// Why [`Ranger::update`] failed. The update may have been applied to the
/// parameters visited before the failure.
#[derive(Debug, thiserror::Error)]
pub enum RangerError<E: std::fmt::Debug + std::fmt::Display> {
    /// The device failed (allocation, kernel launch, ...).
    #[error("device error in Ranger update: {0}")]
    Device(E),
    /// The model's parameter walk does not match the optimizer's state
    /// (a different model, a changed walk order, or a mismatched checkpoint).
    #[error(transparent)]
    State(#[from] StateError),
}

/// The Ranger optimizer (RAdam + Lookahead). See the module docs for the exact
/// update rule and conventions.
///
/// Not generic over the device: the device is that of the model and gradients
/// passed to each update (all updates of one `Ranger` must use the same device).
///
/// Per-parameter state (`m`, `v`, slow weights) is kept in a `Vec` indexed by the
/// parameter's position in the model's walk ([`Params::visit_params`] has a
/// fixed order); the parameter's name is recorded with each entry and checked
/// on every step, so a walk that changed is reported, never silently mixed up. Each entry holds a type-erased `Tensor<S, f32, D>` triple
/// (`Box<dyn Any>`-style, behind a small trait so it can also be exported without
/// knowing `S`).
pub struct Ranger {
    /// Hyperparameters; may be changed between steps (e.g. an lr schedule).
    pub cfg: RangerConfig,
    t: u64,
    slots: Vec<Slot>,
}

impl std::fmt::Debug for Ranger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ranger")
            .field("cfg", &self.cfg)
            .field("t", &self.t)
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Ranger {
    /// A fresh optimizer (step 0, no state yet: it is created on first use).
    pub fn new(cfg: RangerConfig) -> Self {
        Self {
            cfg,
            t: 0,
            slots: Vec::new(),
        }
    }

    /// Number of updates taken so far (`t` of the last update; 0 before the first).
    pub fn step_count(&self) -> u64 {
        self.t
    }

    /// One Ranger step on every parameter of `model`. `grads` must hold an
    /// entry for each (see the module docs: allocate them up front).
    ///
    /// Names are those of `model.visit_params("", ..)`.
    pub fn update<M: Params<f32, D>, D: Device<f32>>(
        &mut self,
        model: &mut M,
        grads: &Gradients<f32, D>,
    ) -> Result<(), RangerError<D::Err>> {
        let mut pass = self.begin(grads);
        let mut visitor = ParamsWalk {
            pass: &mut pass,
            error: None,
        };
        model.visit_params("", &mut visitor);
        match visitor.error {
            Some(e) => Err(e),
            None => pass.finish().map_err(RangerError::State),
        }
    }

    /// Exports the per-parameter state for a checkpoint, in walk order.
    ///
    /// Keys are `ranger/{index}/{kind}/{name}` with `kind` one of `m`, `v`,
    /// `slow` (slow only while Lookahead is on) and `name` the parameter's name;
    /// values are the flattened (row-major) `f32` tensors. Parameters that never
    /// had a gradient have no entries. Store [`Ranger::step_count`] alongside.
    pub fn state_tensors(&self) -> Vec<(String, Vec<f32>)> {
        let mut out = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            let saved = match &slot.state {
                SlotState::Empty => continue,
                SlotState::Pending(saved) => saved.clone(),
                SlotState::Live(live) => live.export(),
            };
            let name = slot.name.as_deref().unwrap_or_default();
            out.push((format!("ranger/{index}/m/{name}"), saved.m));
            out.push((format!("ranger/{index}/v/{name}"), saved.v));
            if let Some(slow) = saved.slow {
                out.push((format!("ranger/{index}/slow/{name}"), slow));
            }
        }
        out
    }

    /// Restores a state exported by [`Ranger::state_tensors`] together with the
    /// step count `t` it was saved at, replacing the current state. The tensors
    /// are checked for consistency here and against the model (names and
    /// element counts) on the next update, where they are uploaded to the
    /// model's device. Training then continues exactly as it would have.
    pub fn load_state(
        &mut self,
        t: u64,
        tensors: impl IntoIterator<Item = (String, Vec<f32>)>,
    ) -> Result<(), StateError> {
        type Parts = (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>);
        let mut parts: Vec<Option<(String, Parts)>> = Vec::new();
        for (key, values) in tensors {
            let bad = || StateError(format!("malformed key {key:?}"));
            let rest = key.strip_prefix("ranger/").ok_or_else(bad)?;
            let mut it = rest.splitn(3, '/');
            let (index, kind, name) = match (it.next(), it.next(), it.next()) {
                (Some(i), Some(k), Some(n)) => (i.parse::<usize>().map_err(|_| bad())?, k, n),
                _ => return Err(bad()),
            };
            if parts.len() <= index {
                parts.resize_with(index + 1, || None);
            }
            let (slot_name, (m, v, slow)) =
                parts[index].get_or_insert_with(|| (name.to_string(), (None, None, None)));
            if slot_name.as_str() != name {
                return Err(StateError(format!(
                    "entry {index} is named both {slot_name:?} and {name:?}"
                )));
            }
            let target = match kind {
                "m" => m,
                "v" => v,
                "slow" => slow,
                _ => return Err(bad()),
            };
            if target.replace(values).is_some() {
                return Err(StateError(format!("duplicate key {key:?}")));
            }
        }
        let mut slots = Vec::with_capacity(parts.len());
        for (index, part) in parts.into_iter().enumerate() {
            let Some((name, (m, v, slow))) = part else {
                slots.push(Slot {
                    name: None,
                    state: SlotState::Empty,
                });
                continue;
            };
            let (Some(m), Some(v)) = (m, v) else {
                return Err(StateError(format!("entry {index} ({name:?}) lacks m or v")));
            };
            if v.len() != m.len() || slow.as_ref().is_some_and(|s| s.len() != m.len()) {
                return Err(StateError(format!(
                    "entry {index} ({name:?}) has tensors of different lengths"
                )));
            }
            slots.push(Slot {
                name: Some(name),
                state: SlotState::Pending(Saved { m, v, slow }),
            });
        }
        self.t = t;
        self.slots = slots;
        Ok(())
    }

    /// Starts one step: advances `t` and freezes the step's scalars.
    fn begin<'a, D: Device<f32>>(&'a mut self, grads: &'a Gradients<f32, D>) -> Pass<'a, D> {
        self.t = self.t.checked_add(1).expect("Ranger step counter overflow");
        Pass {
            sc: StepScalars::new(&self.cfg, self.t),
            slots: &mut self.slots,
            grads,
            index: 0,
        }
    }
}

// ---------------------------------------------------------------------------
// Per-step scalars
// ---------------------------------------------------------------------------

/// Everything of one step that does not depend on the parameter, in `f32`.
#[derive(Debug, Clone, Copy)]
struct StepScalars {
    b1: f32,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
    /// `1 - beta1^t`
    bias1: f32,
    /// `1 - beta2^t`
    bias2: f32,
    /// `Some(r_t)` in the rectified phase.
    rect: Option<f32>,
    eps: f32,
    lr: f32,
    wd: f32,
    lookahead: bool,
    sync: bool,
    alpha: f32,
}

impl StepScalars {
    fn new(cfg: &RangerConfig, t: u64) -> Self {
        let [b1, b2] = cfg.betas;
        let lookahead = cfg.lookahead_k > 0;
        Self {
            b1: b1 as f32,
            one_minus_b1: (1.0 - b1) as f32,
            b2: b2 as f32,
            one_minus_b2: (1.0 - b2) as f32,
            bias1: (1.0 - b1.powf(t as f64)) as f32,
            bias2: (1.0 - b2.powf(t as f64)) as f32,
            rect: cfg.rectifier(t).map(|r| r as f32),
            eps: cfg.eps as f32,
            lr: cfg.lr as f32,
            wd: cfg.weight_decay as f32,
            lookahead,
            sync: lookahead && t.is_multiple_of(cfg.lookahead_k),
            alpha: cfg.lookahead_alpha as f32,
        }
    }
}

// ---------------------------------------------------------------------------
// Per-parameter state
// ---------------------------------------------------------------------------

/// The live state of one parameter of shape `S` on device `D`.
struct Moments<S: Shape, D: Device<f32>> {
    m: Tensor<S, f32, D>,
    v: Tensor<S, f32, D>,
    slow: Option<Tensor<S, f32, D>>,
}

/// Host copy of one parameter's state (export / not yet uploaded import).
#[derive(Clone)]
struct Saved {
    m: Vec<f32>,
    v: Vec<f32>,
    slow: Option<Vec<f32>>,
}

/// Type erasure for [`Moments`]: `Any` to get the typed tensors back when the
/// walk visits the parameter again, `export` to read them without knowing `S`.
trait ErasedMoments {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn export(&self) -> Saved;
}

impl<S: Shape, D: Device<f32>> ErasedMoments for Moments<S, D> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn export(&self) -> Saved {
        Saved {
            m: self.m.as_vec(),
            v: self.v.as_vec(),
            slow: self.slow.as_ref().map(|s| s.as_vec()),
        }
    }
}

enum SlotState {
    /// Not stepped yet (state is created on the first step).
    Empty,
    /// Restored by [`Ranger::load_state`], uploaded on the next visit.
    Pending(Saved),
    Live(Box<dyn ErasedMoments>),
}

struct Slot {
    /// `None` only for a gap in a loaded state (accepts any name).
    name: Option<String>,
    state: SlotState,
}

impl Slot {
    /// The typed state for `p`, creating it (zeros) or uploading a restored one.
    fn moments<S: Shape, D: Device<f32>>(
        &mut self,
        index: usize,
        p: &Tensor<S, f32, D>,
    ) -> Result<&mut Moments<S, D>, RangerError<D::Err>> {
        let dev = p.device();
        let fresh = match std::mem::replace(&mut self.state, SlotState::Empty) {
            SlotState::Live(live) => live,
            SlotState::Empty => Box::new(Moments {
                m: dev.try_zeros_like(p.shape()).map_err(RangerError::Device)?,
                v: dev.try_zeros_like(p.shape()).map_err(RangerError::Device)?,
                slow: None, // set from `p` by `step_tensor` when Lookahead is on
            }),
            SlotState::Pending(saved) => {
                let n = p.shape().num_elements();
                if saved.m.len() != n {
                    let name = self.name.as_deref().unwrap_or_default();
                    let msg = format!(
                        "entry {index} ({name:?}) holds {} values but the parameter has {n}",
                        saved.m.len()
                    );
                    self.state = SlotState::Pending(saved);
                    return Err(StateError(msg).into());
                }
                let up = |x: Vec<f32>| dev.try_tensor_from_vec(x, *p.shape());
                Box::new(Moments {
                    m: up(saved.m).map_err(RangerError::Device)?,
                    v: up(saved.v).map_err(RangerError::Device)?,
                    slow: saved
                        .slow
                        .map(up)
                        .transpose()
                        .map_err(RangerError::Device)?,
                })
            }
        };
        self.state = SlotState::Live(fresh);
        let SlotState::Live(live) = &mut self.state else {
            unreachable!()
        };
        live.as_any_mut()
            .downcast_mut::<Moments<S, D>>()
            .ok_or_else(|| {
                let name = self.name.as_deref().unwrap_or_default();
                StateError(format!(
                    "entry {index} ({name:?}) was created for a tensor of another shape type or device"
                ))
                .into()
            })
    }
}

// ---------------------------------------------------------------------------
// The shared per-tensor step
// ---------------------------------------------------------------------------

/// One Ranger step on one tensor; see the module docs for the op order.
fn step_tensor<S: Shape, D: Device<f32>>(
    sc: &StepScalars,
    st: &mut Moments<S, D>,
    p: &mut Tensor<S, f32, D>,
    g: Tensor<S, f32, D>,
) -> Result<(), D::Err> {
    // Lookahead's slow weights start as the parameter before its first step.
    // (Also covers Lookahead being switched on mid-run; switched off drops them.)
    match (&st.slow, sc.lookahead) {
        (None, true) => st.slow = Some(p.clone()),
        (Some(_), false) => st.slow = None,
        _ => {}
    }

    if std::any::TypeId::of::<D>() == std::any::TypeId::of::<Cpu>() {
        step_on_host(sc, st, p, g);
        return Ok(());
    }

    // Moments, in place.
    st.m.try_axpy(sc.b1, &g, sc.one_minus_b1)?;
    let g2 = g.try_square()?;
    st.v.try_axpy(sc.b2, &g2, sc.one_minus_b2)?;
    drop(g2);

    // RAdam direction.
    let m_hat = st.m.clone().try_div(sc.bias1)?;
    let mut u = match sc.rect {
        Some(r) => {
            let denom =
                st.v.clone()
                    .try_div(sc.bias2)?
                    .try_sqrt()?
                    .try_add(sc.eps)?;
            m_hat.try_mul(r)?.try_div(denom)?
        }
        None => m_hat,
    };

    // Decoupled weight decay, from p before this step (TF-Addons: var_t += wd * var).
    if sc.wd != 0.0 {
        u = u.try_add(p.clone().try_mul(sc.wd)?)?;
    }

    // p <- p - lr * u, in place (keeps p's id). `-lr * u` is exact negation of `lr * u`.
    p.try_axpy(1.0f32, &u, -sc.lr)?;

    // Lookahead sync.
    if sc.sync {
        if let Some(slow) = st.slow.as_mut() {
            let diff = p.clone().try_sub(slow.clone())?;
            slow.try_axpy(1.0f32, &diff, sc.alpha)?;
            p.try_axpy(0.0f32, slow, 1.0f32)?;
        }
    }
    Ok(())
}

/// [`step_tensor`] on the CPU: the same f32 ops in the same order, one pass
/// over host copies instead of a dozen dfdx ops (each a single-threaded loop
/// and a fresh buffer), so the results are bit for bit those of the op chain.
fn step_on_host<S: Shape, D: Device<f32>>(
    sc: &StepScalars,
    st: &mut Moments<S, D>,
    p: &mut Tensor<S, f32, D>,
    g: Tensor<S, f32, D>,
) {
    let (mut ph, gh) = (owned_to_vec(p), owned_to_vec(&g));
    let (mut m, mut v) = (owned_to_vec(&st.m), owned_to_vec(&st.v));
    let mut slow = st.slow.as_ref().filter(|_| sc.sync).map(owned_to_vec);
    for i in 0..ph.len() {
        let g = gh[i];
        m[i] = m[i] * sc.b1 + g * sc.one_minus_b1;
        v[i] = v[i] * sc.b2 + (g * g) * sc.one_minus_b2;
        let m_hat = m[i] / sc.bias1;
        let mut u = match sc.rect {
            Some(r) => (m_hat * r) / ((v[i] / sc.bias2).sqrt() + sc.eps),
            None => m_hat,
        };
        if sc.wd != 0.0 {
            u += ph[i] * sc.wd;
        }
        ph[i] = ph[i] * 1.0 + u * -sc.lr;
        if let Some(s) = slow.as_mut() {
            let diff = ph[i] - s[i];
            s[i] = s[i] * 1.0 + diff * sc.alpha;
            ph[i] = ph[i] * 0.0 + s[i] * 1.0;
        }
    }
    p.copy_from(&ph);
    st.m.copy_from(&m);
    st.v.copy_from(&v);
    if let (Some(s), Some(t)) = (slow, st.slow.as_mut()) {
        t.copy_from(&s);
    }
}

/// One update in progress: the walk position and the step's scalars.
struct Pass<'a, D: Device<f32>> {
    sc: StepScalars,
    slots: &'a mut Vec<Slot>,
    grads: &'a Gradients<f32, D>,
    index: usize,
}

impl<D: Device<f32>> Pass<'_, D> {
    /// The per-parameter work: match the state entry by position (checking
    /// the name), then step.
    fn visit<S: Shape>(
        &mut self,
        name: &str,
        p: &mut Tensor<S, f32, D>,
    ) -> Result<(), RangerError<D::Err>> {
        let index = self.index;
        self.index += 1;
        if index == self.slots.len() {
            self.slots.push(Slot {
                name: None,
                state: SlotState::Empty,
            });
        }
        let slot = &mut self.slots[index];
        match &slot.name {
            None => slot.name = Some(name.to_string()),
            Some(known) if known != name => {
                return Err(StateError(format!(
                    "parameter {index} is {name:?}, but the state was built for {known:?}"
                ))
                .into())
            }
            Some(_) => {}
        }
        let g = self.grads.get(p);
        let st = slot.moments(index, p)?;
        step_tensor(&self.sc, st, p, g).map_err(RangerError::Device)
    }

    /// Checks that the walk covered every stored state entry.
    fn finish(self) -> Result<(), StateError> {
        match self.slots[self.index..]
            .iter()
            .position(|s| !matches!(s.state, SlotState::Empty))
        {
            None => Ok(()),
            Some(i) => Err(StateError(format!(
                "the model has {} parameters but the state has an entry at position {}",
                self.index,
                self.index + i
            ))),
        }
    }
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

/// [`Params`] walk: keeps the first error and leaves the remaining parameters alone.
struct ParamsWalk<'p, 'a, D: Device<f32>> {
    pass: &'p mut Pass<'a, D>,
    error: Option<RangerError<D::Err>>,
}

impl<D: Device<f32>> ParamVisitor<f32, D> for ParamsWalk<'_, '_, D> {
    fn visit<S: Shape>(&mut self, name: &str, tensor: &mut Tensor<S, f32, D>) {
        if self.error.is_none() {
            if let Err(e) = self.pass.visit(name, tensor) {
                self.error = Some(e);
            }
        }
    }
}
