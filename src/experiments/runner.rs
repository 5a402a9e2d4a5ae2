//! One runner for every sweep. A sweep ([`Sweep`]) says what its units are
//! (nets, or auto-tune's runs), how to run one, and how a unit's result goes
//! into its report; [`run`] does the rest the same way for all of them:
//! lock the output folder, resume what an earlier run left there, take this
//! shard's share of the units ([`super::shard`]), run the units not done
//! yet (several at once where the device allows), report progress, and
//! save the report, in the unsharded run's order, after every unit.
//!
//! **Several units at once.** On the CPU, a sweep of small nets (the FC
//! sweep's) keeps one core busy per net: their steps are too small to
//! split. [`run`] then trains up to [`TrainDevice::concurrent_units`](crate::device::TrainDevice::concurrent_units) units
//! side by side, each on its own thread with its own CPU device, on rayon's
//! pool (whose threads a unit's own parallel loops share). Every unit is
//! seeded from the configuration alone and never draws from the device's
//! random generator, so its result is the one a one-at-a-time run gives,
//! bit for bit; results are put in the report in plan order whenever one
//! arrives, so the saved report never depends on which unit finished first.
//! On a GPU units run one after another.

use std::collections::HashSet;
use std::fmt::Display;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Result;

use super::note;
use super::shard::{Output, Shard, ShardedReport};
use crate::layers::ConvDevice;
use crate::train::ProgressMode;

/// A device sweeps run on: besides what training needs
/// ([`TrainDevice::concurrent_units`](crate::device::TrainDevice::concurrent_units) says how many units keep it busy), a
/// device of its kind for another thread.
pub trait SweepDevice: ConvDevice {
    /// A device like this one, made on the thread that uses it; `None` where
    /// units must share this one and so run one after another.
    fn worker() -> Option<Self>;
}

impl SweepDevice for dfdx::tensor::Cpu {
    fn worker() -> Option<Self> {
        Some(crate::device::cpu())
    }
}

#[cfg(feature = "cuda")]
impl SweepDevice for dfdx::tensor::Cuda {
    /// None: a GPU's streams are bound to the device the run opened.
    fn worker() -> Option<Self> {
        None
    }
}

/// An experiment made of independent units.
pub trait Sweep: Sync {
    /// What the sweep writes (`fc_sweep.json`, ...), shards and `cb merge` included.
    type Report: ShardedReport;
    /// What all units read (the datasets), loaded once per run.
    type Data: Sync;
    /// One unit of the plan (a net); its `Display` is its label in
    /// progress lines and shard files.
    type Unit: Display + Sync;
    /// One unit's result, added to the report by [`Sweep::add`].
    type Output: Send;

    fn config(&self) -> &<Self::Report as ShardedReport>::Config;
    /// Whether units may run side by side (the default). A sweep whose
    /// units each keep every core busy says no.
    fn concurrent(&self) -> bool {
        true
    }
    /// Whether units keep files of their own in the output folder, so that
    /// the sweep cannot run without one.
    fn needs_out(&self) -> bool {
        false
    }
    /// Errors in the configuration, before any folder is locked or data read.
    fn check(&self) -> Result<()>;
    fn load(&self, data_dir: &Path) -> Result<Self::Data>;
    /// The units in the order an unsharded one-at-a-time run trains them.
    fn plan(&self, data: &Self::Data) -> Vec<Self::Unit>;
    /// Trains and measures `unit`; `out` is the folder the report goes to
    /// (a shard's own), for sweeps that keep files per unit.
    fn run_unit<D: SweepDevice>(
        &self,
        dev: &D,
        data: &Self::Data,
        unit: &Self::Unit,
        ctx: &UnitContext<'_>,
    ) -> Result<Self::Output>;
    /// Puts a unit's result into the report.
    fn add(report: &mut Self::Report, output: Self::Output);
}

/// What a unit gets besides its data: where the run writes and how it shows
/// progress.
pub struct UnitContext<'a> {
    pub out: Option<&'a Path>,
    pub progress: ProgressMode,
}

/// How a sweep runs (none of it changes its results).
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions<'a> {
    /// The output folder: the report after every unit, and what a rerun resumes.
    pub out: Option<&'a Path>,
    /// Only this share of the units, into `out/shard-I-of-N/`.
    pub shard: Option<Shard>,
    pub progress: ProgressMode,
    /// Units at once (`None`: the device's [`TrainDevice::concurrent_units`](crate::device::TrainDevice::concurrent_units)).
    pub jobs: Option<usize>,
}

/// Runs sweep `sweep` on `dev` (see the module docs), reading data from
/// `data_dir`, and returns its report (a shard's part of it for a shard).
pub fn run<S: Sweep, D: SweepDevice>(
    dev: &D,
    sweep: &S,
    data_dir: &Path,
    opts: &RunOptions<'_>,
) -> Result<S::Report> {
    sweep.check()?;
    anyhow::ensure!(opts.jobs != Some(0), "jobs must be at least 1");
    anyhow::ensure!(
        opts.out.is_some() || !sweep.needs_out(),
        "{} keeps every net's checkpoint in its output folder: give one (--out)",
        S::Report::SWEEP
    );
    let mut out = Output::lock(opts.out, opts.shard)?;
    let data = sweep.load(data_dir)?;
    let plan = sweep.plan(&data);
    let config = sweep.config();
    let labels: Vec<String> = plan.iter().map(|u| u.to_string()).collect();
    let mut report = out.resume(config, labels.clone(), || {
        S::Report::assemble(config.clone(), vec![])
    })?;
    let done: HashSet<String> = report.units_done().into_iter().collect();
    let todo: Vec<&S::Unit> = (plan.iter().enumerate())
        .filter(|&(i, _)| out.owns(i) && !done.contains(&labels[i]))
        .map(|(_, u)| u)
        .collect();
    let total = (0..plan.len()).filter(|&i| out.owns(i)).count();
    let mut finished = total - todo.len();
    let jobs = match (sweep.concurrent(), D::worker().is_some()) {
        (true, true) => opts.jobs.unwrap_or_else(|| dev.concurrent_units()),
        _ => 1,
    }
    .min(todo.len())
    .max(1);
    // Bars of units side by side would overwrite each other: lines instead.
    let progress = match (jobs, opts.progress) {
        (2.., ProgressMode::Auto) => ProgressMode::AutoLines,
        (_, p) => p,
    };
    let ctx = UnitContext {
        out: out.dir(),
        progress,
    };
    let mut save = |output: S::Output| -> Result<()> {
        S::add(&mut report, output);
        // `assemble` puts a report's results in plan order.
        let empty = S::Report::assemble(config.clone(), vec![]);
        let added = std::mem::replace(&mut report, empty);
        report = S::Report::assemble(config.clone(), vec![added]);
        out.save(&report)
    };
    if jobs == 1 {
        for unit in todo {
            finished += 1;
            note(progress, &format!("[{finished}/{total}] {unit}"));
            save(sweep.run_unit(dev, &data, unit, &ctx)?)?;
        }
    } else {
        run_side_by_side::<S, D>(sweep, &data, &todo, jobs, &ctx, |unit, output| {
            finished += 1;
            note(progress, &format!("[{finished}/{total}] done: {unit}"));
            save(output)
        })?;
    }
    Ok(report)
}

/// [`run`] with the usual options: the whole sweep, the device's units at
/// once, its report in `out` (if any) after every unit, resumed from there.
pub fn run_in<S: Sweep, D: SweepDevice>(
    dev: &D,
    sweep: &S,
    data_dir: &Path,
    out: Option<&Path>,
    progress: ProgressMode,
) -> Result<S::Report> {
    let opts = RunOptions {
        out,
        progress,
        ..Default::default()
    };
    run(dev, sweep, data_dir, &opts)
}

/// Runs `todo` on `jobs` threads, each with its own device, handing every
/// result to `done` on the calling thread as it arrives. After a failure no
/// further unit starts; the units running finish (and are saved), then the
/// first error is returned.
fn run_side_by_side<S: Sweep, D: SweepDevice>(
    sweep: &S,
    data: &S::Data,
    todo: &[&S::Unit],
    jobs: usize,
    ctx: &UnitContext<'_>,
    mut done: impl FnMut(&S::Unit, S::Output) -> Result<()>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<S::Output>)>();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, failed) = (&next, &failed);
            scope.spawn(move || {
                let dev = D::worker().expect("checked before the threads start");
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= todo.len() || failed.load(Ordering::SeqCst) {
                        return;
                    }
                    note(ctx.progress, &format!("started: {}", todo[i]));
                    let result = sweep.run_unit(&dev, data, todo[i], ctx);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    if tx.send((i, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut first_error = None;
        for (i, result) in rx {
            let saved = result.and_then(|output| done(todo[i], output));
            if let Err(e) = saved {
                failed.store(true, Ordering::SeqCst);
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    })
}
