//! `cb`: the command-line front end for long runs of the conflicting-bundles
//! toolkit. Every failure is one line on stderr and a non-zero exit.

/// `println!` that returns a failed write (a closed pipe, a full disk) as an
/// error for `?` instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(crate::StdoutError)
    }};
}

mod autotune;
mod bundles;
mod charts;
mod conv;
mod criteria;
mod data;
mod experiments;
mod lbe;
mod lesion;
mod merge;
mod precision;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cb",
    version,
    about = "Conflicting bundles: measure, train, reproduce the paper"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bundle entropy of one layer's activations saved as .npy
    Bundles(bundles::Args),
    /// Datasets: fetch
    #[command(subcommand)]
    Data(data::DataCommand),
    /// §3.2: the toy net with and without a fully conflicting bundle
    Toy(experiments::ToyArgs),
    /// §3.3: FC nets over width x depth, H^L and the conflict boundary
    FcSweep(experiments::FcSweepArgs),
    /// §3.4-3.5: VGG vs ResNet over depth, H^L and accuracy
    ConvSweep(conv::ConvSweepArgs),
    /// §3.6, Table 1: auto-tune (conflicting-layer removal) vs ResNet
    Autotune(autotune::AutotuneArgs),
    /// §3.5's claim tested as the authors' lesion.py: accuracy of a trained ResNet with blocks dropped
    Lesion(lesion::LesionArgs),
    /// Beyond the paper (its §4 question, the authors' follow-up): plain nets at chance trained with and without the batch-entropy regulariser
    Lbe(lbe::LbeArgs),
    /// Issue 31 (c): which layers bundle entropy, batch entropy, block influence and angular distance would remove from trained nets, next to the auto-tune cut, and the test accuracy without them
    Criteria(criteria::CriteriaArgs),
    /// Beyond the paper: the first conflicting layer in f32, f16 and bf16 resolution mode
    PrecisionSweep(precision::PrecisionArgs),
    /// Put a sweep's shards (run with --shard I/N) together: its usual report
    /// and charts, and which units are missing
    Merge(merge::Args),
    /// Train one network (results, checkpoints, resumable)
    #[command(subcommand)]
    Train(experiments::TrainCommand),
    /// Charts (HTML) of a report or recorded run, without training
    Charts(charts::Args),
    /// Bundle entropy of every layer of any model (activations from .npz,
    /// .safetensors or .npy files): table, JSON, CSV, HTML
    Report(report::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    let result = match cli.command {
        Command::Bundles(args) => bundles::run(args),
        Command::Data(cmd) => data::run(cmd),
        Command::Toy(args) => experiments::toy(args),
        Command::FcSweep(args) => experiments::fc_sweep(args),
        Command::ConvSweep(args) => conv::conv_sweep(args),
        Command::Autotune(args) => autotune::run(args),
        Command::Lesion(args) => lesion::run(args),
        Command::Lbe(args) => lbe::run(args),
        Command::Criteria(args) => criteria::run(args),
        Command::PrecisionSweep(args) => precision::precision_sweep(args),
        Command::Merge(args) => merge::run(args),
        Command::Train(cmd) => experiments::train(cmd),
        Command::Charts(args) => charts::run(args),
        Command::Report(args) => report::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`cb ... | head`): end quietly, with the
        // status of a process ended by SIGPIPE, as Unix tools do.
        Err(e)
            if e.downcast_ref::<StdoutError>()
                .is_some_and(|s| s.0.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::from(141)
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Standard output could not be written.
#[derive(Debug)]
struct StdoutError(std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write to standard output: {}", self.0)
    }
}

impl std::error::Error for StdoutError {}

/// Help and version print as usual; a usage error keeps its first paragraph,
/// joined into one line (clap appends usage and a hint after a blank line).
fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind::*;
    if matches!(
        e.kind(),
        DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let para: Vec<&str> = text
        .trim_start()
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .collect();
    eprintln!("{}", one_line(&para.join(" ")));
    ExitCode::from(2)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
