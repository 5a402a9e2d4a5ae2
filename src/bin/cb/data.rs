//! `cb data fetch`: download a dataset with checksums and progress.

use std::path::PathBuf;

use anyhow::Result;
use conflicting_bundles::data::{fetch, resolve_data_dir, DatasetKind};

#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Download a dataset (checksummed, atomic; files already valid are kept)
    Fetch(FetchArgs),
}

#[derive(clap::Args)]
pub struct FetchArgs {
    /// mnist or fashion-mnist
    dataset: DatasetKind,
    /// Data folder (default: $CB_DATA_DIR, else data/)
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Base URL (or local folder) to fetch the files from instead of the canonical mirrors
    #[arg(long)]
    mirror: Option<String>,
}

pub fn run(cmd: DataCommand) -> Result<()> {
    let DataCommand::Fetch(a) = cmd;
    let dir = resolve_data_dir(a.data_dir.as_deref());
    let report = fetch(a.dataset, &dir, a.mirror.as_deref(), true)?;
    for f in &report.files {
        println!("{}: {:?}", f.path.display(), f.outcome);
    }
    Ok(())
}
