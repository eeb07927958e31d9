//! `strangler completions SHELL` and `strangler man`: shell completion
//! scripts (`clap_complete`) and man pages (`clap_mangen`), both generated from
//! the one clap definition in `main.rs`, so they never disagree with
//! `--help`.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use clap_complete::Shell;

/// The name the completion scripts complete and the man pages are named after.
const BIN: &str = "strangler";

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    strangler completions bash > /usr/share/bash-completion/completions/strangler\n  \
    strangler completions zsh > /usr/share/zsh/vendor-completions/_strangler\n  \
    strangler completions fish > /usr/share/fish/vendor_completions.d/strangler.fish\n  \
    source <(strangler completions bash)")]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    strangler man | man -l -\n  \
    strangler man --out /usr/local/share/man/man1 && mandb -q")]
pub(crate) struct ManArgs {
    /// Write strangler.1 and one page per subcommand (strangler-proxy.1,
    /// strangler-sync-run.1, …) into this directory, creating it, and list
    /// them on stdout. Without it, strangler.1 is printed on stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Prints the completion script for `args.shell` on stdout.
pub(crate) fn completions(
    args: &CompletionsArgs,
    mut cli: clap::Command,
) -> anyhow::Result<ExitCode> {
    // `clap_complete` panics when its writer fails; render into memory so a
    // closed stdout is an ordinary (broken pipe) error.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, BIN, &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Prints `strangler.1`, or writes every page into `args.out`.
pub(crate) fn man(args: &ManArgs, cli: clap::Command) -> anyhow::Result<ExitCode> {
    let mut cli = cli.disable_help_subcommand(true);
    // Building names the subcommands `strangler-proxy`, `strangler-sync-run`,
    // …: their pages' titles and file names.
    cli.build();
    let mut out = io::stdout().lock();
    match &args.out {
        None => page(cli).render(&mut out)?,
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for path in write_pages(&cli, dir)? {
                writeln!(out, "{}", path.display())?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the page of `cmd` and of each of its visible subcommands, at any
/// depth, and returns their paths, parents first.
fn write_pages(cmd: &clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let page = page(cmd.clone());
    let path = dir.join(page.get_filename());
    let mut bytes = Vec::new();
    page.render(&mut bytes)?;
    fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    let mut paths = vec![path];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        paths.extend(write_pages(sub, dir)?);
    }
    Ok(paths)
}

/// The page of one command; every page names the same source, `strangler
/// VERSION`, where `clap_mangen` would give a subcommand's page its own name
/// and no version.
fn page(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd).source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
}
