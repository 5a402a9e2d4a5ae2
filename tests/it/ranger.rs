//! Tests of the Ranger optimizer (RAdam + Lookahead) in `train::ranger`.
//!
//! The reference values come from `Oracle`, an independent `f64` scalar
//! implementation written from the published rules (RAdam: Liu et al. 2020,
//! Algorithm 2 with TF-Addons' threshold `rho_t >= sma_threshold`, eps added to
//! `sqrt(v_hat)`, decoupled weight decay `p -= lr * (u + wd * p)`; Lookahead:
//! Zhang et al. 2019 with TF-Addons' sync on `t % k == 0`). It never calls the
//! implementation under test.

use conflicting_bundles::layers::params::*;
use conflicting_bundles::train::ranger::*;
use dfdx::prelude::*;

// ---------------------------------------------------------------------------
// The f64 oracle
// ---------------------------------------------------------------------------

struct Oracle {
    cfg: RangerConfig,
    t: i32,
    p: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    slow: Vec<f64>,
    /// Per step: (rectified?, lookahead synced?)
    log: Vec<(bool, bool)>,
}

impl Oracle {
    fn new(cfg: RangerConfig, p0: &[f64]) -> Self {
        Self {
            cfg,
            t: 0,
            p: p0.to_vec(),
            m: vec![0.0; p0.len()],
            v: vec![0.0; p0.len()],
            slow: p0.to_vec(),
            log: Vec::new(),
        }
    }

    fn step(&mut self, g: &[f64]) {
        let c = self.cfg;
        let (b1, b2) = (c.betas[0], c.betas[1]);
        self.t += 1;
        let t = self.t;
        let rho_inf = 2.0 / (1.0 - b2) - 1.0;
        let rho_t = rho_inf - 2.0 * t as f64 * b2.powi(t) / (1.0 - b2.powi(t));
        let rectified = rho_t >= c.sma_threshold;
        let r_t = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
            / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            .sqrt();
        let params = self.p.iter_mut().zip(&mut self.m).zip(&mut self.v);
        for (((p, m), v), &g) in params.zip(g) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let m_hat = *m / (1.0 - b1.powi(t));
            let v_hat = *v / (1.0 - b2.powi(t));
            let u = if rectified {
                r_t * m_hat / (v_hat.sqrt() + c.eps)
            } else {
                m_hat
            };
            *p -= c.lr * (u + c.weight_decay * *p);
        }
        let k = c.lookahead_k as i32;
        let sync = k > 0 && t % k == 0;
        if sync {
            for (p, slow) in self.p.iter_mut().zip(&mut self.slow) {
                *slow += c.lookahead_alpha * (*p - *slow);
                *p = *slow;
            }
        }
        self.log.push((rectified, sync));
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const P0: [f32; 5] = [1.0, -0.5, 0.3, 2.0, -1.5];

/// loss = sum_i (rate_i * p_i)^2, so dloss/dp_i = 2 rate_i^2 p_i.
fn quad_grads(
    p: &Tensor<Rank1<5>, f32, Cpu>,
    rate: &Tensor<Rank1<5>, f32, Cpu>,
) -> Gradients<f32, Cpu> {
    (p.leaky_trace() * rate.clone()).square().sum().backward()
}

/// Runs `steps` Ranger steps on the quadratic and compares every step with the
/// oracle. Returns the oracle's phase log and the largest error seen.
fn run_against_oracle(
    cfg: RangerConfig,
    rate: [f32; 5],
    steps: usize,
    tol: f64,
) -> (Vec<(bool, bool)>, f64) {
    let dev = Cpu::default();
    let mut p: Tensor<Rank1<5>, f32, Cpu> = dev.tensor(P0);
    let rate_t = dev.tensor(rate);
    let mut opt = Ranger::new(cfg);
    let mut oracle = Oracle::new(cfg, &P0.map(f64::from));
    let mut worst: f64 = 0.0;
    for step in 1..=steps {
        let grads = quad_grads(&p, &rate_t);
        opt.update(&mut p, &grads).unwrap();
        let g: Vec<f64> = (0..5)
            .map(|i| 2.0 * (rate[i] as f64).powi(2) * oracle.p[i])
            .collect();
        oracle.step(&g);
        assert_eq!(opt.step_count(), step as u64);
        // In place: `p` keeps its id, so the gradients (keyed by id) still find
        // it (`Gradients::get` panics on an unknown id).
        let _ = grads.get(&p);
        for (i, (&got, &want)) in p.array().iter().zip(&oracle.p).enumerate() {
            let err = (got as f64 - want).abs();
            worst = worst.max(err);
            assert!(
                err <= tol,
                "step {step}, element {i}: got {got}, oracle {want}, |err| {err:e} > {tol:e}"
            );
        }
    }
    (oracle.log, worst)
}

fn dataset(
    dev: &Cpu,
) -> (
    Tensor<Rank2<16, 4>, f32, Cpu>,
    Tensor<Rank2<16, 2>, f32, Cpu>,
) {
    // Deterministic inputs in [-1, 1]; targets from a fixed linear map.
    let x: Vec<f32> = (0..64)
        .map(|i| ((i * 37 % 29) as f32 / 14.0) - 1.0)
        .collect();
    let w = [[0.5f32, -1.0, 0.25, 2.0], [-0.75, 0.3, 1.5, -0.2]];
    let b = [0.1f32, -0.4];
    let y: Vec<f32> = (0..16)
        .flat_map(|n| {
            let x = &x;
            (0..2).map(move |o| b[o] + (0..4).map(|i| w[o][i] * x[n * 4 + i]).sum::<f32>())
        })
        .collect();
    (
        dev.tensor_from_vec(x, (Const, Const)),
        dev.tensor_from_vec(y, (Const, Const)),
    )
}

type Lin<const I: usize, const O: usize> = dfdx::nn::modules::Linear<I, O, f32, Cpu>;

fn mse_grads(
    model: &Lin<4, 2>,
    x: &Tensor<Rank2<16, 4>, f32, Cpu>,
    y: &Tensor<Rank2<16, 2>, f32, Cpu>,
) -> (f32, Gradients<f32, Cpu>) {
    let pred = model.forward(x.leaky_trace());
    let loss = mse_loss(pred, y.clone());
    (loss.array(), loss.backward())
}

fn copy_linear<const I: usize, const O: usize>(dev: &Cpu, src: &Lin<I, O>) -> Lin<I, O> {
    // Fresh tensors (new ids), same values.
    let mut dst = dev.build_module::<dfdx::nn::builders::Linear<I, O>, f32>();
    dst.weight = dev.tensor_from_vec(src.weight.as_vec(), *src.weight.shape());
    dst.bias = dev.tensor_from_vec(src.bias.as_vec(), *src.bias.shape());
    dst
}

// ---------------------------------------------------------------------------
// Oracle tests
// ---------------------------------------------------------------------------

/// Tolerance for the default configuration (lr 1e-3), f32 implementation vs
/// f64 oracle.
///
/// The parameters are rounded to f32 after every step; with |p| < 2 here that
/// is at most half an ulp, 1.2e-7, per step (a Lookahead sync adds one more
/// rounding of the slow weights, and the 0.5-average halves earlier errors).
/// The other f32 roundings (~6e-8 relative each, ~10 per step, including the
/// f32 gradient and the f32-rounded scalars 1 - beta^t, r_t) act on the update,
/// whose size is <= lr * (|u| + wd |p|) ~ 1e-3, so they add ~1e-9 per step.
/// Worst case after 14 steps: ~14 * 1.3e-7 = 1.8e-6 (observed: ~2e-7).
/// 3e-6 covers that and is still below every effect the test must resolve:
/// a rectified step moves p by lr * r_t * ~1 = 1.7e-5..6e-5 (a wrong r_t, a
/// missing bias correction or sqrt shows up in one step), weight decay by
/// lr * wd * |p| >= 3e-6 per step (accumulating over the run), a sync by half
/// the drift since the previous sync.
const TOL_DEFAULT: f64 = 3e-6;

#[test]
fn default_config_matches_f64_oracle_through_warmup_rectification_and_sync() {
    let cfg = RangerConfig::default();
    let (log, worst) = run_against_oracle(cfg, [0.1, 0.5, 1.0, 2.0, 0.01], 14, TOL_DEFAULT);
    eprintln!("default config: worst |f32 - f64| = {worst:e}");
    // With beta2 = 0.999: rho_4 = 3.997, rho_5 = 4.996, rho_6 = 5.994, so
    // with the TF-Addons threshold 5 steps 1..=5 are the momentum warm-up and
    // steps >= 6 are rectified; Lookahead syncs after steps 6 and 12.
    let rectified: Vec<bool> = log.iter().map(|l| l.0).collect();
    let synced: Vec<usize> = (1..=log.len()).filter(|&t| log[t - 1].1).collect();
    assert_eq!(rectified[..5], [false; 5]);
    assert!(rectified[5..].iter().all(|&r| r));
    assert_eq!(synced, [6, 12]);
}

/// Larger steps make every term big compared with f32 rounding: lr 0.05,
/// wd 0.1 (decay 5e-3 |p| per step), eps 1e-3 comparable to sqrt(v_hat) of the
/// element with rate 0.01 (|g| ~ 2e-4), so a misplaced eps is caught too.
///
/// Tolerance: as for `TOL_DEFAULT`, the rounding of p itself (<= 1.2e-7 per
/// step at |p| < 2), plus ~10 relative f32 roundings (6e-8) of an update that
/// is now up to ~0.3 in size (<= 2e-7 per step); the quadratic's factor
/// |1 - lr * 2 rate^2| <= 1 keeps earlier errors from growing. Worst case over
/// 14 steps ~14 * 3.2e-7 = 4.5e-6 (observed: ~1.3e-7); 1e-5 covers it and is
/// far below the effects: decay moves p by lr * wd * |p| >= 1.5e-3 per step, a
/// rectified step moves it by >= 2e-4 (eps misplaced, e.g. inside the sqrt,
/// changes the rate-0.01 element's step by ~2e-4), a sync by half the drift.
#[test]
fn large_step_config_matches_f64_oracle() {
    let cfg = RangerConfig {
        lr: 0.05,
        eps: 1e-3,
        weight_decay: 0.1,
        ..Default::default()
    };
    let (log, worst) = run_against_oracle(cfg, [0.01, 0.1, 0.5, 1.0, 1.5], 14, 1e-5);
    eprintln!("large-step config: worst |f32 - f64| = {worst:e}");
    assert_eq!(log.iter().filter(|l| l.1).count(), 2);
}

/// The RAdam paper's `rho_t > 4` (threshold 4): step 5 is already rectified.
#[test]
fn paper_threshold_four_rectifies_from_step_five() {
    let cfg = RangerConfig {
        sma_threshold: 4.0,
        ..Default::default()
    };
    let (log, _) = run_against_oracle(cfg, [0.1, 0.5, 1.0, 2.0, 0.01], 8, TOL_DEFAULT);
    let rectified: Vec<bool> = log.iter().map(|l| l.0).collect();
    assert_eq!(
        rectified,
        [false, false, false, false, true, true, true, true]
    );
    assert!(cfg.rectifier(4).is_none() && cfg.rectifier(5).is_some());
    assert!(RangerConfig::default().rectifier(5).is_none());
}

#[test]
fn lookahead_off_matches_plain_radam_oracle() {
    let cfg = RangerConfig {
        lookahead_k: 0,
        ..Default::default()
    };
    let (log, _) = run_against_oracle(cfg, [0.1, 0.5, 1.0, 2.0, 0.01], 9, TOL_DEFAULT);
    assert!(log.iter().all(|l| !l.1));
}

// ---------------------------------------------------------------------------
// Behaviour
// ---------------------------------------------------------------------------

#[test]
fn weight_decay_alone_shrinks_weights_with_zero_gradients() {
    let dev = Cpu::default();
    for lookahead_k in [0, 6] {
        let cfg = RangerConfig {
            lookahead_k,
            ..Default::default()
        };
        let mut p: Tensor<Rank1<5>, f32, Cpu> = dev.tensor(P0);
        let mut opt = Ranger::new(cfg);
        let mut grads = Gradients::leaky();
        grads.get_or_alloc_mut(&p).unwrap(); // an all-zero gradient entry
        let c = 1.0 - cfg.lr * cfg.weight_decay;
        let mut prev = P0;
        for t in 1..=13 {
            opt.update(&mut p, &grads).unwrap();
            let now = p.array();
            for i in 0..5 {
                // Strictly smaller than at the start, same sign.
                assert!(
                    now[i].abs() < P0[i].abs() && now[i] * P0[i] > 0.0,
                    "t={t} i={i}"
                );
                // Between syncs each step multiplies by exactly (1 - lr * wd).
                let synced = lookahead_k > 0 && t % 6 == 0;
                if !synced {
                    let want = prev[i] as f64 * c;
                    assert!((now[i] as f64 - want).abs() <= 2e-7, "t={t} i={i}");
                    assert!(now[i].abs() < prev[i].abs());
                }
            }
            if lookahead_k == 0 {
                for i in 0..5 {
                    let want = P0[i] as f64 * c.powi(t);
                    assert!((now[i] as f64 - want).abs() <= 1e-6, "t={t} i={i}");
                }
            }
            prev = now;
        }
    }
}

#[test]
fn tiny_linear_model_loss_decreases() {
    let dev = Cpu::seed_from_u64(0);
    let (x, y) = dataset(&dev);
    let mut model = dev.build_module::<dfdx::nn::builders::Linear<4, 2>, f32>();
    // RAdam's warm-up is long with beta2 = 0.999 (r_t ~ 0.03 at step 6, ~0.5
    // only after several hundred steps), so a larger lr than the default keeps
    // the test short.
    let mut opt = Ranger::new(RangerConfig {
        lr: 5e-2,
        ..Default::default()
    });
    let (initial, _) = mse_grads(&model, &x, &y);
    let mut loss = initial;
    for _ in 0..400 {
        let (l, grads) = mse_grads(&model, &x, &y);
        loss = l;
        opt.update(&mut model, &grads).unwrap();
    }
    eprintln!("linear model: loss {initial} -> {loss}");
    assert!(
        loss.is_finite() && loss < 0.05 * initial,
        "{initial} -> {loss}"
    );
}

/// A model with two parameters, one of which the loss does not use.
struct Pair {
    a: Tensor<Rank1<3>, f32, Cpu>,
    b: Tensor<Rank1<2>, f32, Cpu>,
}

impl Params<f32, Cpu> for Pair {
    fn visit_params<V: ParamVisitor<f32, Cpu>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(&format!("{prefix}a"), &mut self.a);
        v.visit(&format!("{prefix}b"), &mut self.b);
    }
}

#[test]
fn allocated_gradients_give_unreached_parameters_zeros() {
    // The trainer allocates a gradient for every parameter up front, so a
    // parameter the loss does not reach takes a zero-gradient step: its
    // moments stay zero and only the decoupled weight decay moves it,
    // p <- p - lr * wd * p per step (no Lookahead sync before step 6).
    let dev = Cpu::default();
    let mut m = Pair {
        a: dev.tensor([1.0, 2.0, 3.0]),
        b: dev.tensor([4.0, 5.0]),
    };
    let cfg = RangerConfig::default();
    let mut opt = Ranger::new(cfg);
    let mut b = [4.0f32, 5.0];
    for _ in 0..3 {
        let grads = alloc_grads(&mut m).unwrap();
        let grads = m.a.clone().trace(grads).square().sum().backward();
        opt.update(&mut m, &grads).unwrap();
        let k = -(cfg.lr as f32);
        b = b.map(|v| v + (v * cfg.weight_decay as f32) * k);
    }
    assert_eq!(m.b.array(), b);
    assert!(m.a.array()[0] < 1.0);
    let keys: Vec<String> = opt.state_tensors().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    let b_moments: Vec<Vec<f32>> = opt
        .state_tensors()
        .into_iter()
        .filter(|(k, _)| k.starts_with("ranger/1/m/") || k.starts_with("ranger/1/v/"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(b_moments, [vec![0.0; 2], vec![0.0; 2]]);
}

#[test]
fn state_round_trip_continues_identically() {
    let dev = Cpu::seed_from_u64(2);
    let (x, y) = dataset(&dev);
    let cfg = RangerConfig {
        lr: 1e-2,
        ..Default::default()
    };
    let mut a = dev.build_module::<dfdx::nn::builders::Linear<4, 2>, f32>();
    let mut opt_a = Ranger::new(cfg);
    for _ in 0..7 {
        let (_, g) = mse_grads(&a, &x, &y);
        opt_a.update(&mut a, &g).unwrap();
    }

    // Checkpoint: parameters + optimizer state, through JSON (f32 round-trips exactly).
    let json = serde_json::to_string(&(cfg, opt_a.step_count(), opt_a.state_tensors())).unwrap();
    let (cfg_b, t, tensors): (RangerConfig, u64, Vec<(String, Vec<f32>)>) =
        serde_json::from_str(&json).unwrap();
    assert_eq!(cfg_b, cfg);
    assert_eq!(t, 7);
    assert_eq!(tensors.len(), 6); // weight, bias x (m, v, slow)
    let mut b = copy_linear(&dev, &a);
    let mut opt_b = Ranger::new(cfg_b);
    opt_b.load_state(t, tensors).unwrap();
    assert_eq!(opt_b.step_count(), 7);
    assert_eq!(opt_b.state_tensors(), opt_a.state_tensors());

    // Steps 8..=20 cross the syncs at 12 and 18: bit-identical trajectories.
    for _ in 0..13 {
        let (la, ga) = mse_grads(&a, &x, &y);
        opt_a.update(&mut a, &ga).unwrap();
        let (lb, gb) = mse_grads(&b, &x, &y);
        opt_b.update(&mut b, &gb).unwrap();
        assert_eq!(la, lb);
        assert_eq!(a.weight.as_vec(), b.weight.as_vec());
        assert_eq!(a.bias.as_vec(), b.bias.as_vec());
    }
    assert_eq!(opt_a.state_tensors(), opt_b.state_tensors());
    assert_eq!(opt_b.step_count(), 20);

    // A fresh optimizer (no restored state) would have diverged.
    let mut c = copy_linear(&dev, &a);
    let mut opt_c = Ranger::new(cfg);
    let mut opt_d = opt_b;
    let (_, g) = mse_grads(&c, &x, &y);
    opt_c.update(&mut c, &g).unwrap();
    let (_, g) = mse_grads(&b, &x, &y);
    opt_d.update(&mut b, &g).unwrap();
    assert_ne!(c.weight.as_vec(), b.weight.as_vec());
}

#[test]
fn mismatched_or_malformed_state_is_rejected() {
    let dev = Cpu::default();
    let mut small = dev.build_module::<dfdx::nn::builders::Linear<4, 2>, f32>();
    let mut opt = Ranger::new(RangerConfig::default());
    let grads = small
        .forward(dev.ones::<Rank1<4>>().leaky_trace())
        .sum()
        .backward();
    opt.update(&mut small, &grads).unwrap();
    let state = opt.state_tensors();

    // Same names, different sizes: caught on the next update.
    let mut big = dev.build_module::<dfdx::nn::builders::Linear<4, 3>, f32>();
    let mut opt2 = Ranger::new(RangerConfig::default());
    opt2.load_state(1, state.clone()).unwrap();
    let grads = big
        .forward(dev.ones::<Rank1<4>>().leaky_trace())
        .sum()
        .backward();
    assert!(matches!(
        opt2.update(&mut big, &grads),
        Err(RangerError::State(_))
    ));

    // Different names.
    let mut pair = Pair {
        a: dev.tensor([1.0, 2.0, 3.0]),
        b: dev.tensor([4.0, 5.0]),
    };
    let mut opt3 = Ranger::new(RangerConfig::default());
    opt3.load_state(1, state.clone()).unwrap();
    let grads = pair.a.leaky_trace().sum().backward();
    assert!(matches!(
        opt3.update(&mut pair, &grads),
        Err(RangerError::State(_))
    ));

    // Malformed input.
    let mut opt4 = Ranger::new(RangerConfig::default());
    assert!(opt4
        .load_state(1, vec![("nope".to_string(), vec![0.0])])
        .is_err());
    let only_m = state.iter().filter(|(k, _)| k.contains("/m/")).cloned();
    assert!(opt4.load_state(1, only_m).is_err());
    let mut dup = state.clone();
    dup.push(state[0].clone());
    assert!(opt4.load_state(1, dup).is_err());
}

#[test]
fn config_defaults_and_serde() {
    let c = RangerConfig::default();
    assert_eq!(c.lr, 1e-3);
    assert_eq!(c.betas, [0.9, 0.999]);
    assert_eq!(c.eps, 1e-6);
    assert_eq!(c.weight_decay, 1e-2);
    assert_eq!(c.sma_threshold, 5.0);
    assert_eq!(c.lookahead_k, 6);
    assert_eq!(c.lookahead_alpha, 0.5);
    let partial: RangerConfig = serde_json::from_str(r#"{"lr": 0.01}"#).unwrap();
    assert_eq!(partial, RangerConfig { lr: 0.01, ..c });
}
