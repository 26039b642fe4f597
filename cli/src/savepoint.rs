//! `spate savepoint`: asks a cluster's coordinator for a savepoint of a
//! running job; and reading a savepoint for `--from-savepoint`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use spate_cluster::client;
use spate_cluster::protocol::SavepointRef;
use spate_state::checkpoint::{VerifyLevel, select_recovery};

use crate::cluster::DirArgs;

/// `spate savepoint`.
#[derive(Args, Debug)]
pub struct SavepointArgs {
    /// The running job's id (`spate cluster status` shows it); `running`
    /// for whichever job runs.
    job: String,
    /// Where to write the savepoint: a directory every worker and the
    /// coordinator reach, or `s3://bucket/prefix`.
    #[arg(long, value_name = "DIR")]
    into: PathBuf,
    #[command(flatten)]
    target: DirArgs,
}

/// Runs the command.
pub fn run(args: SavepointArgs) -> anyhow::Result<()> {
    let job = match args.job.as_str() {
        "running" => 0,
        id => id.parse::<u64>().with_context(|| {
            format!(
                "`{id}` is not a job id; give the number `spate cluster status` shows, or `running`"
            )
        })?,
    };
    let into = location(&args.into);
    let written = client::savepoint(&args.target.addr()?, job, &into)?;
    println!(
        "savepoint of job {} written to {} (checkpoint {}, {} files, {:.1} MiB)\n\
         restore it with: spate submit <job> --from-savepoint {}",
        written.job,
        written.savepoint.location,
        written.savepoint.checkpoint_id,
        written.files,
        written.bytes as f64 / (1024.0 * 1024.0),
        written.savepoint.location
    );
    Ok(())
}

/// `path` as every process reads it: absolute, or an object-store URL as is.
pub fn location(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text.starts_with("s3://") {
        return text.into_owned();
    }
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The savepoint at `path`: its newest checkpoint whose files check out.
pub fn resolve(path: &Path) -> anyhow::Result<SavepointRef> {
    let location = location(path);
    let storage = spate::checkpoint::open_storage(Path::new(&location))?;
    let selection = select_recovery(&*storage, VerifyLevel::Size)
        .with_context(|| format!("reading the savepoint at {location}"))?
        .with_context(|| format!("{location} holds no savepoint (no manifest under manifests/)"))?;
    for bad in &selection.rejected {
        eprintln!("note: skipping damaged {bad}");
    }
    Ok(SavepointRef {
        location,
        checkpoint_id: selection.manifest.checkpoint_id,
    })
}
