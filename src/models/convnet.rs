//! The VGG and ResNet nets of §3.4–3.5 as one type: the same stem, stages,
//! blocks and head; a ResNet block adds its shortcut, a VGG block does not.
//!
//! Following the paper and its published code: stem conv 7×7 stride 2, batch
//! norm, ReLU (plus a 3×3 stride-2 max pool for images wider than 50 px); four
//! stages of blocks at 64/128/256/512 filters (÷ the width divisor), stride 2
//! entering stages 2–4; each block two 3×3 convs with batch norm, ReLU after
//! each (the ResNet adds the identity, or a 1×1 projection where the shape
//! changes, before the second ReLU); global average pooling; a linear layer.
//! Depth = 2 + 2 × blocks; a stage may be empty (auto-tune prunes stages
//! away): it adds no block and no stride-2 step.
//!
//! Hidden activations for the metric ([`Row`]), as the authors' code
//! measures them (`models/vggnet.py`, `vgg_block.py`, `residual_block.py`):
//! every block's output; for a ResNet block also its branch after the ReLU
//! (their `output_without_residual`, recorded after the block output); then
//! the pooled features before the head (measured in their commits of the
//! paper's period). The stem output, which they do not measure, comes first
//! as an extra row. Each row's `w_max` is theirs too (commit 22556fc,
//! `_get_weight_amplitude`): the largest mean absolute value among the
//! trainable tensors of the layer that produced it ([`ConvNet::row_w_max`]).
//!
//! Channel widths ([`Widths`]) and blocks per stage are run-time values (users
//! sweep widths; auto-tune prunes blocks); the input size is checked against
//! the image shape the net was built for.

use std::fmt;

use anyhow::{bail, ensure, Result};
use dfdx::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::size::{check_trainable, dense_params};
use super::{max_abs, mean_abs, Batch, Classifier, Flat, HiddenOutputs, Logits, TrainOutputs};
use crate::layers::init::{he_uniform, model_rng};
use crate::layers::params::{ParamVisitor, Params};
use crate::layers::{
    global_avg_pool, BatchNorm, Conv2d, ConvDevice, Maps, MaxPool2d, Mode, Window,
};
use crate::util::ImageShape;

/// The paper's filters per stage; [`Widths::divided`] scales them down.
pub const PAPER_WIDTHS: [usize; 4] = [64, 128, 256, 512];

/// Channels of the four stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Widths(pub [usize; 4]);

impl Widths {
    /// Explicit channel counts, each at least 1.
    pub fn new(channels: [usize; 4]) -> Result<Self> {
        ensure!(
            channels.iter().all(|&c| c >= 1),
            "every stage needs at least one channel: {channels:?}"
        );
        Ok(Self(channels))
    }

    /// The paper's 64/128/256/512 divided by `divisor` (rounded down); any
    /// divisor that leaves every stage at least one channel (1..=64).
    pub fn divided(divisor: usize) -> Result<Self> {
        ensure!(
            (1..=PAPER_WIDTHS[0]).contains(&divisor),
            "width divisor {divisor} must be between 1 and {} (64 / divisor channels in the first stage)",
            PAPER_WIDTHS[0]
        );
        Ok(Self(PAPER_WIDTHS.map(|c| c / divisor)))
    }
}

impl fmt::Display for Widths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}/{b}/{c}/{d}")
    }
}

/// Plain (VGG) or residual (ResNet) blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Vgg,
    Resnet,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::Vgg => "vgg",
            Arch::Resnet => "resnet",
        })
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "vgg" => Ok(Arch::Vgg),
            "resnet" => Ok(Arch::Resnet),
            _ => Err(format!(
                "unknown architecture {s:?} (expected vgg or resnet)"
            )),
        }
    }
}

/// Architecture and blocks per stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvSpec {
    pub arch: Arch,
    pub blocks: [usize; 4],
}

/// Blocks per stage of the paper's 120-layer net (auto-tune's start).
pub const BLOCKS_120: [usize; 4] = [3, 12, 41, 3];

/// The authors' blocks per stage for each depth of the paper
/// (`models/factory.py`, `get_blocks`).
pub const PAPER_BLOCKS: [(usize, [usize; 4]); 8] = [
    (4, [1, 0, 0, 0]),
    (10, [1, 1, 1, 1]),
    (20, [2, 2, 3, 2]),
    (30, [3, 3, 5, 3]),
    (50, [3, 6, 12, 3]),
    (76, [3, 6, 25, 3]),
    (100, [3, 12, 31, 3]),
    (120, BLOCKS_120),
];

/// What one measured hidden row of a [`ConvNet`] is (stage and block
/// 0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Row {
    /// The stem's output (not measured by the authors; an extra row).
    Stem,
    /// A block's output.
    Block { stage: usize, index: usize },
    /// A residual block's branch after its ReLU, before the shortcut's add.
    Branch { stage: usize, index: usize },
    /// The globally pooled features the head takes.
    Pooled,
}

impl fmt::Display for Row {
    /// `stem`, `s3.b7` (stage 3, block 7, both 1-based), `s3.b7 branch`, `pool`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Row::Stem => f.write_str("stem"),
            Row::Block { stage, index } => write!(f, "s{}.b{}", stage + 1, index + 1),
            Row::Branch { stage, index } => write!(f, "s{}.b{} branch", stage + 1, index + 1),
            Row::Pooled => f.write_str("pool"),
        }
    }
}

impl ConvSpec {
    /// Layers with weights: stem + 2 per block + the linear head.
    pub fn depth(&self) -> usize {
        2 + 2 * self.num_blocks()
    }

    pub fn num_blocks(&self) -> usize {
        self.blocks.iter().sum()
    }

    /// A net of `depth` layers. The depths of the paper (4, 10, 20, 30, 50,
    /// 76, 100, 120) take the authors' blocks per stage ([`PAPER_BLOCKS`],
    /// their `models/factory.py`). Any other even depth >= 10 spreads its
    /// blocks in the proportions of the 120-layer net (3:12:41:3, at least
    /// one per stage, by largest remainder), which gives the table's 10 and
    /// 120 but not its 20-100.
    pub fn for_depth(arch: Arch, depth: usize) -> anyhow::Result<Self> {
        if let Some(&(_, blocks)) = PAPER_BLOCKS.iter().find(|(d, _)| *d == depth) {
            return Ok(Self { arch, blocks });
        }
        if depth < 10 || !depth.is_multiple_of(2) {
            anyhow::bail!(
                "depth {depth} is not one of the paper's (4, 10, 20, 30, 50, 76, 100, 120) nor 2 + 2 × blocks with at least one block per stage (an even number >= 10)"
            );
        }
        // Far beyond any net that fits in memory, and small enough that the
        // shares below are exact in f64.
        const MAX_DEPTH: usize = 1_000_000;
        if depth > MAX_DEPTH {
            anyhow::bail!("depth {depth} is more than {MAX_DEPTH} layers");
        }
        let n = (depth - 2) / 2;
        let total: usize = BLOCKS_120.iter().sum();
        // One block per stage first, the rest by share of the 120-layer net.
        let spare = n - 4;
        let share = |s: usize| (BLOCKS_120[s] - 1) as f64 * spare as f64 / (total - 4) as f64;
        let mut blocks = [0usize; 4];
        for (s, b) in blocks.iter_mut().enumerate() {
            *b = 1 + share(s).floor() as usize;
        }
        let mut order: Vec<usize> = (0..4).collect();
        order.sort_by(|&a, &b| {
            let frac = |s: usize| share(s) - share(s).floor();
            frac(b).total_cmp(&frac(a)).then(a.cmp(&b))
        });
        let mut missing = n - blocks.iter().sum::<usize>();
        for s in order.into_iter().cycle() {
            if missing == 0 {
                break;
            }
            blocks[s] += 1;
            missing -= 1;
        }
        Ok(Self { arch, blocks })
    }

    /// The measured hidden rows in order (see the module docs).
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = vec![Row::Stem];
        for (stage, &n) in self.blocks.iter().enumerate() {
            for index in 0..n {
                rows.push(Row::Block { stage, index });
                if self.arch == Arch::Resnet {
                    rows.push(Row::Branch { stage, index });
                }
            }
        }
        rows.push(Row::Pooled);
        rows
    }

    /// The (stage, block within the stage) that hidden row `row` (1-based,
    /// as [`crate::models::Classifier`]'s layers are numbered; row 1 is the
    /// stem) belongs to; `None` for the stem, the pooled features and rows
    /// past the end.
    pub fn locate(&self, row: usize) -> Option<(usize, usize)> {
        match self.rows().get(row.checked_sub(1)?)? {
            Row::Block { stage, index } | Row::Branch { stage, index } => Some((*stage, *index)),
            Row::Stem | Row::Pooled => None,
        }
    }
}

impl fmt::Display for ConvSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.blocks;
        write!(
            f,
            "{}-{} (blocks {}/{}/{}/{})",
            self.arch,
            self.depth(),
            b[0],
            b[1],
            b[2],
            b[3]
        )
    }
}

/// Conv + batch norm: the unit every block is made of.
#[derive(Clone, Debug)]
struct ConvBn<D: ConvDevice> {
    conv: Conv2d<D>,
    bn: BatchNorm<D>,
}

impl<D: ConvDevice> ConvBn<D> {
    fn new(dev: &D, inputs: usize, outputs: usize, window: Window, rng: &mut impl Rng) -> Self {
        Self {
            conv: Conv2d::new(dev, inputs, outputs, window, rng),
            bn: BatchNorm::new(dev, outputs),
        }
    }

    fn forward<T: Tape<f32, D>>(&self, x: Maps<D, T>, mode: Mode) -> Maps<D, T> {
        self.bn.forward(self.conv.forward(x), mode)
    }

    /// `forward`, then `+ skip`, then ReLU, fused where the device fuses them.
    fn forward_then<T: Tape<f32, D>>(
        &self,
        x: Maps<D, T>,
        mode: Mode,
        skip: Option<Maps<D, T>>,
        relu: bool,
    ) -> Maps<D, T> {
        self.bn.forward_then(self.conv.forward(x), mode, skip, relu)
    }

    fn visit<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.conv.visit_params(&format!("{prefix}.conv"), v);
        self.bn.visit_params(&format!("{prefix}.bn"), v);
    }

    /// The largest mean absolute value among its trainable tensors: kernel,
    /// batch-norm scale and shift. (The authors' convs also carry a bias,
    /// initialised at 0 and redundant before a batch norm; ours have none.)
    fn amplitude(&self) -> f32 {
        mean_abs(&self.conv.weight)
            .max(mean_abs(&self.bn.scale))
            .max(mean_abs(&self.bn.bias))
    }
}

/// What a block adds to its output.
#[derive(Clone, Debug)]
enum Shortcut<D: ConvDevice> {
    /// VGG: nothing.
    None,
    /// ResNet, same shape: the input itself.
    Identity,
    /// ResNet, shape changes: 1×1 conv (with the block's stride) + batch norm.
    Projection(Box<ConvBn<D>>),
}

#[derive(Clone, Debug)]
struct Block<D: ConvDevice> {
    a: ConvBn<D>,
    b: ConvBn<D>,
    shortcut: Shortcut<D>,
    /// Lesioned: the block's output is its shortcut's, after the ReLU, or
    /// for a VGG block its input (see [`ConvNet::set_lesion`]).
    bypassed: bool,
}

impl<D: ConvDevice> Block<D> {
    fn new(
        dev: &D,
        arch: Arch,
        (inputs, outputs): (usize, usize),
        stride: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let shortcut = match arch {
            Arch::Vgg => Shortcut::None,
            Arch::Resnet if stride == 1 && inputs == outputs => Shortcut::Identity,
            Arch::Resnet => Shortcut::Projection(Box::new(ConvBn::new(
                dev,
                inputs,
                outputs,
                Window::new(1, stride, 0),
                rng,
            ))),
        };
        Self {
            a: ConvBn::new(dev, inputs, outputs, Window::new(3, stride, 1), rng),
            b: ConvBn::new(dev, outputs, outputs, Window::new(3, 1, 1), rng),
            shortcut,
            bypassed: false,
        }
    }

    /// Whether its output has its input's shape (same channels, stride 1):
    /// only then can a VGG block, which has no shortcut, be skipped.
    fn keeps_shape(&self) -> bool {
        self.a.conv.inputs == self.b.conv.outputs() && self.a.conv.window.stride == 1
    }

    /// Whether [`ConvNet::set_lesion`] can remove it: a ResNet block falls
    /// back on its shortcut, a VGG block on its input where the shapes agree.
    fn removable(&self) -> bool {
        !matches!(self.shortcut, Shortcut::None) || self.keeps_shape()
    }

    /// The block's output; its rows go to `rows` if given (the output, then
    /// for a ResNet block the branch after its ReLU).
    fn forward<T: Tape<f32, D>>(
        &self,
        x: Maps<D, T>,
        mode: Mode,
        rows: &mut Option<&mut Vec<Flat<D, T>>>,
    ) -> Maps<D, T> {
        let residual = !matches!(self.shortcut, Shortcut::None);
        if self.bypassed {
            // The branch row keeps the rows aligned with the spec's (a VGG
            // block has none).
            let branch = (rows.is_some() && residual).then(|| {
                let h = self.a.forward(x.retaped::<NoneTape>(), mode);
                self.b.forward(h, mode).relu()
            });
            let out = match &self.shortcut {
                // The input is a ReLU's output already: ReLU(x) = x. A
                // skipped VGG block passes it on as it is (set_lesion only
                // skips one whose shapes agree).
                Shortcut::Identity | Shortcut::None => x,
                Shortcut::Projection(p) => p.forward(x, mode).relu(),
            };
            if let Some(rows) = rows {
                rows.push(flat(&out));
                if let Some(branch) = branch {
                    rows.push(flat(&branch).retaped::<T>());
                }
            }
            return out;
        }
        let skip = match &self.shortcut {
            Shortcut::None => None,
            Shortcut::Identity => Some(x.retaped::<T>()),
            Shortcut::Projection(p) => Some(p.forward(x.retaped::<T>(), mode)),
        };
        let a = self.a.forward_then(x, mode, None, true);
        let Some(rows) = rows else {
            return self.b.forward_then(a, mode, skip, true);
        };
        let h = self.b.forward(a, mode);
        // On a training tape the branch's ReLU is part of the graph a loss
        // on the rows differentiates through.
        let branch = residual.then(|| h.retaped::<T>().relu());
        let out = match skip {
            Some(s) => (h + s).relu(),
            None => h.relu(),
        };
        rows.push(flat(&out));
        if let Some(b) = branch {
            rows.push(flatten(b));
        }
        out
    }

    fn visit<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.a.visit(&format!("{prefix}.a"), v);
        self.b.visit(&format!("{prefix}.b"), v);
        if let Shortcut::Projection(p) = &mut self.shortcut {
            p.visit(&format!("{prefix}.shortcut"), v);
        }
    }

    fn max_abs(&self) -> f32 {
        let s = match &self.shortcut {
            Shortcut::Projection(p) => max_abs(&p.conv.weight),
            _ => 0.0,
        };
        max_abs(&self.a.conv.weight)
            .max(max_abs(&self.b.conv.weight))
            .max(s)
    }

    /// The authors' amplitude of a block: the largest mean absolute value
    /// among its trainable tensors (the projection shortcut's included).
    fn amplitude(&self) -> f32 {
        let shortcut = match &self.shortcut {
            Shortcut::Projection(p) => p.amplitude(),
            _ => 0.0,
        };
        self.a.amplitude().max(self.b.amplitude()).max(shortcut)
    }
}

/// A copy of `h` flattened to `(N, H·W·C)`, with an empty tape of `T` (on a
/// training tape, a loss on the copy differentiates back through `h`).
fn flat<D: Device<f32>, T: Tape<f32, D>>(h: &Maps<D, T>) -> Flat<D, T> {
    flatten(h.retaped::<T>())
}

/// `h` flattened to `(N, H·W·C)`, keeping its tape.
fn flatten<D: Device<f32>, T: Tape<f32, D>>(h: Maps<D, T>) -> Flat<D, T> {
    let (b, y, x, c) = *h.shape();
    h.reshape_like(&(b, y * x * c))
}

/// A VGG or ResNet from image rows (channels first, as the datasets store
/// them) to `C` classes. Stage `s` has `spec.blocks[s]` blocks of
/// `widths.0[s]` channels; its first block changes channels (and stride 2
/// entering stages 2-4), the rest keep them.
#[derive(Clone, Debug)]
pub struct ConvNet<const C: usize, D: ConvDevice> {
    spec: ConvSpec,
    widths: Widths,
    image: ImageShape,
    stem: ConvBn<D>,
    pool: Option<MaxPool2d>,
    stages: Vec<Vec<Block<D>>>,
    /// `(width of the last non-empty stage, C)`: pooled features times this
    /// (checkpoint name `head.weight`).
    head_weight: Tensor<(usize, Const<C>), f32, D>,
    head_bias: Tensor<(Const<C>,), f32, D>,
}

impl<const C: usize, D: ConvDevice> ConvNet<C, D> {
    /// A freshly initialised net (He-uniform convs and head, batch norm at
    /// scale 1 / bias 0) for `image`-shaped rows. The stem has the first
    /// stage's width; an empty stage is skipped (the next block takes the
    /// channels it is given, and the head the last non-empty stage's width).
    pub fn new(
        dev: &D,
        spec: ConvSpec,
        widths: Widths,
        image: ImageShape,
        seed: u64,
    ) -> Result<Self> {
        let Widths(channels) = Widths::new(widths.0)?;
        ensure!(
            image.channels >= 1 && image.rows >= 1 && image.cols >= 1,
            "images of shape {image} have no pixels"
        );
        Self::check_size(spec, widths, image.channels)?;
        let mut rng = model_rng(seed);
        let stem = ConvBn::new(
            dev,
            image.channels,
            channels[0],
            Window::new(7, 2, 3),
            &mut rng,
        );
        let mut inputs = channels[0];
        let mut stages = Vec::with_capacity(4);
        for (s, (&n, &outputs)) in spec.blocks.iter().zip(&channels).enumerate() {
            let stride = if s == 0 { 1 } else { 2 };
            let mut blocks = Vec::with_capacity(n);
            for i in 0..n {
                let (from, stride) = if i == 0 {
                    (inputs, stride)
                } else {
                    (outputs, 1)
                };
                blocks.push(Block::new(
                    dev,
                    spec.arch,
                    (from, outputs),
                    stride,
                    &mut rng,
                ));
            }
            if n > 0 {
                inputs = outputs;
            }
            stages.push(blocks);
        }
        Ok(Self {
            spec,
            widths,
            image,
            stem,
            pool: (image.cols > 50).then(|| MaxPool2d::new(3, 2, 1)),
            stages,
            head_weight: he_uniform(dev, (inputs, Const), inputs, &mut rng),
            head_bias: dev.zeros(),
        })
    }

    /// Refuses a net whose training would not fit in memory, before
    /// anything is allocated (what [`ConvNet::new`] checks, for a sweep to
    /// check all its nets up front).
    pub fn check_size(spec: ConvSpec, widths: Widths, image_channels: usize) -> Result<()> {
        check_trainable(
            conv_params(spec, widths.0, image_channels, C),
            &format!("a {spec} with channels {widths}"),
        )
    }

    pub fn spec(&self) -> ConvSpec {
        self.spec
    }

    pub fn widths(&self) -> Widths {
        self.widths
    }

    /// The image shape the net takes.
    pub fn image(&self) -> ImageShape {
        self.image
    }

    /// Logits in `mode`, pushing every hidden row ([`ConvSpec::rows`]) into
    /// `hidden` if given.
    pub fn forward_mode<T: Tape<f32, D>>(
        &self,
        x: Batch<usize, D, T>,
        mode: Mode,
        mut hidden: Option<&mut Vec<Flat<D, T>>>,
    ) -> Logits<C, D, T> {
        let ImageShape {
            channels,
            rows,
            cols,
        } = self.image;
        let (b, features) = *x.shape();
        assert_eq!(
            features,
            self.image.len(),
            "the net takes {} images ({} values a row), not rows of {features}",
            self.image,
            self.image.len()
        );
        // Rows arrive channels-first (the datasets' layout); the layers run NHWC.
        let maps: Maps<D, T> = x
            .reshape_like(&(b, channels, rows, cols))
            .permute::<_, Axes4<0, 2, 3, 1>>();
        let mut h = self.stem.forward_then(maps, mode, None, true);
        if let Some(p) = &self.pool {
            h = p.forward(h);
        }
        if let Some(out) = hidden.as_mut() {
            out.push(flat(&h));
        }
        for block in self.stages.iter().flatten() {
            h = block.forward(h, mode, &mut hidden);
        }
        let pooled = global_avg_pool(h);
        if let Some(out) = hidden.as_mut() {
            out.push(pooled.retaped::<T>());
        }
        let n = pooled.shape().0;
        pooled.matmul(self.head_weight.retaped::<T>())
            + self
                .head_bias
                .retaped::<T>()
                .broadcast_like(&(n, Const::<C>))
    }

    /// `w_max` of each hidden row, as the authors take it (commit 22556fc,
    /// `_get_weight_amplitude`): the largest mean absolute value among the
    /// trainable tensors of the layer that produced the row. A block's output
    /// and its branch share the block's; the stem's is its conv and batch
    /// norm's. The pooled features have no weights of their own (the authors'
    /// pooling layer has none, and that commit leaves the row out): they take
    /// the head's, the layer whose update the row enters.
    pub fn row_w_max(&self) -> Vec<f32> {
        let mut w = vec![self.stem.amplitude()];
        for block in self.stages.iter().flatten() {
            let a = block.amplitude();
            w.push(a);
            if self.spec.arch == Arch::Resnet {
                w.push(a);
            }
        }
        w.push(mean_abs(&self.head_weight).max(mean_abs(&self.head_bias)));
        w
    }

    /// Blocks (1-based, counted over all stages) that a lesion can remove:
    /// every ResNet block (it has a shortcut), and the VGG blocks whose
    /// output has their input's shape (all but the first block of a stage
    /// that changes channels or stride).
    pub fn removable_blocks(&self) -> Vec<usize> {
        self.stages
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, b)| b.removable())
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// Blocks (1-based over all stages) whose shortcut is a 1×1 projection.
    pub fn projection_blocks(&self) -> Vec<usize> {
        self.stages
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, b)| matches!(b.shortcut, Shortcut::Projection(_)))
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// Lesions exactly `blocks` (1-based over all stages; every other block
    /// is restored), as the authors' `lesion.py` drops a block
    /// (`residual_block.py`, `use_residual=False` at inference): its output
    /// is `ReLU(shortcut(x))`, the input itself for an identity shortcut, the
    /// 1×1 projection and its batch norm where the shape changes. A VGG
    /// block has no shortcut: it is skipped, its input passed on as it is,
    /// which only fits where its output has its input's shape (same
    /// channels, stride 1). Checked before anything changes: a VGG block
    /// that changes the shape, 0 or past the last block is refused.
    pub fn set_lesion(&mut self, blocks: &[usize]) -> Result<()> {
        let removable = self.removable_blocks();
        if let Some(&b) = blocks.iter().find(|b| !removable.contains(b)) {
            let n = self.spec.num_blocks();
            if b == 0 || b > n {
                bail!("block {b} does not exist: {} has blocks 1..={n}", self.spec);
            }
            let block = &self
                .stages
                .iter()
                .flatten()
                .nth(b - 1)
                .expect("1..=n")
                .a
                .conv;
            bail!(
                "block {b} of {} has no shortcut and changes the shape ({} to {} channels, stride {}): only blocks whose output has their input's shape can be skipped",
                self.spec,
                block.inputs,
                block.outputs(),
                block.window.stride
            );
        }
        for (i, block) in self.stages.iter_mut().flatten().enumerate() {
            block.bypassed = blocks.contains(&(i + 1));
        }
        Ok(())
    }
}

impl<const C: usize, D: ConvDevice> Classifier<usize, C, D> for ConvNet<C, D> {
    fn input_dim(&self) -> usize {
        self.image.len()
    }

    /// Inference mode (batch norm on running statistics).
    fn forward<T: Tape<f32, D>>(&self, x: Batch<usize, D, T>) -> Logits<C, D, T> {
        self.forward_mode(x, Mode::Infer, None)
    }

    fn forward_train(
        &self,
        x: Batch<usize, D, OwnedTape<f32, D>>,
    ) -> Logits<C, D, OwnedTape<f32, D>> {
        self.forward_mode(x, Mode::Train, None)
    }

    /// Inference mode, as the paper's code measures.
    fn forward_hidden(&self, x: Batch<usize, D>) -> HiddenOutputs<C, D> {
        let mut hidden = Vec::with_capacity(self.num_hidden());
        let logits = self.forward_mode(x, Mode::Infer, Some(&mut hidden));
        HiddenOutputs { hidden, logits }
    }

    /// Training mode, every row of [`ConvSpec::rows`] on the step's tape.
    fn forward_train_hidden(&self, x: Batch<usize, D, OwnedTape<f32, D>>) -> TrainOutputs<C, D> {
        let mut hidden = Vec::with_capacity(self.num_hidden());
        let logits = self.forward_mode(x, Mode::Train, Some(&mut hidden));
        TrainOutputs { logits, hidden }
    }

    /// The rows of [`ConvSpec::rows`]: stem, blocks (and branches), pooled.
    fn num_hidden(&self) -> usize {
        self.spec.rows().len()
    }

    /// Largest absolute conv weight (stem, blocks, projections).
    fn w_max(&self) -> f32 {
        self.stages
            .iter()
            .flatten()
            .map(Block::max_abs)
            .fold(max_abs(&self.stem.conv.weight), f32::max)
    }

    /// The authors' per-layer amplitude ([`ConvNet::row_w_max`]).
    fn layer_w_max(&self) -> Vec<f32> {
        self.row_w_max()
    }
}

impl<const C: usize, D: ConvDevice> Params<f32, D> for ConvNet<C, D> {
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.stem.visit(&format!("{prefix}stem"), v);
        for (s, stage) in self.stages.iter_mut().enumerate() {
            for (i, block) in stage.iter_mut().enumerate() {
                block.visit(&format!("{prefix}stage{}.{i}", s + 1), v);
            }
        }
        v.visit(&format!("{prefix}head.weight"), &mut self.head_weight);
        v.visit(&format!("{prefix}head.bias"), &mut self.head_bias);
    }
}
/// An upper bound on the trained parameters of a net of `spec` (every block
/// counted with a 3×3 pair, batch norms and a 1×1 projection), from `inputs`
/// image channels to `classes`; `None` when the count overflows.
fn conv_params(
    spec: ConvSpec,
    channels: [usize; 4],
    inputs: usize,
    classes: usize,
) -> Option<usize> {
    let conv =
        |i: usize, o: usize, k: usize| i.checked_mul(o)?.checked_mul(k * k)?.checked_add(2 * o);
    let block = |i: usize, o: usize| {
        conv(i, o, 3)?
            .checked_add(conv(o, o, 3)?)?
            .checked_add(conv(i, o, 1)?)
    };
    let mut total = conv(inputs, channels[0], 7)?;
    let mut from = channels[0];
    for (&n, &to) in spec.blocks.iter().zip(&channels) {
        let Some(rest) = n.checked_sub(1) else {
            continue; // an empty stage
        };
        let rest = block(to, to)?.checked_mul(rest)?;
        total = total.checked_add(block(from, to)?)?.checked_add(rest)?;
        from = to;
    }
    total.checked_add(dense_params(from, classes)?)
}
