//! `cb data fetch`: download a dataset with checksums and progress.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use conflicting_bundles::data::{fetch, resolve_data_dir, DataError, DatasetKind, FetchOutcome};

#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Download a dataset (checksummed, atomic, resumable; files already valid are kept)
    Fetch(FetchArgs),
}

#[derive(clap::Args)]
pub struct FetchArgs {
    /// mnist, fashion-mnist, cifar10, svhn or imagenette
    dataset: DatasetKind,
    /// Data folder (default: $CB_DATA_DIR, else data/)
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Base URL (or local folder) to fetch the files from instead of the canonical mirrors
    /// (MNIST-style: `NAME.gz`; others: the archive or `.mat` file by its canonical name)
    #[arg(long)]
    mirror: Option<String>,
}

pub fn run(cmd: DataCommand) -> Result<()> {
    let DataCommand::Fetch(a) = cmd;
    let dir = resolve_data_dir(a.data_dir.as_deref());
    let report = fetch(a.dataset, &dir, a.mirror.as_deref(), true).map_err(|e| match e {
        DataError::Fetch { .. } => anyhow!(
            "{e}; pass --mirror URL-or-DIR to fetch from another source, --data-dir DIR to use another folder"
        ),
        other => other.into(),
    })?;
    for f in &report.files {
        match &f.outcome {
            FetchOutcome::AlreadyValid => {
                outln!("{}: already present and valid", f.path.display())?
            }
            FetchOutcome::Downloaded {
                source,
                bytes,
                resumed_from,
            } => {
                let resumed = if *resumed_from > 0 {
                    format!(", resumed after {resumed_from} bytes")
                } else {
                    String::new()
                };
                outln!(
                    "{}: fetched from {source} ({bytes} bytes{resumed}), verified",
                    f.path.display()
                )?;
            }
        }
    }
    Ok(())
}
