//! The planner behind `strangler plan [FILE]`: a terminal UI for reviewing
//! and editing the migration plan, over the analyzer's graph.
//!
//! It follows The Elm Architecture:
//! - [`Model`] holds the plan, the analysis and the UI state, and does no I/O;
//! - [`Message`]s say what happened (a key, a click, a finished save);
//! - [`update`] applies a message to the model, purely, and may queue an
//!   [`Effect`] (save, re-suggest), which [`perform`] runs and answers
//!   with another message;
//! - [`view`] draws the model and changes nothing.
//!
//! One keymap table, [`keymap::KEYMAP`], feeds the key handler, the help
//! overlay and the status bar hints.
//!
//! ```no_run
//! let options = strangler_tui::Options {
//!     file: "strangler.toml".into(),
//!     analysis: strangler_tui::AnalysisSource::Repo(".".into()),
//! };
//! strangler_tui::run(&options)?;
//! # Ok::<(), strangler_tui::TuiError>(())
//! ```

pub mod analysis_json;
pub mod keymap;
pub mod model;
pub mod update;
pub mod view;

use std::io::{self, Stdout};
use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use strangler_analyzer::cluster::plan::{apply, existing_services};
use strangler_analyzer::cluster::suggest::{DEFAULT_RESOLUTION, SuggestConfig, suggest};
use strangler_plan::{PlanError, PlanFile};

pub use model::{Analyzed, Effect, Model, Pane, Popup};
pub use update::{Message, update};
pub use view::{Theme, view};

/// Where the analyzer's graph comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisSource {
    /// No graph: the plan alone, without metrics or reasons.
    None,
    /// Analyze this repository first (with a progress bar on stderr).
    Repo(PathBuf),
    /// Read `strangler analyze --format json` output from this file.
    Json(PathBuf),
}

/// What `strangler plan` opens.
#[derive(Debug, Clone)]
pub struct Options {
    /// The plan file.
    pub file: PathBuf,
    /// The graph to evaluate the plan on.
    pub analysis: AnalysisSource,
}

/// Why the planner could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The plan file could not be read.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The analysis could not be made or read.
    #[error("{0}")]
    Analysis(String),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] io::Error),
}

/// Opens the planner and runs it until the user quits.
pub fn run(options: &Options) -> Result<(), TuiError> {
    let mut file = PlanFile::open(&options.file)?;
    let shown = options.file.display().to_string();
    let errors: Vec<String> = file
        .diagnostics()
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.render(&shown))
        .collect();
    let analysis = match &options.analysis {
        AnalysisSource::None => None,
        AnalysisSource::Repo(repo) => {
            let config = strangler_analyzer::Config {
                progress: true,
                ..strangler_analyzer::Config::default()
            };
            eprintln!("analyzing {} …", repo.display());
            Some(
                strangler_analyzer::analyze(repo, &config)
                    .map_err(|e| TuiError::Analysis(e.to_string()))?,
            )
        }
        AnalysisSource::Json(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| TuiError::Analysis(format!("cannot read {}: {e}", path.display())))?;
            Some(
                analysis_json::parse(&text)
                    .map_err(|e| TuiError::Analysis(format!("{}: {e}", path.display())))?,
            )
        }
    };
    let model = Model::new(shown, file.plan().clone(), errors, analysis);
    let mut terminal = start()?;
    let result = event_loop(&mut terminal, model, &mut file, Theme::from_env());
    restore();
    result
}

/// Runs an effect and returns the message that reports its result.
#[must_use]
pub fn perform(effect: Effect, file: &mut PlanFile, analyzed: Option<&Analyzed>) -> Message {
    match effect {
        Effect::Save(plan) => {
            Message::Saved(file.save(&plan).map(|()| plan).map_err(|e| e.to_string()))
        }
        Effect::Resuggest(plan) => {
            let Some(analyzed) = analyzed else {
                return Message::Suggested(Err("no analysis".to_owned()));
            };
            let settings = plan.analyze.clone().unwrap_or_default();
            let config = SuggestConfig {
                granularity: analyzed.granularity,
                weights: model::weights_of(&plan),
                resolution: settings.resolution.unwrap_or(DEFAULT_RESOLUTION),
                seed: settings.seed.unwrap_or(42),
                services: None,
                existing: existing_services(&plan),
                reset: false,
            };
            Message::Suggested(
                suggest(&analyzed.analysis, &config)
                    .map(|s| {
                        let (new, warnings) = apply(Some(&plan), &s, &plan.monolith.name);
                        (Box::new(new), warnings)
                    })
                    .map_err(|e| e.to_string()),
            )
        }
    }
}

/// Applies `message` and every follow-up message it leads to.
pub fn dispatch(model: &mut Model, message: Message) {
    let mut next = Some(message);
    while let Some(message) = next {
        next = update(model, message);
    }
}

fn start() -> Result<Terminal<CrosstermBackend<Stdout>>, TuiError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    if let Err(e) = execute!(stdout, EnterAlternateScreen, EnableMouseCapture) {
        restore();
        return Err(e.into());
    }
    Terminal::new(CrosstermBackend::new(stdout)).map_err(|e| {
        restore();
        e.into()
    })
}

/// Gives the terminal back: cooked mode, main screen, no mouse capture.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        LeaveAlternateScreen,
        DisableMouseCapture,
        crossterm::cursor::Show
    );
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    mut model: Model,
    file: &mut PlanFile,
    theme: Theme,
) -> Result<(), TuiError> {
    let size = terminal.size()?;
    model.size = (size.width, size.height);
    let analyzed: Option<Arc<Analyzed>> = model.analyzed.clone();
    loop {
        terminal.draw(|frame| view(frame, &model, theme))?;
        if model.quit {
            return Ok(());
        }
        let message = match event::read()? {
            Event::Key(key) if key.kind != KeyEventKind::Release => Message::Key(key),
            Event::Mouse(mouse) => Message::Mouse(mouse),
            Event::Resize(w, h) => Message::Resize(w, h),
            _ => continue,
        };
        dispatch(&mut model, message);
        while let Some(effect) = model.effect.take() {
            terminal.draw(|frame| view(frame, &model, theme))?;
            let reply = perform(effect, file, analyzed.as_deref());
            dispatch(&mut model, reply);
        }
    }
}
