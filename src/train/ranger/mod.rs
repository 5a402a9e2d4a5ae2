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
//! Each device runs this step its own way, through
//! [`TrainDevice::update_param`]: the CPU in one pass over the buffers of
//! each parameter, its gradient and its state, in place (`cpu_kernel.rs`),
//! evaluating every line exactly as written, in this order (the same bits as
//! the dfdx op chain, which a test checks); CUDA as the dfdx op chain
//! (`ops_kernel.rs`), whose kernels may contract `a * b + c` into a fused
//! multiply-add, so CPU and GPU can differ in the last bit.
//!
//! # One way in
//!
//! [`Ranger::update`] walks any model implementing the project's [`Params`]
//! trait (runtime-depth models). Every parameter must have a gradient entry:
//! train with gradients allocated up front
//! ([`alloc_grads`](crate::layers::params::alloc_grads), as dfdx's own MNIST
//! example does with `model.alloc_grads()`), so a parameter the loss does not
//! reach gets a zero gradient; a missing entry is [`RangerError::NoGradient`].
//!
//! # State, per parameter and per device
//!
//! Like dfdx's `Adam`, which keeps its moments in a `Gradients` keyed by each
//! tensor's id, a step needs no knowledge of the parameter's shape: the
//! moments (`m`, `v`, and Lookahead's slow weights) of a parameter are flat
//! tensors of its element count on its device. They are keyed
//! by the parameter's name and its position in the model's walk
//! ([`Params::visit_params`] has a fixed order), which is also how a
//! checkpoint stores them; the name is checked on every step, so a walk that
//! changed is reported, never silently mixed up.
//!
//! A `Ranger` itself is not generic: it is created, and a checkpoint's state
//! loaded into it, before any update names the device, which the model and
//! gradients of each update then fix. It holds one table of moments per
//! device the crate runs on ([`PerDevice`]), from which each update picks its
//! device's own (all updates of one `Ranger` use one device; a second is
//! refused). A loaded state is held on the host until the next update
//! uploads it to that update's device.
//!
//! # Parameters are updated in place
//!
//! A parameter keeps its id (gradients are keyed by id) and, when its buffer
//! is not shared, its allocation: the CPU writes its buffer
//! ([`Tensor::storage_mut`]), the op chain writes through dfdx's in-place
//! `axpy`.

mod cpu_kernel;
mod ops_kernel;

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::device::{DeviceFamily, DeviceVisitor, PerDevice, TrainDevice};
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
    /// The gradients hold no entry for this parameter (allocate them up
    /// front, see the module docs).
    #[error("no gradient for parameter {0:?}: allocate the gradients up front (alloc_grads)")]
    NoGradient(String),
}

/// The Ranger optimizer (RAdam + Lookahead). See the module docs for the exact
/// update rule, the conventions and how the state is kept.
pub struct Ranger {
    /// Hyperparameters; may be changed between steps (e.g. an lr schedule).
    pub cfg: RangerConfig,
    t: u64,
    /// One per parameter, in walk order.
    slots: Vec<Slot>,
    /// The live moments, on the device of the updates.
    moments: PerDevice<MomentsFamily>,
}

/// A parameter's name and, between [`Ranger::load_state`] and the next
/// update, its restored state.
struct Slot {
    /// `None` only for a gap in a loaded state (accepts any name).
    name: Option<String>,
    pending: Option<Saved>,
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
            moments: PerDevice::default(),
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
    pub fn update<M: Params<f32, D>, D: TrainDevice>(
        &mut self,
        model: &mut M,
        grads: &Gradients<f32, D>,
    ) -> Result<(), RangerError<D::Err>> {
        if live_elsewhere::<D>(&self.moments) {
            return Err(StateError(
                "the state lives on another device than this update's".to_string(),
            )
            .into());
        }
        self.t = self.t.checked_add(1).expect("Ranger step counter overflow");
        let mut walk = Walk {
            step: RangerStep::new(&self.cfg, self.t),
            slots: &mut self.slots,
            live: D::pick_mut(&mut self.moments),
            grads,
            index: 0,
            error: None,
        };
        model.visit_params("", &mut walk);
        match walk.error {
            Some(e) => Err(e),
            None => walk.finish().map_err(RangerError::State),
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
            let saved = match &slot.pending {
                Some(saved) => saved.clone(),
                None => match export(&self.moments, index) {
                    Some(saved) => saved,
                    None => continue,
                },
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
                    pending: None,
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
                pending: Some(Saved { m, v, slow }),
            });
        }
        self.t = t;
        self.slots = slots;
        self.moments = PerDevice::default();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Per-step scalars
// ---------------------------------------------------------------------------

/// Everything of one step that does not depend on the parameter, in `f32`.
#[derive(Debug, Clone, Copy)]
struct RangerStep {
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

impl RangerStep {
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

/// One parameter's flat state vector on device `D`.
type Flat<D> = Tensor<(usize,), f32, D>;

/// The live state of one parameter on device `D`: `[m, v]`, then Lookahead's
/// slow weights while Lookahead is on, each flat (the parameter's element
/// count, in its memory order). One `Vec`, so a step passes the moments (and
/// on a sync step the slow weights) as one slice.
struct Moments<D: Storage<f32>>(Vec<Flat<D>>);

impl<D: TrainDevice> Moments<D> {
    /// Zero moments for a parameter of `n` values, or the restored `saved`
    /// ones (which must have `n` values), on `dev`.
    fn new(dev: &D, n: usize, saved: Option<Saved>) -> Result<Self, D::Err> {
        let Some(saved) = saved else {
            // Slow weights are added from the parameter by the walk.
            return Ok(Self(vec![
                dev.try_zeros_like(&(n,))?,
                dev.try_zeros_like(&(n,))?,
            ]));
        };
        let up = |x: Vec<f32>| dev.try_tensor_from_vec(x, (n,));
        let mut bufs = vec![up(saved.m)?, up(saved.v)?];
        if let Some(slow) = saved.slow {
            bufs.push(up(slow)?);
        }
        Ok(Self(bufs))
    }

    fn len(&self) -> usize {
        self.0[0].shape().0
    }

    fn export(&self) -> Saved {
        Saved {
            m: owned_to_vec(&self.0[0]),
            v: owned_to_vec(&self.0[1]),
            slow: self.0.get(2).map(owned_to_vec),
        }
    }
}

/// Host copy of one parameter's state (export / not yet uploaded import).
#[derive(Clone)]
struct Saved {
    m: Vec<f32>,
    v: Vec<f32>,
    slow: Option<Vec<f32>>,
}

/// Per parameter, in walk order, its moments on one device (`None`: not
/// stepped yet); a [`Ranger`] keeps one such table per device.
struct MomentsFamily;

impl DeviceFamily for MomentsFamily {
    type On<D: TrainDevice> = Vec<Option<Moments<D>>>;
}

/// Host copies of parameter `index`'s moments, on whichever device.
fn export(all: &PerDevice<MomentsFamily>, index: usize) -> Option<Saved> {
    struct Find(usize, Option<Saved>);
    impl DeviceVisitor<MomentsFamily> for Find {
        fn visit<D: TrainDevice>(&mut self, table: &Vec<Option<Moments<D>>>) {
            if let Some(Some(m)) = table.get(self.0) {
                self.1.get_or_insert_with(|| m.export());
            }
        }
    }
    let mut find = Find(index, None);
    all.visit(&mut find);
    find.1
}

/// Whether some device other than `D` holds moments.
fn live_elsewhere<D: TrainDevice>(all: &PerDevice<MomentsFamily>) -> bool {
    fn live<E: TrainDevice>(table: &[Option<Moments<E>>]) -> usize {
        table.iter().filter(|m| m.is_some()).count()
    }
    struct Count(usize);
    impl DeviceVisitor<MomentsFamily> for Count {
        fn visit<E: TrainDevice>(&mut self, table: &Vec<Option<Moments<E>>>) {
            self.0 += live(table);
        }
    }
    let mut all_live = Count(0);
    all.visit(&mut all_live);
    live(D::pick(all)) != all_live.0
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

/// One update in progress: the step's scalars, the walk position and the
/// first error (after which the remaining parameters are left alone).
struct Walk<'a, D: TrainDevice> {
    step: RangerStep,
    slots: &'a mut Vec<Slot>,
    live: &'a mut Vec<Option<Moments<D>>>,
    grads: &'a Gradients<f32, D>,
    index: usize,
    error: Option<RangerError<D::Err>>,
}

impl<D: TrainDevice> Walk<'_, D> {
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
                pending: None,
            });
        }
        if self.live.len() <= index {
            self.live.resize_with(index + 1, || None);
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
        if self.grads.get_ref_checked(p).is_none() {
            return Err(RangerError::NoGradient(name.to_string()));
        }
        let n = p.shape().num_elements();
        let moments = match &mut self.live[index] {
            Some(m) => m,
            empty => {
                if let Some(saved) = slot.pending.as_ref().filter(|s| s.m.len() != n) {
                    return Err(StateError(format!(
                        "entry {index} ({name:?}) holds {} values but the parameter has {n}",
                        saved.m.len()
                    ))
                    .into());
                }
                let m = Moments::new(p.device(), n, slot.pending.take());
                empty.insert(m.map_err(RangerError::Device)?)
            }
        };
        if moments.len() != n {
            return Err(StateError(format!(
                "entry {index} ({name:?}) holds {} values but the parameter has {n}",
                moments.len()
            ))
            .into());
        }
        // Lookahead's slow weights start as the parameter before its first
        // step (also when Lookahead is switched on mid-run; switched off
        // drops them).
        match (moments.0.len(), self.step.lookahead) {
            (2, true) => {
                let slow = p.clone().try_reshape_like(&(n,));
                moments.0.push(slow.map_err(RangerError::Device)?);
            }
            (3, false) => drop(moments.0.pop()),
            _ => {}
        }
        // The slow weights take part on sync steps only.
        let state = &mut moments.0[..if self.step.sync { 3 } else { 2 }];
        let sc = self.step;
        D::update_param(
            p,
            self.grads,
            state,
            |p, g, state| cpu_kernel::step(&sc, p, g, state),
            |p, g, state| ops_kernel::step(&sc, p, g, state),
        )
        .map_err(RangerError::Device)
    }

    /// Checks that the walk covered every stored state entry.
    fn finish(self) -> Result<(), StateError> {
        let stored = |i: usize| {
            self.slots[i].pending.is_some() || self.live.get(i).is_some_and(Option::is_some)
        };
        match (self.index..self.slots.len()).find(|&i| stored(i)) {
            None => Ok(()),
            Some(i) => Err(StateError(format!(
                "the model has {} parameters but the state has an entry at position {i}",
                self.index
            ))),
        }
    }
}

/// [`Params`] walk: keeps the first error and leaves the remaining parameters alone.
impl<D: TrainDevice> ParamVisitor<f32, D> for Walk<'_, D> {
    fn visit<S: Shape>(&mut self, name: &str, tensor: &mut Tensor<S, f32, D>) {
        if self.error.is_none() {
            if let Err(e) = Walk::visit(self, name, tensor) {
                self.error = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    use super::*;

    /// `steps` steps of a parameter of `n` values with random gradients, by
    /// the op chain or by the CPU's `update_param` with the CPU kernel; the
    /// parameter and its state after each step.
    fn trajectory(cfg: RangerConfig, n: usize, steps: u64, by_ops: bool) -> Vec<[Vec<f32>; 4]> {
        let dev = Cpu::default();
        let mut rng = SmallRng::seed_from_u64(n as u64);
        let init: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut p = dev.tensor_from_vec(init, (n,));
        let mut st = Moments::new(&dev, n, None).unwrap();
        let mut out = Vec::new();
        for t in 1..=steps {
            let sc = RangerStep::new(&cfg, t);
            let mut grads = Gradients::leaky();
            let g = grads.get_or_alloc_mut(&p).unwrap();
            // Some exact zeros (an unreached unit), some large values.
            g.iter_mut()
                .for_each(|g| *g = [0.0, rng.gen_range(-1.0..1.0), 50.0][rng.gen_range(0..3)]);
            if sc.lookahead && st.0.len() == 2 {
                st.0.push(p.clone());
            }
            let state = &mut st.0[..if sc.sync { 3 } else { 2 }];
            if by_ops {
                let g = grads.get(&p);
                ops_kernel::step(&sc, &mut p, g, state).unwrap();
            } else {
                let host =
                    |p: &mut [f32], g: &[f32], s: &mut [&mut [f32]]| cpu_kernel::step(&sc, p, g, s);
                Cpu::update_param(&mut p, &grads, state, host, |_, _, _| unreachable!()).unwrap();
            }
            let slow = st.0.get(2).map_or(Vec::new(), owned_to_vec);
            out.push([
                owned_to_vec(&p),
                owned_to_vec(&st.0[0]),
                owned_to_vec(&st.0[1]),
                slow,
            ]);
        }
        out
    }

    #[test]
    fn cpu_kernel_matches_the_op_chain() {
        let configs = [
            RangerConfig::default(),
            RangerConfig {
                weight_decay: 0.0,
                lookahead_k: 0,
                sma_threshold: 4.0,
                ..Default::default()
            },
            RangerConfig {
                lr: 0.5,
                lookahead_k: 3,
                lookahead_alpha: 0.8,
                ..Default::default()
            },
        ];
        // Three threads, so a parameter above the split size is stepped in parts.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            for cfg in configs {
                for n in [1, 7, 1000, 3 * crate::device::HOST_RUN + 5] {
                    // Warm-up, rectified steps and several Lookahead syncs.
                    let cpu = trajectory(cfg, n, 13, false);
                    let ops = trajectory(cfg, n, 13, true);
                    for (t, (a, b)) in cpu.iter().zip(&ops).enumerate() {
                        for (what, (a, b)) in ["p", "m", "v", "slow"].iter().zip(a.iter().zip(b)) {
                            let same = a.len() == b.len()
                                && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "{cfg:?}, n = {n}, step {}: {what} differs", t + 1);
                        }
                    }
                }
            }
        });
    }
}
