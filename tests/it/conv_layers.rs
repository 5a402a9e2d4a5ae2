//! The stable-Rust conv, pool and batch-norm layers: forward values against
//! independent loops written from the definitions, the CPU im2col kernel
//! against the device-independent gather path, and every gradient against
//! central finite differences.

use conflicting_bundles::layers::*;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn dev() -> Cpu {
    Cpu::seed_from_u64(0)
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

type Shape4 = (usize, usize, usize, usize);

fn maps(dev: &Cpu, v: Vec<f32>, s: Shape4) -> Maps<Cpu> {
    dev.tensor_from_vec(v, s)
}

/// The weight gradient of `sum(conv(x, w) * cot)` from the definition, in
/// f64: dw[(ky,kx,i), o] = sum over b,oy,ox of x[b, oy*s+ky-p, ox*s+kx-p, i] * cot[b,oy,ox,o].
fn naive_weight_grad(x: &[f32], s: Shape4, cot: &[f32], o: usize, window: Window) -> Vec<f64> {
    let (b, h, wd, c) = s;
    let Window {
        kernel: k,
        stride,
        padding: pad,
    } = window;
    let (oh, ow) = (window.out_size(h), window.out_size(wd));
    let mut dw = vec![0.0f64; k * k * c * o];
    for bi in 0..b {
        for oy in 0..oh {
            for ox in 0..ow {
                for ky in 0..k {
                    for kx in 0..k {
                        let (y, xx) = (
                            (oy * stride + ky).checked_sub(pad),
                            (ox * stride + kx).checked_sub(pad),
                        );
                        let (Some(y), Some(xx)) = (y, xx) else {
                            continue;
                        };
                        if y >= h || xx >= wd {
                            continue;
                        }
                        for ic in 0..c {
                            let xv = x[((bi * h + y) * wd + xx) * c + ic] as f64;
                            for oc in 0..o {
                                let g = cot[((bi * oh + oy) * ow + ox) * o + oc] as f64;
                                dw[((ky * k + kx) * c + ic) * o + oc] += xv * g;
                            }
                        }
                    }
                }
            }
        }
    }
    dw
}

/// Direct convolution from the definition: out[b,oy,ox,o] =
/// sum over ky,kx,i of x[b, oy*s+ky-p, ox*s+kx-p, i] * w[(ky,kx,i), o], in f64.
fn naive_conv(
    x: &[f32],
    s: Shape4,
    w: &[f32],
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let (b, h, wd, c) = s;
    let oh = (h + 2 * pad - k) / stride + 1;
    let ow = (wd + 2 * pad - k) / stride + 1;
    let mut out = vec![0.0f64; b * oh * ow * o];
    for bi in 0..b {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..o {
                    let mut acc = 0.0f64;
                    for ky in 0..k {
                        for kx in 0..k {
                            let y = (oy * stride + ky) as isize - pad as isize;
                            let xx = (ox * stride + kx) as isize - pad as isize;
                            if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                continue;
                            }
                            for ic in 0..c {
                                let xv = x[((bi * h + y as usize) * wd + xx as usize) * c + ic];
                                let wv = w[((ky * k + kx) * c + ic) * o + oc];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    out[((bi * oh + oy) * ow + ox) * o + oc] = acc;
                }
            }
        }
    }
    out
}

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

#[test]
fn conv_matches_a_hand_computed_example() {
    // One 3x3 single-channel image, a 2x2 kernel, stride 1, no padding:
    // x = [1 2 3; 4 5 6; 7 8 9], w = [1 0; 0 -1] -> out = x[y][x] - x[y+1][x+1] = -4 everywhere.
    let dev = dev();
    let x = maps(&dev, (1..=9).map(|v| v as f32).collect(), (1, 3, 3, 1));
    let w = dev.tensor_from_vec(vec![1.0, 0.0, 0.0, -1.0], (4, 1));
    let conv = Conv2d::from_weight(w, 1, Window::new(2, 1, 0)).unwrap();
    assert_eq!(conv.forward(x.clone()).as_vec(), vec![-4.0; 4]);
    // With padding 1 and stride 2 the corners see the zero border:
    // windows start at (-1,-1), (-1,1), (1,-1), (1,1): out = -x[0][0], -x[0][2],
    // -x[2][0] and x[1][1] - x[2][2].
    let conv = Conv2d::from_weight(
        dev.tensor_from_vec(vec![1.0, 0.0, 0.0, -1.0], (4, 1)),
        1,
        Window::new(2, 2, 1),
    )
    .unwrap();
    assert_eq!(conv.forward(x).as_vec(), vec![-1.0, -3.0, -7.0, -4.0]);
}

#[test]
fn conv_forward_matches_direct_convolution() {
    let dev = dev();
    for (s, k, stride, pad) in [
        ((2, 7, 6, 3), 3, 1, 1),
        ((2, 9, 9, 3), 7, 2, 3),
        ((1, 8, 5, 3), 1, 2, 0),
        ((3, 5, 5, 3), 3, 2, 1),
    ] {
        let xv = random(s.0 * s.1 * s.2 * s.3, 1);
        let wv = random(k * k * 3 * 4, 2);
        let x = maps(&dev, xv.clone(), s);
        let w = dev.tensor_from_vec(wv.clone(), (k * k * 3, 4));
        let conv = Conv2d::from_weight(w, 3, Window::new(k, stride, pad)).unwrap();
        let got = conv.forward(x).as_vec();
        assert_close(
            &got,
            &naive_conv(&xv, s, &wv, 4, k, stride, pad),
            1e-5,
            "conv",
        );
    }
}

#[test]
fn cpu_im2col_kernel_equals_gather_path_forward_and_backward() {
    let dev = dev();
    for (s, window, pad_value) in [
        ((2, 6, 5, 3), Window::new(3, 1, 1), 0.0),
        ((3, 9, 9, 3), Window::new(7, 2, 3), 0.0),
        ((2, 7, 7, 3), Window::new(3, 2, 1), f32::NEG_INFINITY),
        ((1, 4, 4, 3), Window::new(1, 2, 0), 0.0),
    ] {
        let xv = random(s.0 * s.1 * s.2 * s.3, 3);
        let x = maps(&dev, xv, s);
        let fast = <Cpu as ConvDevice>::im2col(x.clone(), window, pad_value);
        let slow = im2col_by_gather(x.clone(), window, pad_value);
        assert_eq!(fast.shape(), slow.shape());
        assert_eq!(fast.as_vec(), slow.as_vec());

        // Backward: the same random cotangent through both.
        let n = fast.shape().0 * fast.shape().1;
        let cot = dev.tensor_from_vec(random(n, 4), *fast.shape());
        let g = |p: Patches<Cpu, OwnedTape<f32, Cpu>>| {
            let p = if pad_value.is_finite() { p } else { p.relu() };
            (p * cot.clone()).sum::<Rank0, _>().backward()
        };
        if pad_value.is_finite() {
            let gf = g(<Cpu as ConvDevice>::im2col(
                x.leaky_trace(),
                window,
                pad_value,
            ));
            let gs = g(im2col_by_gather(x.leaky_trace(), window, pad_value));
            assert_close(
                &gf.get(&x).as_vec(),
                &gs.get(&x)
                    .as_vec()
                    .iter()
                    .map(|&v| v as f64)
                    .collect::<Vec<_>>(),
                1e-6,
                "col2im",
            );
        }
    }
}

/// Central finite differences of `f` at `x` (in f64 sums over f32 forwards).
fn numeric_grad(x: &[f32], eps: f32, f: impl Fn(&[f32]) -> f64) -> Vec<f64> {
    let mut v = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = v[i];
            v[i] = orig + eps;
            let up = f(&v);
            v[i] = orig - eps;
            let down = f(&v);
            v[i] = orig;
            (up - down) / (2.0 * eps as f64)
        })
        .collect()
}

/// `sum(out * cot)` in f64: a scalar loss whose gradient is `cot` pulled back.
fn weighted_sum(out: &[f32], cot: &[f32]) -> f64 {
    out.iter()
        .zip(cot)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum()
}

// Finite differences in f32 with eps 1e-2 carry ~1e-4 absolute rounding
// noise per loss evaluation, hence the 2e-3 tolerances below.
const FD_EPS: f32 = 1e-2;
const FD_TOL: f64 = 2e-3;

#[test]
fn conv_gradients_match_finite_differences() {
    let dev = dev();
    let s = (2, 5, 5, 3);
    let window = Window::new(3, 2, 1);
    let xv = random(2 * 5 * 5 * 3, 5);
    let wv = random(9 * 3 * 2, 6);
    let cot = random(2 * 3 * 3 * 2, 7);
    let run = |xv: &[f32], wv: &[f32]| {
        let conv =
            Conv2d::from_weight(dev.tensor_from_vec(wv.to_vec(), (27, 2)), 3, window).unwrap();
        (conv.clone(), maps(&dev, xv.to_vec(), s))
    };
    let (conv, x) = run(&xv, &wv);
    let out = conv.forward(x.leaky_trace());
    let c = dev.tensor_from_vec(cot.clone(), *out.shape());
    let grads = (out * c).sum::<Rank0, _>().backward();
    let gx = grads.get(&x).as_vec();
    let gw = grads.get(&conv.weight).as_vec();
    let fx = numeric_grad(&xv, FD_EPS, |v| {
        let (conv, x) = run(v, &wv);
        weighted_sum(&conv.forward(x).as_vec(), &cot)
    });
    let fw = numeric_grad(&wv, FD_EPS, |v| {
        let (conv, x) = run(&xv, v);
        weighted_sum(&conv.forward(x).as_vec(), &cot)
    });
    assert_close(&gx, &fx, FD_TOL, "d/dx");
    assert_close(&gw, &fw, FD_TOL, "d/dw");
}

#[test]
fn max_pool_forward_and_gradient() {
    let dev = dev();
    let s = (2, 6, 5, 3);
    let pool = MaxPool2d::new(3, 2, 1);
    // Distinct values so no window has a tie (finite differences need that).
    let mut xv = random(s.0 * s.1 * s.2 * s.3, 8);
    xv.iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v += i as f32 * 1e-3);
    let x = maps(&dev, xv.clone(), s);
    let out = pool.forward(x.clone()).as_vec();
    // Oracle: max over the in-bounds part of each window.
    let (oh, ow) = (3usize, 3usize);
    let mut want = Vec::new();
    for b in 0..2 {
        for oy in 0..oh {
            for ox in 0..ow {
                for c in 0..3 {
                    let mut m = f64::NEG_INFINITY;
                    for y in (oy * 2).saturating_sub(1)..(oy * 2 + 2).min(6) {
                        for xx in (ox * 2).saturating_sub(1)..(ox * 2 + 2).min(5) {
                            m = m.max(xv[((b * 6 + y) * 5 + xx) * 3 + c] as f64);
                        }
                    }
                    want.push(m);
                }
            }
        }
    }
    assert_close(&out, &want, 0.0, "max pool");

    let cot = random(out.len(), 9);
    let y = pool.forward(x.leaky_trace());
    let c = dev.tensor_from_vec(cot.clone(), *y.shape());
    let g = (y * c).sum::<Rank0, _>().backward().get(&x).as_vec();
    // A small step keeps each window's winner (values are >= 1e-3 apart).
    let f = numeric_grad(&xv, 2e-4, |v| {
        weighted_sum(&pool.forward(maps(&dev, v.to_vec(), s)).as_vec(), &cot)
    });
    assert_close(&g, &f, 2e-2, "d max / dx");
}

#[test]
fn global_average_pool_is_the_pixel_mean() {
    let dev = dev();
    let xv = random(2 * 3 * 4 * 3, 10);
    let out = global_avg_pool(maps(&dev, xv.clone(), (2, 3, 4, 3))).as_vec();
    let want: Vec<f64> = (0..2)
        .flat_map(|b| {
            let xv = &xv;
            (0..3).map(move |c| {
                (0..12)
                    .map(|p| xv[(b * 12 + p) * 3 + c] as f64)
                    .sum::<f64>()
                    / 12.0
            })
        })
        .collect();
    assert_close(&out, &want, 1e-6, "gap");
}

#[test]
fn batch_norm_train_mode_normalizes_and_moves_running_stats() {
    let dev = dev();
    let s = (4, 3, 3, 3);
    let n = 4 * 9;
    let xv: Vec<f32> = random(n * 3, 11)
        .iter()
        .enumerate()
        .map(|(i, v)| v * 2.0 + (i % 3) as f32)
        .collect();
    let bn = BatchNorm::<Cpu>::new(&dev, 3);
    let y = bn.forward(maps(&dev, xv.clone(), s), Mode::Train).as_vec();
    for c in 0..3 {
        let col: Vec<f64> = (0..n).map(|i| y[i * 3 + c] as f64).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 1e-5, "channel {c} mean {mean}");
        assert!((var - 1.0).abs() < 1e-3, "channel {c} var {var}");
    }
    let (rm, rv) = bn.running_stats();
    for c in 0..3 {
        let col: Vec<f64> = (0..n).map(|i| xv[i * 3 + c] as f64).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!((rm[c] as f64 - 0.1 * mean).abs() < 1e-5);
        assert!((rv[c] as f64 - (0.9 + 0.1 * var)).abs() < 1e-4);
    }
    // Inference mode uses those running statistics, not the batch's.
    let yi = bn.forward(maps(&dev, xv.clone(), s), Mode::Infer).as_vec();
    for i in 0..n * 3 {
        let c = i % 3;
        let want = (xv[i] as f64 - rm[c] as f64) / (rv[c] as f64 + 1e-5).sqrt();
        assert!((yi[i] as f64 - want).abs() < 1e-4);
    }
}

#[test]
fn batch_norm_train_mode_gradients_match_finite_differences() {
    let dev = dev();
    let s = (2, 2, 3, 3);
    let xv = random(2 * 2 * 3 * 3, 12);
    let cot = random(xv.len(), 13);
    let mut bn = BatchNorm::<Cpu>::new(&dev, 3);
    bn.scale = dev.tensor_from_vec(vec![0.5, 1.5, -1.0], (3,));
    bn.bias = dev.tensor_from_vec(vec![0.1, -0.2, 0.3], (3,));
    let x = maps(&dev, xv.clone(), s);
    let y = bn.forward(x.leaky_trace(), Mode::Train);
    let c = dev.tensor_from_vec(cot.clone(), *y.shape());
    let grads = (y * c).sum::<Rank0, _>().backward();
    let f = |v: &[f32], bn: &BatchNorm<Cpu>| {
        weighted_sum(
            &bn.forward(maps(&dev, v.to_vec(), s), Mode::Train).as_vec(),
            &cot,
        )
    };
    let fx = numeric_grad(&xv, FD_EPS, |v| f(v, &bn));
    assert_close(&grads.get(&x).as_vec(), &fx, FD_TOL, "d bn / dx");
    let scale = bn.scale.as_vec();
    let fs = numeric_grad(&scale, FD_EPS, |v| {
        let mut b = bn.clone();
        b.scale = dev.tensor_from_vec(v.to_vec(), (3,));
        f(&xv, &b)
    });
    assert_close(
        &grads.get(&bn.scale).as_vec(),
        &fs,
        FD_TOL,
        "d bn / d scale",
    );
}

#[test]
fn permuted_rgb_input_gets_its_gradient_in_its_own_layout() {
    // The nets feed channels-first rows through a permute (NCHW -> NHWC): the
    // CPU kernel must return the input gradient in the view's layout, as the
    // gather path does.
    let dev = dev();
    let v = random(2 * 3 * 5 * 4, 21);
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.tensor_from_vec(v, (2, 3, 5, 4));
    let window = Window::new(3, 2, 1);
    let grad = |fast: bool| {
        let m: Maps<Cpu, _> = x.leaky_trace().permute::<_, Axes4<0, 2, 3, 1>>();
        let p = if fast {
            <Cpu as ConvDevice>::im2col(m, window, 0.0)
        } else {
            im2col_by_gather(m, window, 0.0)
        };
        let cot = dev.tensor_from_vec(random(p.shape().0 * p.shape().1, 22), *p.shape());
        (p * cot).sum::<Rank0, _>().backward().get(&x).as_vec()
    };
    assert_eq!(grad(true), grad(false));
}

/// Max |a - b| / (1 + |b|) over two equally long buffers.
fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
        .fold(0.0, f32::max)
}

#[test]
fn fused_cpu_conv_matches_im2col_and_matmul() {
    // The CPU's fused conv (im2col, its own AVX-512 / AVX2 kernels for 16k /
    // 8k output channels or gemm otherwise; the input gradient of a stride-1
    // conv as the transposed conv, of a strided one written into the patch
    // buffer and col2im'd) against im2col + dfdx matmul. Shapes cover every
    // register tile (8, 16, 32 and 64 columns), remainder rows, several row
    // tasks, inner sums longer than one block (288 weight rows; 120+ patch
    // rows in the weight gradient) and transposed paddings 0, 1 and 2.
    // The last shape has more pixels (4608) than several of the CPU conv's
    // patch chunks (455 rows of 288 values), so its weight gradient sums
    // partials over groups of chunks.
    let dev = dev();
    let mut rng = StdRng::seed_from_u64(32);
    let small = [(5, 4), (32, 8), (32, 16), (3, 24), (8, 32), (16, 64)].map(|c| ((2, 9, 7), c));
    for ((batch, rows, cols), (inputs, outputs)) in
        small.into_iter().chain([((8, 24, 24), (32, 32))])
    {
        let s = (batch, rows, cols, inputs);
        let xv = random(batch * rows * cols * inputs, 31);
        for window in [
            Window::new(3, 1, 1),
            Window::new(3, 1, 0),
            Window::new(1, 1, 0),
            Window::new(3, 2, 1),
            Window::new(1, 2, 0),
        ] {
            let conv = Conv2d::new(&dev, inputs, outputs, window, &mut rng);
            let run = |fused: bool| {
                let x = maps(&dev, xv.clone(), s);
                let out = if fused {
                    conv.forward(x.leaky_trace())
                } else {
                    conv2d_by_ops(x.leaky_trace(), &conv.weight, window)
                };
                let cot = dev.tensor_from_vec(random(out.shape().num_elements(), 33), *out.shape());
                let values = out.retaped::<NoneTape>().as_vec();
                let grads = (out * cot).sum::<Rank0, _>().backward();
                (
                    values,
                    grads.get(&x).as_vec(),
                    grads.get(&conv.weight).as_vec(),
                )
            };
            let (fused, ops) = (run(true), run(false));
            let case = format!("{batch}x{rows}x{cols}, {inputs} -> {outputs}, {window:?}");
            // f32 sums of up to a few hundred terms in another order.
            assert!(max_rel_diff(&fused.0, &ops.0) < 1e-5, "{case}: values");
            assert!(max_rel_diff(&fused.1, &ops.1) < 1e-5, "{case}: d/dx");
            if batch * rows * cols <= 126 {
                // One chunk: sums as short as above, compared as directly.
                assert!(max_rel_diff(&fused.2, &ops.2) < 1e-5, "{case}: d/dw");
            }
            // The weight gradient sums over every output pixel (up to 4608
            // here), where the fused conv adds chunks and groups of chunks in
            // its own order: both it and dfdx's matmul against the f64 sum
            // from the definition. f32 rounding grows with the running sum, so
            // the error is measured against the largest gradient (a term
            // dropped or counted twice would be ~1e-2 of it; rounding ~1e-6).
            let cot = random(fused.0.len(), 33);
            let exact = naive_weight_grad(&xv, s, &cot, outputs, window);
            let scale = 1.0 + exact.iter().fold(0f64, |m, v| m.max(v.abs()));
            let err = |v: &[f32]| {
                v.iter()
                    .zip(&exact)
                    .map(|(&a, &e)| (a as f64 - e).abs() / scale)
                    .fold(0.0, f64::max)
            };
            assert!(
                err(&fused.2) < 1e-5,
                "{case}: d/dw error {:e}",
                err(&fused.2)
            );
            assert!(
                err(&ops.2) < 1e-5,
                "{case}: dfdx's d/dw error {:e}",
                err(&ops.2)
            );
        }
    }
}

#[test]
fn fused_cpu_kernels_overwrite_every_reused_buffer() {
    // The fused kernels take their outputs and patch buffers from dfdx's
    // cache without zero-filling them (`Cpu::try_alloc_unfilled`). A pass
    // over NaN inputs leaves NaN buffers of every size they ask for in the
    // cache; a second pass must give the bits of a pass on a fresh device.
    let run = |dev: &Cpu, xv: Vec<f32>| {
        let mut rng = StdRng::seed_from_u64(61);
        let mut out = Vec::new();
        for window in [Window::new(3, 1, 1), Window::new(3, 2, 1)] {
            let conv = Conv2d::new(dev, 4, 8, window, &mut rng);
            let x = maps(dev, xv.clone(), (2, 6, 5, 4));
            let h = conv.forward(x.leaky_trace());
            let c = h.shape().3;
            let (scale, bias) = (dev.ones_like(&(c,)), dev.zeros_like(&(c,)));
            let (y, _) =
                <Cpu as ConvDevice>::batch_norm(h, &scale, &bias, &Stats::Batch, None, true);
            let cot = dev.tensor_from_vec(random(y.shape().num_elements(), 62), *y.shape());
            out.push(y.retaped::<NoneTape>().as_vec());
            let grads = (y * cot).sum::<Rank0, _>().backward();
            out.push(grads.get(&x).as_vec());
            out.push(grads.get(&conv.weight).as_vec());
        }
        out
    };
    let xv = random(2 * 6 * 5 * 4, 60);
    let fresh = run(&dev(), xv.clone());
    let cached = dev();
    cached.enable_cache();
    run(&cached, vec![f32::NAN; xv.len()]);
    assert_eq!(run(&cached, xv), fresh);
}

#[test]
fn fused_cpu_batch_norm_matches_the_op_chain() {
    // Every combination the nets use (train / given statistics, with or
    // without a residual add, with or without ReLU): values, the batch
    // statistics and the gradients of x, scale, bias and the residual against
    // `batch_norm_by_ops`. The fused kernel sums in f64 (the op chain in f32),
    // so the two agree to f32 rounding; with given statistics the values are
    // the same ops in the same order and must be bit-identical.
    let dev = dev();
    let s = (3, 4, 5, 6);
    let n = 3 * 4 * 5 * 6;
    let xv: Vec<f32> = random(n, 41)
        .iter()
        .enumerate()
        .map(|(i, v)| v * 3.0 + (i % 6) as f32 - 2.0)
        .collect();
    let skip_v = random(n, 42);
    let cot_v = random(n, 43);
    let scale = dev.tensor_from_vec(random(6, 44), (6,));
    let bias = dev.tensor_from_vec(random(6, 45), (6,));
    let given = Stats::Given {
        mean: dev.tensor_from_vec(random(6, 46), (6,)),
        var: dev.tensor_from_vec(random(6, 47).iter().map(|v| v + 1.5).collect(), (6,)),
    };
    for stats in [Stats::Batch, given] {
        for with_skip in [false, true] {
            for relu in [false, true] {
                let case = format!(
                    "{}, skip {with_skip}, relu {relu}",
                    if matches!(stats, Stats::Batch) {
                        "batch stats"
                    } else {
                        "given stats"
                    }
                );
                let run = |fused: bool| {
                    let x = maps(&dev, xv.clone(), s);
                    let skip = maps(&dev, skip_v.clone(), s);
                    let sk = with_skip.then(|| skip.leaky_trace());
                    let (y, batch) = if fused {
                        <Cpu as ConvDevice>::batch_norm(
                            x.leaky_trace(),
                            &scale,
                            &bias,
                            &stats,
                            sk,
                            relu,
                        )
                    } else {
                        batch_norm_by_ops(x.leaky_trace(), &scale, &bias, &stats, sk, relu)
                    };
                    let values = y.retaped::<NoneTape>().as_vec();
                    let cot = dev.tensor_from_vec(cot_v.clone(), s);
                    let grads = (y * cot).sum::<Rank0, _>().backward();
                    let batch = batch.map(|(m, v)| [m.as_vec(), v.as_vec()].concat());
                    let mut g = vec![
                        grads.get(&x).as_vec(),
                        grads.get(&scale).as_vec(),
                        grads.get(&bias).as_vec(),
                    ];
                    if with_skip {
                        g.push(grads.get(&skip).as_vec());
                    }
                    (values, batch, g)
                };
                let (fused, ops) = (run(true), run(false));
                if matches!(stats, Stats::Batch) {
                    assert!(max_rel_diff(&fused.0, &ops.0) < 1e-5, "{case}: values");
                    let (fb, ob) = (fused.1.unwrap(), ops.1.unwrap());
                    assert!(max_rel_diff(&fb, &ob) < 1e-5, "{case}: batch statistics");
                } else {
                    assert_eq!(fused.0, ops.0, "{case}: values");
                    assert!(fused.1.is_none() && ops.1.is_none());
                }
                for (k, (f, o)) in fused.2.iter().zip(&ops.2).enumerate() {
                    let d = max_rel_diff(f, o);
                    assert!(d < 1e-4, "{case}: gradient {k} differs by {d}");
                }
            }
        }
    }
}
