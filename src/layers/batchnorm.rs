//! Batch normalization over the channels of NHWC maps (statistics over batch
//! and pixels, as BatchNorm2d does).
//!
//! Training mode normalizes with the batch's mean and biased variance and
//! moves the running statistics (momentum 0.1, unbiased variance, as PyTorch);
//! inference mode uses the running statistics. The paper's code measures
//! bundles in inference mode, and so do the models here. `eps = 1e-5`.
//!
//! The running statistics sit behind a mutex so that a training forward pass
//! can update them through `&self` like every other layer call.

use std::sync::Mutex;

use dfdx::prelude::*;

use super::device::{ConvDevice, Stats};
use super::im2col::Maps;
use crate::layers::params::{ParamVisitor, Params};

/// Training (batch statistics) or inference (running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Infer,
}

pub const BN_EPS: f32 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

#[derive(Debug)]
pub struct BatchNorm<D: Device<f32>> {
    pub scale: Tensor<(usize,), f32, D>,
    pub bias: Tensor<(usize,), f32, D>,
    running: Mutex<Running<D>>,
}

#[derive(Clone, Debug)]
struct Running<D: Device<f32>> {
    mean: Tensor<(usize,), f32, D>,
    var: Tensor<(usize,), f32, D>,
}

impl<D: Device<f32>> Clone for BatchNorm<D> {
    fn clone(&self) -> Self {
        Self {
            scale: self.scale.clone(),
            bias: self.bias.clone(),
            running: Mutex::new(self.running().clone()),
        }
    }
}

impl<D: Device<f32>> BatchNorm<D> {
    /// Over `channels` channels: scale 1, bias 0, running mean 0 and variance 1.
    pub fn new(dev: &D, channels: usize) -> Self {
        let c = (channels,);
        Self {
            scale: dev.ones_like(&c),
            bias: dev.zeros_like(&c),
            running: Mutex::new(Running {
                mean: dev.zeros_like(&c),
                var: dev.ones_like(&c),
            }),
        }
    }

    pub fn channels(&self) -> usize {
        self.scale.shape().0
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Running<D>> {
        // A panic elsewhere cannot leave the two tensors half-written.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Running mean and variance (copies).
    pub fn running_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let r = self.running();
        (r.mean.as_vec(), r.var.as_vec())
    }

    pub fn forward<T: Tape<f32, D>>(&self, x: Maps<D, T>, mode: Mode) -> Maps<D, T>
    where
        D: ConvDevice,
    {
        self.forward_then(x, mode, None, false)
    }

    /// `forward`, then `+ skip` if given, then ReLU if `relu`: one fused op on
    /// devices that fuse them (see [`ConvDevice::batch_norm`]).
    pub fn forward_then<T: Tape<f32, D>>(
        &self,
        x: Maps<D, T>,
        mode: Mode,
        skip: Option<Maps<D, T>>,
        relu: bool,
    ) -> Maps<D, T>
    where
        D: ConvDevice,
    {
        let n = x.shape().0 * x.shape().1 * x.shape().2;
        let stats = match mode {
            Mode::Train => Stats::Batch,
            Mode::Infer => {
                let r = self.running();
                Stats::Given {
                    mean: r.mean.clone(),
                    var: r.var.clone(),
                }
            }
        };
        let (y, batch) = D::batch_norm(x, &self.scale, &self.bias, &stats, skip, relu);
        if let Some((mean, var)) = batch {
            self.update_running(mean, var, n);
        }
        y
    }

    fn update_running(
        &self,
        mean: Tensor<(usize,), f32, D>,
        var: Tensor<(usize,), f32, D>,
        n: usize,
    ) {
        let unbiased = if n > 1 {
            n as f32 / (n - 1) as f32
        } else {
            1.0
        };
        let mut r = self.running();
        r.mean = r.mean.clone() * (1.0 - BN_MOMENTUM) + mean * BN_MOMENTUM;
        r.var = r.var.clone() * (1.0 - BN_MOMENTUM) + var * (BN_MOMENTUM * unbiased);
    }
}

impl<D: Device<f32>> Params<f32, D> for BatchNorm<D> {
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(&format!("{prefix}.scale"), &mut self.scale);
        v.visit(&format!("{prefix}.bias"), &mut self.bias);
        let r = self.running.get_mut().unwrap_or_else(|p| p.into_inner());
        v.visit_buffer(&format!("{prefix}.running_mean"), &mut r.mean);
        v.visit_buffer(&format!("{prefix}.running_var"), &mut r.var);
    }
}
