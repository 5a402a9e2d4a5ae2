//! The batch-entropy metric and regulariser: the tensor version against the
//! f64 definition, the loss against its formula, its gradient against finite
//! differences, and a regularised run that checkpoints its targets.

use std::path::Path;

use conflicting_bundles::criteria::{batch_entropy, batch_entropy_tensor};
use conflicting_bundles::data::{load_mnist, Dataset, DatasetKind, Split};
use conflicting_bundles::layers::params::{alloc_grads, ParamVisitor, Params};
use conflicting_bundles::models::{Classifier, Fnn};
use conflicting_bundles::train::lbe::{regularised, LbeConfig, LbeTargets, WithTargets};
use conflicting_bundles::train::*;
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};

type Net = Fnn<4, 3, Cpu>;

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

#[test]
fn tensor_batch_entropy_matches_the_f64_definition() {
    let dev: Cpu = Default::default();
    for (n, d, scale) in [(2, 1, 1.0), (64, 37, 3.0), (128, 5, 1e-3), (7, 11, 40.0)] {
        let v: Vec<f32> = random(n * d, n as u64).iter().map(|x| x * scale).collect();
        let want = batch_entropy(&v, n).unwrap();
        let got = batch_entropy_tensor(dev.tensor_from_vec(v, (n, d))).as_vec()[0] as f64;
        // f32 sums of at most 128 terms against f64: a few ulps of the result.
        assert!(
            (got - want).abs() <= 1e-5 * want.abs().max(1.0),
            "n {n} d {d}: {got} vs {want}"
        );
    }
    // A collapsed layer (every sample the same output) has none.
    let same = dev.tensor_from_vec([0.5f32, -2.0].repeat(16), (16, 2));
    assert_eq!(batch_entropy_tensor(same).as_vec()[0], 0.0);
}

/// Cross-entropy of a batch (mean over samples), on any tape.
fn ce<T: Tape<f32, Cpu>>(
    dev: &Cpu,
    logits: Tensor<(usize, Const<3>), f32, Cpu, T>,
    y: &[usize],
) -> Tensor<Rank0, f32, Cpu, T> {
    let mut hot = vec![0.0f32; y.len() * 3];
    for (i, &c) in y.iter().enumerate() {
        hot[i * 3 + c] = 1.0;
    }
    cross_entropy_with_logits_loss(logits, dev.tensor_from_vec(hot, (y.len(), Const)))
}

fn setup() -> (Cpu, Net, LbeTargets<Cpu>, LbeConfig, Vec<f32>, Vec<usize>) {
    let dev: Cpu = Default::default();
    let mut net = Net::new(&dev, 5, 3, 7).unwrap();
    // Nonzero biases everywhere: with the zero biases of a fresh net, a
    // sample whose layer input is all zeros sits exactly on a ReLU's kink,
    // where finite differences measure neither one-sided derivative.
    struct Biases(u64);
    impl ParamVisitor<f32, Cpu> for Biases {
        fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, Cpu>) {
            if name.ends_with("bias") {
                self.0 += 1;
                let v: Vec<f32> = random(t.shape().num_elements(), self.0)
                    .iter()
                    .map(|b| 0.3 * b)
                    .collect();
                t.copy_from(&v);
            }
        }
    }
    net.visit_params("", &mut Biases(100));
    // β large so the term, not the cross-entropy, dominates the gradient;
    // one target below α_min, so that the floor is exercised too.
    let cfg = LbeConfig {
        beta: 4.0,
        alpha_init: 1.5,
        alpha_min: 0.2,
    };
    let mut targets = LbeTargets::new(&dev, 3, &cfg);
    targets.alpha = dev.tensor_from_vec(vec![1.5, -0.9, 0.1], (3,));
    let x = random(8 * 4, 3);
    let y = vec![0, 1, 2, 0, 1, 2, 2, 1];
    (dev, net, targets, cfg, x, y)
}

/// The regularised loss without a tape.
fn loss_value(dev: &Cpu, net: &Net, t: &LbeTargets<Cpu>, x: &[f32], y: &[usize]) -> f64 {
    let out = net.forward_hidden(dev.tensor_from_vec(x.to_vec(), (y.len(), Const)));
    regularised(ce(dev, out.logits, y), out.hidden, t)
        .0
        .as_vec()[0] as f64
}

#[test]
fn the_loss_is_the_papers_formula() {
    let (dev, net, targets, cfg, x, y) = setup();
    let out = net.forward_hidden(dev.tensor_from_vec(x.clone(), (8, Const)));
    let ce_value = ce(&dev, out.logits.clone(), &y).as_vec()[0] as f64;
    // From the definitions, in f64: H_l per layer, max(α_min, |α_l|).
    let alpha = [1.5f64, 0.9, 0.2];
    let dev2: f64 = (out.hidden.iter().zip(alpha))
        .map(|(h, a)| (batch_entropy(&h.as_vec(), 8).unwrap() - a).powi(2))
        .sum::<f64>()
        / 3.0;
    let want = ce_value + cfg.beta * ce_value * dev2;
    let (loss, deviation) = regularised(ce(&dev, out.logits, &y), out.hidden, &targets);
    assert!(
        (deviation as f64 - dev2).abs() < 1e-5 * dev2.max(1.0),
        "{deviation} vs {dev2}"
    );
    let got = loss.as_vec()[0] as f64;
    assert!((got - want).abs() < 1e-5 * want, "{got} vs {want}");
    assert!(
        cfg.beta * ce_value * dev2 > 0.5 * ce_value,
        "the term should matter here"
    );
}

/// Every parameter's values by name, in walk order.
fn values<P: Params<f32, Cpu>>(p: &mut P) -> Vec<(String, Vec<f32>)> {
    struct V(Vec<(String, Vec<f32>)>);
    impl ParamVisitor<f32, Cpu> for V {
        fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, Cpu>) {
            self.0.push((name.into(), t.as_vec()));
        }
    }
    let mut v = V(vec![]);
    p.visit_params("", &mut v);
    v.0
}

/// Adds `delta` to entry `index` of the parameter called `name`.
fn nudge<P: Params<f32, Cpu>>(p: &mut P, name: &str, index: usize, delta: f32) {
    struct N<'a>(&'a str, usize, f32);
    impl ParamVisitor<f32, Cpu> for N<'_> {
        fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, Cpu>) {
            if name == self.0 {
                let mut v = t.as_vec();
                v[self.1] += self.2;
                t.copy_from(&v);
            }
        }
    }
    p.visit_params("", &mut N(name, index, delta));
}

#[test]
fn the_gradient_matches_finite_differences() {
    let (dev, mut net, mut targets, _, x, y) = setup();
    let grads = alloc_grads(&mut WithTargets(&mut net, Some(&mut targets))).unwrap();
    let xt = dev.tensor_from_vec(x.clone(), (8, Const)).trace(grads);
    let out = net.forward_train_hidden(xt);
    let (loss, _) = regularised(ce(&dev, out.logits, &y), out.hidden, &targets);
    let grads = loss.backward();
    let analytic: Vec<(String, Vec<f32>)> = {
        struct G<'a>(&'a Gradients<f32, Cpu>, Vec<(String, Vec<f32>)>);
        impl ParamVisitor<f32, Cpu> for G<'_> {
            fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, Cpu>) {
                self.1.push((name.into(), self.0.get(t).as_vec()));
            }
        }
        let mut g = G(&grads, vec![]);
        WithTargets(&mut net, Some(&mut targets)).visit_params("", &mut g);
        g.1
    };
    let names: Vec<String> = values(&mut WithTargets(&mut net, Some(&mut targets)))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.contains(&"lbe.alpha".to_string()), "{names:?}");
    // Central differences in f32: the loss is about 5 and f32 resolves it to
    // ~5e-7, so a step of 1e-3 leaves ~5e-4 of rounding in each quotient
    // (and a negligible h² truncation), hence 2e-3 absolute plus 2 % relative.
    let h = 1e-3f32;
    let mut checked = 0;
    for (name, g) in &analytic {
        for (i, &gi) in g.iter().enumerate() {
            let mut both = WithTargets(&mut net, Some(&mut targets));
            nudge(&mut both, name, i, h);
            let up = loss_value(&dev, &net, &targets, &x, &y);
            let mut both = WithTargets(&mut net, Some(&mut targets));
            nudge(&mut both, name, i, -2.0 * h);
            let down = loss_value(&dev, &net, &targets, &x, &y);
            let mut both = WithTargets(&mut net, Some(&mut targets));
            nudge(&mut both, name, i, h);
            let fd = (up - down) / (2.0 * h as f64);
            assert!(
                (fd - gi as f64).abs() <= 2e-3 + 2e-2 * fd.abs(),
                "{name}[{i}]: backward {gi}, finite differences {fd}"
            );
            checked += 1;
        }
    }
    // Every weight and bias of the 4-5-5-5-3 net and the 3 targets.
    assert_eq!(checked, (4 * 5 + 5) + 2 * (5 * 5 + 5) + (5 * 3 + 3) + 3);
    // The floored target (|0.1| < α_min) gets no gradient; the others do.
    let alpha = &analytic.iter().find(|(n, _)| n == "lbe.alpha").unwrap().1;
    assert_eq!(alpha[2], 0.0);
    assert!(alpha[0] != 0.0 && alpha[1] != 0.0, "{alpha:?}");
}

fn mnist() -> (Dataset, Dataset) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    let train = load_mnist(&dir, DatasetKind::Mnist, Split::Train)
        .unwrap()
        .take(640);
    let test = load_mnist(&dir, DatasetKind::Mnist, Split::Test)
        .unwrap()
        .take(200);
    (train, test)
}

fn trainer(epochs: usize, out: Option<&Path>) -> Trainer {
    Trainer {
        config: TrainConfig {
            epochs,
            seed: 3,
            bundle_samples: 128,
            lbe: Some(LbeConfig::deep_fnn()),
            ..Default::default()
        },
        out_dir: out.map(Path::to_path_buf),
        progress: ProgressMode::Off,
        label: "lbe".into(),
    }
}

#[test]
fn a_regularised_run_records_the_term_and_resumes_with_its_targets() {
    let (train, test) = mnist();
    let dev: Cpu = Default::default();
    let fit = |epochs, out: Option<&Path>| {
        let mut net = conflicting_bundles::models::MnistFnn::new(&dev, 8, 6, 1).unwrap();
        trainer(epochs, out)
            .fit(&dev, &mut net, &train, Some(&test))
            .unwrap()
    };
    let whole = fit(2, None);
    for e in &whole.epochs {
        assert!(
            e.lbe_deviation.is_some_and(|d| d.is_finite() && d > 0.0),
            "{e:?}"
        );
        assert_eq!(e.lbe_targets.len(), 6);
    }
    // The targets are learned: they moved from 2.0.
    assert!(whole.epochs[1].lbe_targets.iter().any(|&t| t != 2.0));
    // Every measurement has a batch entropy per layer.
    assert!(whole.bundles.iter().all(|b| b.batch_entropy.len() == 6));
    // Stopped after one epoch and resumed: the same numbers, which needs the
    // targets and their optimizer state from the checkpoint.
    let dir = tempfile::tempdir().unwrap();
    fit(1, Some(dir.path()));
    let resumed = fit(2, Some(dir.path()));
    let strip = |mut r: TrainReport| {
        r.epochs.iter_mut().for_each(|e| e.seconds = 0.0);
        r
    };
    assert_eq!(strip(resumed), strip(whole.clone()));
    // Without the regulariser the same net trains differently and records none.
    let mut net = conflicting_bundles::models::MnistFnn::new(&dev, 8, 6, 1).unwrap();
    let mut t = trainer(2, None);
    t.config.lbe = None;
    let plain = t.fit(&dev, &mut net, &train, Some(&test)).unwrap();
    assert!(plain
        .epochs
        .iter()
        .all(|e| e.lbe_deviation.is_none() && e.lbe_targets.is_empty()));
    assert_ne!(plain.epochs[1].train_loss, whole.epochs[1].train_loss);
}

#[test]
fn bad_regulariser_settings_are_refused() {
    let (train, _) = mnist();
    let dev: Cpu = Default::default();
    let mut net = conflicting_bundles::models::MnistFnn::new(&dev, 8, 3, 1).unwrap();
    let mut t = trainer(1, None);
    t.config.lbe = Some(LbeConfig {
        beta: -1.0,
        ..LbeConfig::deep_fnn()
    });
    let e = t.fit(&dev, &mut net, &train, None).unwrap_err().to_string();
    assert!(e.contains("lbe.beta must be a number >= 0"), "{e}");
    t.config.lbe = Some(LbeConfig::deep_fnn());
    t.config.batch_size = 1;
    let e = t.fit(&dev, &mut net, &train, None).unwrap_err().to_string();
    assert!(e.contains("batches of at least 2"), "{e}");
}
