//! The planner behind `strangler plan [FILE]`: a terminal UI for reviewing
//! and editing the migration plan, over the analyzer's graph.
//!
//! It follows The Elm Architecture:
//! - [`Model`] holds the plan, the analysis and the UI state, and does no I/O;
//! - [`Message`]s say what happened (a key, a click, a finished save);
//! - [`update()`] applies a message to the model, purely, and may queue an
//!   [`Effect`] (save, analyze, re-suggest), which the loop runs (analyzing
//!   and re-suggesting on a worker thread, so the UI stays responsive) and
//!   answers with another message;
//! - [`view()`] draws the model and changes nothing.
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

pub mod keymap;
pub mod layout;
pub mod model;
pub mod update;
pub mod view;

use std::io::{self, Stdout, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{execute, queue};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use strangler_analyzer::cluster::plan::{apply, existing_services};
use strangler_analyzer::cluster::{SuggestConfig, suggest};
use strangler_plan::{Plan, PlanError, PlanFile};

pub use model::{Analyzed, Effect, Model, Pane, Popup};
pub use update::{Message, update};
pub use view::{Theme, view};

/// Where the analyzer's graph comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisSource {
    /// No graph: the plan alone, without metrics or reasons.
    None,
    /// Analyze this repository, in the background while the UI is up.
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
        AnalysisSource::None | AnalysisSource::Repo(_) => None,
        AnalysisSource::Json(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| TuiError::Analysis(format!("cannot read {}: {e}", path.display())))?;
            Some(
                strangler_analyzer::read_json(&text)
                    .map_err(|e| TuiError::Analysis(format!("{}: {e}", path.display())))?,
            )
        }
    };
    let mut model = Model::new(shown, file.plan().clone(), errors, analysis);
    if let AnalysisSource::Repo(repo) = &options.analysis {
        model.start_analysis(repo.clone());
    }
    let mut terminal = start()?;
    let result = event_loop(&mut terminal, model, &mut file, Theme::from_env());
    restore();
    result
}

/// Runs an effect where it is called and returns the message that reports
/// its result (the loop runs analyzing and re-suggesting on worker threads
/// instead; tests and scripts can run them here).
#[must_use]
pub fn perform(effect: Effect, file: &mut PlanFile, analyzed: Option<&Analyzed>) -> Message {
    match effect {
        Effect::Save(plan) => {
            Message::Saved(file.save(&plan).map(|()| plan).map_err(|e| e.to_string()))
        }
        Effect::Resuggest { job, plan } => Message::Suggested {
            job,
            result: analyzed.map_or_else(
                || Err("no analysis".to_owned()),
                |analyzed| resuggest(&plan, analyzed),
            ),
        },
        Effect::Analyze { job, repo, plan } => Message::Analyzed {
            job,
            result: analyze(&repo, &plan, |_| {}).map(Arc::new),
        },
    }
}

/// Re-runs the clustering on `analyzed`, keeping `plan`'s pins and
/// placements: the plan it suggests and its warnings.
pub fn resuggest(plan: &Plan, analyzed: &Analyzed) -> Result<(Box<Plan>, Vec<String>), String> {
    let config = SuggestConfig {
        granularity: analyzed.granularity,
        // Re-suggesting starts from the plan's services, so `services`, the
        // count for a fresh suggestion, is not aimed for, as before.
        services: None,
        existing: existing_services(plan),
        ..model::suggest_config(plan).map_err(|e| e.to_string())?
    };
    suggest(&analyzed.analysis, &config)
        .map(|s| {
            let (new, warnings) = apply(Some(plan), &s, &plan.monolith.name);
            (Box::new(new), warnings)
        })
        .map_err(|e| e.to_string())
}

/// Analyzes `repo` and folds the graph onto `plan`'s units, telling
/// `phase` each step as it starts.
pub fn analyze(repo: &Path, plan: &Plan, phase: impl Fn(&str)) -> Result<Analyzed, String> {
    phase("reading the code and SQL");
    let analysis = strangler_analyzer::analyze(repo, &strangler_analyzer::Config::default())
        .map_err(|e| e.to_string())?;
    phase("building the coupling graph");
    Analyzed::new(analysis, plan).map_err(|e| e.to_string())
}

/// Applies `message` and every follow-up message it leads to.
pub fn dispatch(model: &mut Model, message: Message) {
    let mut next = Some(message);
    while let Some(message) = next {
        next = update(model, message);
    }
}

fn start() -> Result<Terminal<CrosstermBackend<Stdout>>, TuiError> {
    install_panic_hook(io::stdout);
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

/// Gives the terminal back: cooked mode, then the sequences of
/// [`write_restore`] on stdout. The panic hook calls it before the panic
/// message is printed.
fn restore() {
    let _ = disable_raw_mode();
    let _ = write_restore(&mut io::stdout());
}

/// Makes a panic give the terminal back before its message is printed:
/// the hook leaves raw mode, writes [`write_restore`]'s sequences to the
/// writer `out` makes (stdout for the planner), then runs the hook that
/// was installed before.
pub fn install_panic_hook<W: Write>(out: impl Fn() -> W + Send + Sync + 'static) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = disable_raw_mode();
        let _ = write_restore(&mut out());
        previous(info);
    }));
}

/// Writes the escape sequences that give a terminal back after the
/// planner: leave the alternate screen, stop mouse capture, show the cursor.
pub fn write_restore(out: &mut impl Write) -> io::Result<()> {
    queue!(
        out,
        LeaveAlternateScreen,
        DisableMouseCapture,
        crossterm::cursor::Show
    )?;
    out.flush()
}

/// How often the loop wakes while waiting: the spinner's tick, and the
/// longest a worker's answer waits to be shown.
const TICK: Duration = Duration::from_millis(100);

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    mut model: Model,
    file: &mut PlanFile,
    theme: Theme,
) -> Result<(), TuiError> {
    let size = terminal.size()?;
    model.size = (size.width, size.height);
    let (tx, rx): (Sender<Message>, Receiver<Message>) = mpsc::channel();
    let mut last_tick = Instant::now();
    let mut redraw = true;
    loop {
        while let Some(effect) = model.effect.take() {
            match effect {
                Effect::Save(_) => {
                    terminal.draw(|frame| view(frame, &model, theme))?;
                    let reply = perform(effect, file, None);
                    dispatch(&mut model, reply);
                }
                background => spawn(background, model.analyzed.clone(), tx.clone()),
            }
            redraw = true;
        }
        if model.quit {
            return Ok(());
        }
        if redraw {
            terminal.draw(|frame| view(frame, &model, theme))?;
            redraw = false;
        }
        if event::poll(TICK)? {
            let message = match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => Some(Message::Key(key)),
                Event::Mouse(mouse) => Some(Message::Mouse(mouse)),
                Event::Resize(w, h) => Some(Message::Resize(w, h)),
                _ => None,
            };
            if let Some(message) = message {
                dispatch(&mut model, message);
                redraw = true;
            }
        }
        while let Ok(message) = rx.try_recv() {
            dispatch(&mut model, message);
            redraw = true;
        }
        if model.busy.is_some() && last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            dispatch(&mut model, Message::Tick);
            redraw = true;
        }
    }
}

/// Runs analyzing or re-suggesting on a worker thread that reports its
/// steps and its result through `tx`.
fn spawn(effect: Effect, analyzed: Option<Arc<Analyzed>>, tx: Sender<Message>) {
    std::thread::spawn(move || {
        let message = match effect {
            Effect::Analyze { job, repo, plan } => {
                let progress = tx.clone();
                let phase = move |phase: &str| {
                    let _ = progress.send(Message::Progress {
                        job,
                        phase: phase.to_owned(),
                    });
                };
                Message::Analyzed {
                    job,
                    result: analyze(&repo, &plan, phase).map(Arc::new),
                }
            }
            Effect::Resuggest { job, plan } => Message::Suggested {
                job,
                result: analyzed.map_or_else(
                    || Err("no analysis".to_owned()),
                    |analyzed| resuggest(&plan, &analyzed),
                ),
            },
            Effect::Save(_) => return,
        };
        // The receiver is gone only when the planner has quit.
        let _ = tx.send(message);
    });
}
