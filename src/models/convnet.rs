//! The VGG and ResNet nets of §3.4–3.5 as one type: the same stem, stages,
//! blocks and head; a ResNet block adds its shortcut, a VGG block does not.
//!
//! Following the paper and its published code: stem conv 7×7 stride 2, batch
//! norm, ReLU (plus a 3×3 stride-2 max pool for images wider than 50 px); four
//! stages of blocks at 64/128/256/512 filters (÷ the width divisor), stride 2
//! entering stages 2–4; each block two 3×3 convs with batch norm, ReLU after
//! each (the ResNet adds the identity, or a 1×1 projection where the shape
//! changes, before the second ReLU); global average pooling; a linear layer.
//! Depth = 2 + 2 × blocks. Hidden activations for the metric: the stem output
//! and every block output. Channel widths are types ([`Widths`]); blocks per
//! stage are runtime (auto-tune prunes them).

use std::fmt;

use dfdx::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::init::{he_uniform, model_rng};
use super::{max_abs, Batch, Classifier, Flat, HiddenOutputs};
use crate::layers::{
    global_avg_pool, BatchNorm, Conv2d, ConvDevice, Maps, MaxPool2d, Mode, Window,
};
use crate::train::params::{ParamVisitor, Params};

/// Channel widths of the four stages, as types.
pub trait Widths: 'static + Clone + Copy + fmt::Debug + Default + Send + Sync {
    type S1: ConstDim;
    type S2: ConstDim;
    type S3: ConstDim;
    type S4: ConstDim;
    /// The paper's 64/128/256/512 are divided by this.
    const DIVISOR: usize;
}

macro_rules! widths {
    ($(#[$doc:meta] $name:ident = $div:literal: $a:literal $b:literal $c:literal $d:literal;)*) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;
        impl Widths for $name {
            type S1 = Const<$a>;
            type S2 = Const<$b>;
            type S3 = Const<$c>;
            type S4 = Const<$d>;
            const DIVISOR: usize = $div;
        }
    )*};
}

widths! {
    /// The paper's widths: 64/128/256/512 (GPU scale).
    Full = 1: 64 128 256 512;
    /// 32/64/128/256.
    Div2 = 2: 32 64 128 256;
    /// 16/32/64/128.
    Div4 = 4: 16 32 64 128;
    /// 8/16/32/64: CPU scale.
    Div8 = 8: 8 16 32 64;
    /// 4/8/16/32: quick CPU runs.
    Div16 = 16: 4 8 16 32;
}

/// The width divisors there are types for.
pub const DIVISORS: [usize; 5] = [1, 2, 4, 8, 16];

/// Runs `$body` with `$W` bound to the [`Widths`] type of divisor `$div`
/// (a `usize` expression); evaluates to `None` for an unsupported divisor.
#[macro_export]
macro_rules! with_widths {
    ($div:expr, $W:ident => $body:expr) => {{
        use $crate::models::convnet as __cn;
        match $div {
            1 => {
                type $W = __cn::Full;
                Some($body)
            }
            2 => {
                type $W = __cn::Div2;
                Some($body)
            }
            4 => {
                type $W = __cn::Div4;
                Some($body)
            }
            8 => {
                type $W = __cn::Div8;
                Some($body)
            }
            16 => {
                type $W = __cn::Div16;
                Some($body)
            }
            _ => None,
        }
    }};
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

impl ConvSpec {
    /// Layers with weights: stem + 2 per block + the linear head.
    pub fn depth(&self) -> usize {
        2 + 2 * self.num_blocks()
    }

    pub fn num_blocks(&self) -> usize {
        self.blocks.iter().sum()
    }

    /// A net of `depth` layers, its blocks spread over the stages in the
    /// proportions of the 120-layer net (3:12:41:3, at least one per stage, by
    /// largest remainder), so 120 gives exactly [`BLOCKS_120`].
    pub fn for_depth(arch: Arch, depth: usize) -> anyhow::Result<Self> {
        if depth < 10 || depth % 2 != 0 {
            anyhow::bail!(
                "depth {depth} is not 2 + 2 × blocks with at least one block per stage (an even number >= 10)"
            );
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

    /// Which (stage, block) hidden layer `l` (1-based; layer 1 is the stem) is.
    pub fn locate(&self, layer: usize) -> Option<(usize, usize)> {
        let mut l = layer.checked_sub(2)?;
        for (s, &n) in self.blocks.iter().enumerate() {
            if l < n {
                return Some((s, l));
            }
            l -= n;
        }
        None
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

/// Conv 3×3 + batch norm: the unit every block is made of.
#[derive(Clone, Debug)]
struct ConvBn<I: ConstDim, O: ConstDim, D: ConvDevice> {
    conv: Conv2d<I, O, D>,
    bn: BatchNorm<O, D>,
}

impl<I: ConstDim, O: ConstDim, D: ConvDevice> ConvBn<I, O, D> {
    fn new(dev: &D, window: Window, rng: &mut impl Rng) -> Self {
        Self {
            conv: Conv2d::new(dev, window, rng),
            bn: BatchNorm::new(dev),
        }
    }

    fn forward<T: Tape<f32, D>>(&self, x: Maps<I, D, T>, mode: Mode) -> Maps<O, D, T> {
        self.bn.forward(self.conv.forward(x), mode)
    }

    fn visit<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.conv.visit_params(&format!("{prefix}.conv"), v);
        self.bn.visit_params(&format!("{prefix}.bn"), v);
    }
}

/// What a block adds to its output.
#[derive(Clone, Debug)]
enum Shortcut<I: ConstDim, O: ConstDim, D: ConvDevice> {
    /// VGG: nothing.
    None,
    /// ResNet, same shape: the input itself.
    Identity,
    /// ResNet, shape changes: 1×1 conv (with the block's stride) + batch norm.
    Projection(ConvBn<I, O, D>),
}

#[derive(Clone, Debug)]
struct Block<I: ConstDim, O: ConstDim, D: ConvDevice> {
    a: ConvBn<I, O, D>,
    b: ConvBn<O, O, D>,
    shortcut: Shortcut<I, O, D>,
    /// Lesioned: the block passes its input through (identity shortcuts only).
    bypassed: bool,
}

impl<I: ConstDim, O: ConstDim, D: ConvDevice> Block<I, O, D> {
    fn new(dev: &D, arch: Arch, stride: usize, rng: &mut impl Rng) -> Self {
        let shortcut = match arch {
            Arch::Vgg => Shortcut::None,
            Arch::Resnet if stride == 1 && I::SIZE == O::SIZE => Shortcut::Identity,
            Arch::Resnet => Shortcut::Projection(ConvBn::new(dev, Window::new(1, stride, 0), rng)),
        };
        Self {
            a: ConvBn::new(dev, Window::new(3, stride, 1), rng),
            b: ConvBn::new(dev, Window::new(3, 1, 1), rng),
            shortcut,
            bypassed: false,
        }
    }

    fn forward<T: Tape<f32, D>>(
        &self,
        x: Maps<I, D, T>,
        mode: Mode,
        probe: &mut Probe<'_, D>,
    ) -> Maps<O, D, T> {
        let identity = |x: Maps<I, D, T>| {
            let (b, h, w, _) = *x.shape();
            x.reshape_like(&(b, h, w, O::default()))
        };
        if self.bypassed {
            let out = identity(x);
            probe.record(Record::Branches, &out);
            return out;
        }
        let skip = match &self.shortcut {
            Shortcut::None => None,
            Shortcut::Identity => Some(identity(x.retaped::<T>())),
            Shortcut::Projection(p) => Some(p.forward(x.retaped::<T>(), mode)),
        };
        let h = self.b.forward(self.a.forward(x, mode).relu(), mode);
        probe.record(Record::Branches, &h);
        match skip {
            Some(s) => (h + s).relu(),
            None => h.relu(),
        }
    }

    fn visit<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.a.visit(&format!("{prefix}.a"), v);
        self.b.visit(&format!("{prefix}.b"), v);
        if let Shortcut::Projection(p) = &mut self.shortcut {
            p.visit(&format!("{prefix}.shortcut"), v);
        }
    }

    fn is_identity(&self) -> bool {
        matches!(self.shortcut, Shortcut::Identity)
    }

    fn w_max(&self) -> f32 {
        let s = match &self.shortcut {
            Shortcut::Projection(p) => max_abs(&p.conv.weight),
            _ => 0.0,
        };
        max_abs(&self.a.conv.weight)
            .max(max_abs(&self.b.conv.weight))
            .max(s)
    }
}

/// A stage: its first block changes channels (and stride), the rest keep them.
/// A stage always keeps its first block, which carries the shape change.
#[derive(Clone, Debug)]
struct Stage<I: ConstDim, O: ConstDim, D: ConvDevice> {
    first: Block<I, O, D>,
    rest: Vec<Block<O, O, D>>,
}

impl<I: ConstDim, O: ConstDim, D: ConvDevice> Stage<I, O, D> {
    fn new(dev: &D, arch: Arch, blocks: usize, stride: usize, rng: &mut impl Rng) -> Self {
        Self {
            first: Block::new(dev, arch, stride, rng),
            rest: (1..blocks).map(|_| Block::new(dev, arch, 1, rng)).collect(),
        }
    }

    fn forward<T: Tape<f32, D>>(
        &self,
        x: Maps<I, D, T>,
        mode: Mode,
        probe: &mut Probe<'_, D>,
    ) -> Maps<O, D, T> {
        let mut h = self.first.forward(x, mode, probe);
        probe.record(Record::Outputs, &h);
        for block in &self.rest {
            h = block.forward(h, mode, probe);
            probe.record(Record::Outputs, &h);
        }
        h
    }

    fn visit<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.first.visit(&format!("{prefix}.0"), v);
        for (i, b) in self.rest.iter_mut().enumerate() {
            b.visit(&format!("{prefix}.{}", i + 1), v);
        }
    }

    fn w_max(&self) -> f32 {
        self.rest
            .iter()
            .map(Block::w_max)
            .fold(self.first.w_max(), f32::max)
    }

    /// Whether each block, in order, has an identity shortcut.
    fn identity_blocks(&self) -> Vec<bool> {
        std::iter::once(self.first.is_identity())
            .chain(self.rest.iter().map(Block::is_identity))
            .collect()
    }

    fn set_bypassed(&mut self, i: usize, bypassed: bool) {
        match i {
            0 => self.first.bypassed = bypassed,
            _ => self.rest[i - 1].bypassed = bypassed,
        }
    }
}

/// Which activations a forward pass hands to the metric: block outputs (the
/// hidden layers; the stem counts as one) or residual branches `F(a)` before
/// the shortcut is added (the lesion study's view of a block).
struct Probe<'a, D: Device<f32>> {
    out: Option<&'a mut Vec<Flat<D>>>,
    what: Record,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Record {
    Outputs,
    Branches,
}

impl<D: Device<f32>> Probe<'_, D> {
    fn none() -> Self {
        Self {
            out: None,
            what: Record::Outputs,
        }
    }

    /// Appends a tape-free, flattened copy of `h` if `what` is being recorded.
    fn record<C: Dim, T: Tape<f32, D>>(&mut self, what: Record, h: &Maps<C, D, T>) {
        if let Some(out) = self.out.as_mut().filter(|_| self.what == what) {
            let (b, y, x, c) = *h.shape();
            out.push(h.retaped::<NoneTape>().reshape_like(&(b, y * x * c.size())));
        }
    }
}

/// A VGG or ResNet from `IN`-value rows holding `IC`-channel images
/// (channels first, as the datasets store them) to `C` classes, widths `W`.
#[derive(Clone, Debug)]
pub struct ConvNet<const IN: usize, IC: ConstDim, W: Widths, const C: usize, D: ConvDevice> {
    spec: ConvSpec,
    image: (usize, usize),
    stem: ConvBn<IC, W::S1, D>,
    pool: Option<MaxPool2d>,
    s1: Stage<W::S1, W::S1, D>,
    s2: Stage<W::S1, W::S2, D>,
    s3: Stage<W::S2, W::S3, D>,
    s4: Stage<W::S3, W::S4, D>,
    head_weight: Tensor<(W::S4, Const<C>), f32, D>,
    head_bias: Tensor<(Const<C>,), f32, D>,
}

/// Nets on one-channel 32×32 images (MNIST / Fashion-MNIST padded), 10 classes.
pub type GrayConvNet<W, D> = ConvNet<1024, Const<1>, W, 10, D>;
/// Nets on RGB 32×32 images (CIFAR-10, SVHN), 10 classes.
pub type RgbConvNet<W, D> = ConvNet<3072, Const<3>, W, 10, D>;
/// Nets on RGB 64×64 images (Imagenette at the loader's default size), 10 classes.
pub type Rgb64ConvNet<W, D> = ConvNet<12288, Const<3>, W, 10, D>;

impl<const IN: usize, IC: ConstDim, W: Widths, const C: usize, D: ConvDevice>
    ConvNet<IN, IC, W, C, D>
{
    /// A freshly initialised net (He-uniform convs and head, batch norm at
    /// scale 1 / bias 0) for `rows × cols` images; every stage needs a block.
    ///
    /// Panics unless `IN == IC · rows · cols`.
    pub fn new(dev: &D, spec: ConvSpec, image: (usize, usize), seed: u64) -> Self {
        assert_eq!(
            IN,
            IC::SIZE * image.0 * image.1,
            "{IN} input values are not {} channels of {}x{}",
            IC::SIZE,
            image.0,
            image.1
        );
        assert!(
            spec.blocks.iter().all(|&b| b >= 1),
            "every stage needs at least one block: {spec}"
        );
        let mut rng = model_rng(seed);
        let arch = spec.arch;
        Self {
            spec,
            image,
            stem: ConvBn::new(dev, Window::new(7, 2, 3), &mut rng),
            pool: (image.1 > 50).then(|| MaxPool2d::new(3, 2, 1)),
            s1: Stage::new(dev, arch, spec.blocks[0], 1, &mut rng),
            s2: Stage::new(dev, arch, spec.blocks[1], 2, &mut rng),
            s3: Stage::new(dev, arch, spec.blocks[2], 2, &mut rng),
            s4: Stage::new(dev, arch, spec.blocks[3], 2, &mut rng),
            head_weight: he_uniform(dev, Default::default(), W::S4::SIZE, &mut rng),
            head_bias: dev.zeros(),
        }
    }

    pub fn spec(&self) -> ConvSpec {
        self.spec
    }

    /// Image rows and columns the net takes.
    pub fn image(&self) -> (usize, usize) {
        self.image
    }

    /// Logits in `mode`, pushing every hidden activation into `hidden` if given.
    pub fn forward_mode<T: Tape<f32, D>>(
        &self,
        x: Batch<IN, D, T>,
        mode: Mode,
        hidden: Option<&mut Vec<Flat<D>>>,
    ) -> Batch<C, D, T> {
        let mut probe = match hidden {
            Some(out) => Probe {
                out: Some(out),
                what: Record::Outputs,
            },
            None => Probe::none(),
        };
        self.run(x, mode, &mut probe)
    }

    /// The residual branch `F(a)` of every block (inference mode), before the
    /// shortcut is added: where it bundles samples, the block only passes its
    /// input on (§3.5). For a VGG these are the blocks' pre-ReLU outputs.
    pub fn branch_outputs(&self, x: Batch<IN, D>) -> Vec<Flat<D>> {
        let mut out = Vec::with_capacity(self.spec.num_blocks());
        let mut probe = Probe {
            out: Some(&mut out),
            what: Record::Branches,
        };
        let _ = self.run(x, Mode::Infer, &mut probe);
        out
    }

    fn run<T: Tape<f32, D>>(
        &self,
        x: Batch<IN, D, T>,
        mode: Mode,
        probe: &mut Probe<'_, D>,
    ) -> Batch<C, D, T> {
        let (rows, cols) = self.image;
        let b = x.shape().0;
        // Rows arrive channels-first (the datasets' layout); the layers run NHWC.
        let maps: Maps<IC, D, T> = x
            .reshape_like(&(b, IC::default(), rows, cols))
            .permute::<_, Axes4<0, 2, 3, 1>>();
        let mut h = self.stem.forward(maps, mode).relu();
        if let Some(p) = &self.pool {
            h = p.forward(h);
        }
        probe.record(Record::Outputs, &h);
        let h = self.s1.forward(h, mode, probe);
        let h = self.s2.forward(h, mode, probe);
        let h = self.s3.forward(h, mode, probe);
        let h = self.s4.forward(h, mode, probe);
        let pooled = global_avg_pool(h);
        let n = pooled.shape().0;
        pooled.matmul(self.head_weight.retaped::<T>())
            + self
                .head_bias
                .retaped::<T>()
                .broadcast_like(&(n, Const::<C>))
    }

    /// Hidden layers (1 = stem, then blocks) of the blocks that can be
    /// bypassed without changing shapes: those with an identity shortcut.
    pub fn removable_blocks(&self) -> Vec<usize> {
        let mut identity = self.s1.identity_blocks();
        identity.extend(self.s2.identity_blocks());
        identity.extend(self.s3.identity_blocks());
        identity.extend(self.s4.identity_blocks());
        identity
            .into_iter()
            .enumerate()
            .filter(|&(_, id)| id)
            .map(|(i, _)| i + 2)
            .collect()
    }

    /// Lesions (or restores) the block at hidden layer `layer`: a bypassed
    /// block passes its input on unchanged. Only identity-shortcut blocks.
    pub fn set_bypassed(&mut self, layer: usize, bypassed: bool) -> anyhow::Result<()> {
        if !self.removable_blocks().contains(&layer) {
            anyhow::bail!("layer {layer} is not a block with an identity shortcut");
        }
        let (stage, i) = self.spec.locate(layer).expect("a removable block exists");
        match stage {
            0 => self.s1.set_bypassed(i, bypassed),
            1 => self.s2.set_bypassed(i, bypassed),
            2 => self.s3.set_bypassed(i, bypassed),
            _ => self.s4.set_bypassed(i, bypassed),
        }
        Ok(())
    }
}

impl<const IN: usize, IC: ConstDim, W: Widths, const C: usize, D: ConvDevice> Classifier<IN, C, D>
    for ConvNet<IN, IC, W, C, D>
{
    /// Inference mode (batch norm on running statistics).
    fn forward<T: Tape<f32, D>>(&self, x: Batch<IN, D, T>) -> Batch<C, D, T> {
        self.forward_mode(x, Mode::Infer, None)
    }

    fn forward_train(&self, x: Batch<IN, D, OwnedTape<f32, D>>) -> Batch<C, D, OwnedTape<f32, D>> {
        self.forward_mode(x, Mode::Train, None)
    }

    /// Inference mode, as the paper's code measures.
    fn forward_hidden(&self, x: Batch<IN, D>) -> HiddenOutputs<C, D> {
        let mut hidden = Vec::with_capacity(1 + self.spec.num_blocks());
        let logits = self.forward_mode(x, Mode::Infer, Some(&mut hidden));
        HiddenOutputs { hidden, logits }
    }

    /// The stem and one output per block.
    fn num_hidden(&self) -> usize {
        1 + self.spec.num_blocks()
    }

    /// Largest absolute conv weight (stem, blocks, projections).
    fn w_max(&self) -> f32 {
        [
            max_abs(&self.stem.conv.weight),
            self.s1.w_max(),
            self.s2.w_max(),
            self.s3.w_max(),
            self.s4.w_max(),
        ]
        .into_iter()
        .fold(0.0, f32::max)
    }
}

impl<const IN: usize, IC: ConstDim, W: Widths, const C: usize, D: ConvDevice> Params<f32, D>
    for ConvNet<IN, IC, W, C, D>
{
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.stem.visit(&format!("{prefix}stem"), v);
        self.s1.visit(&format!("{prefix}stage1"), v);
        self.s2.visit(&format!("{prefix}stage2"), v);
        self.s3.visit(&format!("{prefix}stage3"), v);
        self.s4.visit(&format!("{prefix}stage4"), v);
        v.visit(&format!("{prefix}head.weight"), &mut self.head_weight);
        v.visit(&format!("{prefix}head.bias"), &mut self.head_bias);
    }
}

/// A conv net as auto-tune and the lesion study use it, whatever its input
/// type and widths.
pub trait ConvModel<const IN: usize, D: ConvDevice>: Classifier<IN, 10, D> + Clone {
    fn spec(&self) -> ConvSpec;
    /// See [`ConvNet::branch_outputs`].
    fn branch_outputs(&self, x: Batch<IN, D>) -> Vec<Flat<D>>;
    /// See [`ConvNet::removable_blocks`].
    fn removable_blocks(&self) -> Vec<usize>;
    /// See [`ConvNet::set_bypassed`].
    fn set_bypassed(&mut self, layer: usize, bypassed: bool) -> anyhow::Result<()>;
}

impl<const IN: usize, IC: ConstDim, W: Widths, D: ConvDevice> ConvModel<IN, D>
    for ConvNet<IN, IC, W, 10, D>
{
    fn spec(&self) -> ConvSpec {
        self.spec
    }
    fn branch_outputs(&self, x: Batch<IN, D>) -> Vec<Flat<D>> {
        ConvNet::branch_outputs(self, x)
    }
    fn removable_blocks(&self) -> Vec<usize> {
        ConvNet::removable_blocks(self)
    }
    fn set_bypassed(&mut self, layer: usize, bypassed: bool) -> anyhow::Result<()> {
        ConvNet::set_bypassed(self, layer, bypassed)
    }
}
