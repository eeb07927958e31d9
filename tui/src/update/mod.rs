//! Messages and the pure `update`: every key, click and effect result
//! becomes a change of the [`Model`], and nothing else happens here.
//!
//! This file routes each message and keymap action to the file of its
//! concern: `input` turns keys and clicks into actions, `navigate` moves the
//! selection, filters, sorts and opens the members tree, `edit` changes the
//! plan through its popups with undo and redo, `resuggest` starts a
//! re-suggestion and offers its answer as a diff, and `status` words the
//! status line.

mod edit;
mod input;
mod navigate;
mod resuggest;
mod status;

use std::sync::Arc;

use crossterm::event::{KeyEvent, MouseEvent};
use strangler_plan::Plan;

use crate::keymap::Action;
use crate::model::{Analyzed, Busy, InputPurpose, Model, Pane, Popup};
use crate::update::navigate::{clamp, step};
use crate::update::status::say;

pub use crate::update::resuggest::diff;

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Message {
    /// A key was pressed.
    Key(KeyEvent),
    /// The mouse was used.
    Mouse(MouseEvent),
    /// The terminal has a new size.
    Resize(u16, u16),
    /// A keymap action.
    Action(Action),
    /// The save effect finished: the plan saved, or why not.
    Saved(Result<Box<Plan>, String>),
    /// The re-suggest effect `job` finished: the suggested plan and its
    /// warnings, or why not.
    Suggested {
        /// The job number of the effect.
        job: u64,
        /// The suggested plan and its warnings, or why there is none.
        result: Result<(Box<Plan>, Vec<String>), String>,
    },
    /// The analyze effect `job` finished: the graph folded onto the plan's
    /// units, or why not.
    Analyzed {
        /// The job number of the effect.
        job: u64,
        /// The analysis, or why there is none.
        result: Result<Arc<Analyzed>, String>,
    },
    /// Background work `job` reached a new step.
    Progress {
        /// The job number of the effect.
        job: u64,
        /// The step, as shown.
        phase: String,
    },
    /// The loop's clock ticked (about ten times a second while busy): the
    /// spinner turns.
    Tick,
}

/// Applies `message` to `model`; returns a follow-up message, if any.
pub fn update(model: &mut Model, message: Message) -> Option<Message> {
    match message {
        Message::Key(key) => input::on_key(model, key).map(Message::Action),
        Message::Mouse(mouse) => {
            input::on_mouse(model, mouse);
            None
        }
        Message::Resize(w, h) => {
            model.size = (w, h);
            None
        }
        Message::Action(action) => {
            act(model, action);
            None
        }
        Message::Saved(Ok(plan)) => {
            model.saved = *plan;
            model.status = format!("saved {}", model.file);
            if model.quit_after_save {
                model.quit = true;
            }
            None
        }
        Message::Saved(Err(e)) => {
            model.quit_after_save = false;
            model.status = format!("not saved: {e}");
            None
        }
        Message::Suggested { job, result } => {
            let busy = finish(model, job)?;
            resuggest::answered(model, &busy, result);
            None
        }
        Message::Analyzed { job, result } => {
            finish(model, job)?;
            match result {
                Ok(analyzed) => {
                    model.analyzed = Some(analyzed);
                    model.reevaluate();
                    clamp(model);
                    say(model, "analysis done; ? for help");
                }
                Err(e) => {
                    model.status = format!("analysis failed, so no metrics or reasons: {e}");
                }
            }
            None
        }
        Message::Progress { job, phase } => {
            if let Some(busy) = model.busy.as_mut().filter(|b| b.job == job) {
                busy.phase = phase;
            }
            None
        }
        Message::Tick => {
            model.ticks += 1;
            None
        }
    }
}

/// Ends the background work `job`, if the UI still waits for it.
fn finish(model: &mut Model, job: u64) -> Option<Busy> {
    if model.busy.as_ref().is_some_and(|b| b.job == job) {
        model.busy.take()
    } else {
        None
    }
}

/// Does what a keymap action asks.
fn act(model: &mut Model, action: Action) {
    match action {
        Action::ForceQuit | Action::Discard => model.quit = true,
        Action::Quit => {
            if model.dirty() {
                model.popup = Some(Popup::ConfirmQuit);
            } else {
                model.quit = true;
            }
        }
        Action::Save => edit::save(model),
        Action::SaveAndQuit => {
            model.popup = None;
            model.quit_after_save = true;
            edit::save(model);
        }
        Action::Undo => edit::undo(model, true),
        Action::Redo => edit::undo(model, false),
        Action::Up => step(model, -1),
        Action::Down => step(model, 1),
        Action::PageUp => step(model, -10),
        Action::PageDown => step(model, 10),
        Action::Top => step(model, isize::MIN / 2),
        Action::Bottom => step(model, isize::MAX / 2),
        Action::NextPane => navigate::cycle_pane(model, true),
        Action::PrevPane => navigate::cycle_pane(model, false),
        Action::ViewPlan => model.focus = Pane::Services,
        Action::ViewRoutes => model.focus = Pane::Routes,
        Action::ViewTables => model.focus = Pane::Tables,
        Action::ViewDsm => model.focus = Pane::Dsm,
        Action::ViewMonolith => model.focus = Pane::Monolith,
        Action::Help => model.popup = Some(Popup::Help { scroll: 0 }),
        Action::Filter => navigate::start_filter(model),
        Action::NextMatch => navigate::next_match(model, true),
        Action::PrevMatch => navigate::next_match(model, false),
        Action::Close => navigate::close(model),
        Action::Cancel => {
            if let Some(busy) = model.busy.take() {
                model.status =
                    format!("stopped waiting: {}; its result will be ignored", busy.what);
            }
        }
        Action::Expand | Action::Collapse | Action::Toggle => navigate::tree(model, action),
        Action::Confirm => edit::confirm(model),
        Action::Accept => resuggest::accept(model),
        Action::Move => edit::start_move(model),
        Action::Merge => edit::start_merge(model),
        Action::Delete => edit::delete(model),
        Action::Pin => edit::pin(model),
        Action::Rename => edit::start_rename(model),
        Action::NewService => edit::start_new_service(model),
        Action::Upstream => edit::start_endpoint(model, InputPurpose::Upstream),
        Action::Database => edit::start_endpoint(model, InputPurpose::Database),
        Action::Stage => edit::start_stage(model),
        Action::Percent => edit::start_percent(model),
        Action::Resuggest => resuggest::start(model),
        Action::Sort | Action::Reverse => navigate::sort(model, action == Action::Sort),
    }
}
