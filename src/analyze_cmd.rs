//! `strangler analyze`: settings from flags and the plan, then the
//! analyzer library, then output and the plan file.

use std::fmt::Write as _;
use std::io::{self, IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use strangler_analyzer::cluster::{
    self, Coupling, Granularity, SuggestConfig, SuggestError, Truth, plan as plan_out, read_truth,
    report, score,
};
use strangler_analyzer::{Config, Format, HistoryConfig};
use strangler_plan::PlanFile;

use crate::{AnalyzeArgs, EXIT_CHECK_FAILED, GranularityArg, Level, OutputFormat};

/// The `--resolution` help, with the analyzer's default.
pub fn resolution_help() -> String {
    format!(
        "Leiden's resolution; higher gives more, smaller services [default: {}]",
        cluster::DEFAULT_RESOLUTION
    )
}

/// The `--seed` help, with the analyzer's default.
pub fn seed_help() -> String {
    format!(
        "Seed of the clustering [default: {}]",
        cluster::DEFAULT_SEED
    )
}

/// The `--weight` help, with the kinds the plan format names.
pub fn weight_help() -> String {
    format!(
        "Evidence weight, as KIND=VALUE ({}); repeatable",
        strangler_plan::AnalyzeSettings::WEIGHTS.join(", ")
    )
}

/// Runs `strangler analyze`.
pub fn run(args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    // The plan being updated must be valid before anything else happens.
    let existing = match &args.out {
        Some(path) if path.exists() => {
            let file = PlanFile::open(path)?;
            if !file.is_valid() {
                eprint!("{}", file.render_diagnostics());
                eprintln!(
                    "strangler: {} is not a valid plan, so it was not updated; fix it (`strangler plan check`) and run again",
                    path.display()
                );
                return Ok(ExitCode::from(EXIT_CHECK_FAILED));
            }
            Some(file)
        }
        _ => None,
    };
    let settings = existing
        .as_ref()
        .and_then(|f| f.plan().analyze.clone())
        .unwrap_or_default();
    let config = Config {
        history: args.git.then(|| HistoryConfig {
            max_files_per_commit: args.git_max_files,
            min_revisions: args.git_min_revisions,
            min_shared_commits: args.git_min_shared,
            ..HistoryConfig::default()
        }),
        progress: io::stderr().is_terminal() && args.format != OutputFormat::Json,
        ..Config::default()
    };
    let analysis = strangler_analyzer::analyze(&args.repo, &config)?;

    let (suggest_config, truth) = suggest_settings(args, existing.as_ref(), &settings)?;
    let mut suggest_config = suggest_config;

    if args.sweep {
        return sweep(
            &analysis,
            &mut suggest_config,
            truth.as_ref(),
            args.format == OutputFormat::Json,
        );
    }
    let mut suggestion = match cluster::suggest(&analysis, &suggest_config) {
        Ok(s) => s,
        Err(e @ SuggestError::EmptyGraph) => {
            eprintln!(
                "strangler: {e}; check the diagnostics: `strangler analyze {} --format json`",
                args.repo.display()
            );
            return Ok(ExitCode::from(EXIT_CHECK_FAILED));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(truth) = &truth {
        score(&analysis, &mut suggestion, truth);
    }
    // The plan is built before the report is printed, so the report carries
    // its warnings too (such as a write left out of a route's `writes`
    // because adding it would make the plan invalid).
    let planned = args.out.as_ref().map(|path| {
        let name = monolith_name(&analysis, &args.repo);
        let existing = existing.as_ref().map(PlanFile::plan);
        let plan = plan_for(existing, &analysis, &mut suggestion, &suggest_config, &name);
        (path, plan)
    });
    for warning in &suggestion.warnings {
        tracing::warn!("{warning}");
    }

    let rendered = match (args.format, args.level) {
        (OutputFormat::Text, _) => {
            strangler_analyzer::render(&analysis, Format::Text) + &report::text(&suggestion)
        }
        (OutputFormat::Json, _) => report::json(&analysis, &suggestion),
        (OutputFormat::Dot, Level::Module) => strangler_analyzer::render(&analysis, Format::Dot),
        (OutputFormat::Mermaid, Level::Module) => {
            strangler_analyzer::render(&analysis, Format::Mermaid)
        }
        (OutputFormat::Dot, Level::Service) => report::dot(&suggestion),
        (OutputFormat::Mermaid, Level::Service) => report::mermaid(&suggestion),
        (OutputFormat::Html, _) => report::html(&analysis, &suggestion),
    };
    let mut out = io::stdout().lock();
    out.write_all(rendered.as_bytes())?;
    out.flush()?;

    if let Some((path, plan)) = planned {
        let mut file = existing.unwrap_or_else(|| PlanFile::new(path));
        file.save(&plan)?;
        eprintln!(
            "strangler: wrote {} ({} services)",
            path.display(),
            plan.services.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan `--out` writes: `existing` updated with the suggestion (or a
/// new plan for the monolith `name`), its warnings added to the
/// suggestion's. On a refresh, the routes and tables nothing has moved yet
/// follow the code the user moved.
fn plan_for(
    existing: Option<&strangler_plan::Plan>,
    analysis: &strangler_analyzer::Analysis,
    suggestion: &mut cluster::Suggestion,
    config: &SuggestConfig,
    name: &str,
) -> strangler_plan::Plan {
    let (mut plan, warnings) = plan_out::apply(existing, suggestion, name);
    suggestion.warnings.extend(warnings);
    if existing.is_some() {
        let coupling = Coupling::build(analysis, config.granularity, &config.weights);
        let followed = plan_out::follow_code(&mut plan, analysis, &coupling);
        for moved in &followed.moved {
            eprintln!("strangler: {moved}");
        }
        suggestion.warnings.extend(followed.stayed);
    }
    plan
}

/// The clustering settings: flags first, then the plan's `[analyze]`
/// (read by the analyzer's [`SuggestConfig::from_settings`]), then the
/// defaults; and the reference to score against, if any.
fn suggest_settings(
    args: &AnalyzeArgs,
    existing: Option<&PlanFile>,
    settings: &strangler_plan::AnalyzeSettings,
) -> anyhow::Result<(SuggestConfig, Option<Truth>)> {
    let mut config = SuggestConfig::from_settings(settings)?;
    match args.granularity {
        Some(GranularityArg::Function) => config.granularity = Granularity::Function,
        Some(GranularityArg::Module) => config.granularity = Granularity::Module,
        Some(GranularityArg::File) => config.granularity = Granularity::File,
        None => {}
    }
    for spec in &args.weights {
        let (kind, value) = spec
            .split_once('=')
            .with_context(|| format!("--weight {spec}: write it as KIND=VALUE, such as reads=2"))?;
        let value: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .with_context(|| {
                format!("--weight {spec}: the value must be a number, zero or more")
            })?;
        let kind = kind.trim();
        let slot = config.weights.slot_mut(kind).with_context(|| {
            format!(
                "unknown weight `{kind}`; the kinds are: {}",
                strangler_plan::AnalyzeSettings::WEIGHTS.join(", ")
            )
        })?;
        *slot = value;
    }
    if let Some(resolution) = args.resolution {
        if !(resolution.is_finite() && resolution > 0.0) {
            anyhow::bail!("--resolution must be a positive number");
        }
        config.resolution = resolution;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if args.services.is_some() {
        config.services = args.services;
    }
    config.existing = existing
        .map(|f| plan_out::existing_services(f.plan()))
        .unwrap_or_default();
    config.reset = args.reset;
    let truth = match &args.truth {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(read_truth(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    Ok((config, truth))
}

/// The monolith's name for a new plan: the crate that serves HTTP (see
/// [`plan_out::monolith_name`]), else the directory's.
fn monolith_name(analysis: &strangler_analyzer::Analysis, repo: &std::path::Path) -> String {
    plan_out::monolith_name(analysis)
        .or_else(|| {
            repo.canonicalize()
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "monolith".to_owned())
}

fn sweep(
    analysis: &strangler_analyzer::Analysis,
    config: &mut SuggestConfig,
    truth: Option<&Truth>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    config.services = None;
    let mut rows = Vec::new();
    for resolution in [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0] {
        config.resolution = resolution;
        let mut s = cluster::suggest(analysis, config)?;
        if let Some(truth) = truth {
            score(analysis, &mut s, truth);
        }
        rows.push(serde_json::json!({
            "resolution": resolution,
            "services": s.services.len(),
            "names": s.services.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
            "metrics": s.metrics,
            "mojofm": s.mojofm,
            "ari": s.ari,
        }));
    }
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "resolution  services  modularity     SM    ICP    IFN    NED  cross calls  shared tables{}",
            if truth.is_some() {
                "  MoJoFM    ARI"
            } else {
                ""
            }
        )?;
        for row in &rows {
            let m = &row["metrics"];
            let mut line = format!(
                "{:>10.2}  {:>8}  {:>10.3}  {:>5.3}  {:>5.3}  {:>5.2}  {:>5.3}  {:>11}  {:>13}",
                row["resolution"].as_f64().unwrap_or_default(),
                row["services"],
                m["modularity"].as_f64().unwrap_or_default(),
                m["sm"].as_f64().unwrap_or_default(),
                m["icp"].as_f64().unwrap_or_default(),
                m["ifn"].as_f64().unwrap_or_default(),
                m["ned"].as_f64().unwrap_or_default(),
                m["cross_service_calls"],
                m["shared_tables"]
            );
            if truth.is_some() {
                let _ = write!(
                    line,
                    "  {:>6.1}  {:>5.3}",
                    row["mojofm"].as_f64().unwrap_or_default(),
                    row["ari"].as_f64().unwrap_or_default()
                );
            }
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
