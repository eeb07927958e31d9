//! Render and edit benchmark: a synthetic plan of 5,000 members in 30
//! services on `TestBackend`. Prints figures; asserts nothing about time.
//!
//! ```sh
//! cargo run --release -p strangler-tui --example render_bench
//! ```

use std::hint::black_box;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use strangler_analyzer::{Analysis, Detail, Edge, EdgeKind, Node, NodeKind, Stats};
use strangler_plan::{Monolith, Plan, Service, Table, TableStage};
use strangler_tui::model::Pane;
use strangler_tui::{Message, Model, Theme, dispatch, view};

const SERVICES: usize = 30;
const PER_SERVICE: usize = 166; // plus the area module: 167 × 30 = 5,010 members

fn node(id: String, kind: NodeKind) -> Node {
    Node {
        name: id.rsplit("::").next().unwrap_or_default().to_owned(),
        id,
        kind,
        file: None,
        line: None,
        detail: Detail::None,
    }
}

fn edge(from: &str, to: &str, kind: EdgeKind, weight: u32) -> Edge {
    Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        kind,
        weight,
    }
}

fn synthetic() -> (Analysis, Plan) {
    let mut nodes = vec![node("big".to_owned(), NodeKind::Crate)];
    let mut edges = Vec::new();
    let mut plan = Plan::new(Monolith {
        name: "big".to_owned(),
        upstream: "http://127.0.0.1:8080".to_owned(),
        database: None,
    });
    for s in 0..SERVICES {
        let area = format!("big::s{s:02}");
        nodes.push(node(area.clone(), NodeKind::Module));
        edges.push(edge("big", &area, EdgeKind::Contains, 1));
        let mut members = vec![area.clone()];
        let tables: Vec<String> = (0..2).map(|t| format!("t{s:02}_{t}")).collect();
        for t in &tables {
            nodes.push(node(format!("table:{t}"), NodeKind::Table));
        }
        for m in 0..PER_SERVICE {
            let module = format!("{area}::m{m:03}");
            let f = format!("{module}::f");
            nodes.push(node(module.clone(), NodeKind::Module));
            nodes.push(node(f.clone(), NodeKind::Function));
            edges.push(edge(&area, &module, EdgeKind::Contains, 1));
            edges.push(edge(&module, &f, EdgeKind::Contains, 1));
            for k in 1..=3 {
                let to = format!("{area}::m{:03}::f", (m * 7 + k * 13) % PER_SERVICE);
                edges.push(edge(&f, &to, EdgeKind::Calls, 1));
            }
            if m % 10 == 0 {
                let other = format!("big::s{:02}::m{:03}::f", (s + 1) % SERVICES, m);
                edges.push(edge(&f, &other, EdgeKind::Calls, 1));
            }
            if m % 5 == 0 {
                let t = &tables[m % 2];
                edges.push(edge(&f, &format!("table:{t}"), EdgeKind::Writes, 1));
            }
            members.push(module);
        }
        plan.services.push(Service {
            name: format!("service-{s:02}"),
            members,
            tables: tables
                .into_iter()
                .map(|name| Table {
                    name,
                    stage: TableStage::Monolith,
                    rename: std::collections::BTreeMap::new(),
                    exclude: Vec::new(),
                    readers: Vec::new(),
                    writers: Vec::new(),
                })
                .collect(),
            ..Service::default()
        });
    }
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    edges.sort_by(|a, b| (&a.from, &a.to, a.kind).cmp(&(&b.from, &b.to, b.kind)));
    let analysis = Analysis {
        nodes,
        edges,
        diagnostics: Vec::new(),
        stats: Stats::default(),
    };
    (analysis, plan)
}

fn frame_ms(model: &Model, width: u16, height: u16, frames: u32) -> f64 {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    let theme = Theme { color: true };
    let start = Instant::now();
    for _ in 0..frames {
        terminal.draw(|f| view(f, model, theme)).expect("draw");
        black_box(terminal.backend());
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(frames)
}

fn key(c: char) -> Message {
    Message::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn main() {
    let (analysis, plan) = synthetic();
    let members: usize = plan.services.iter().map(|s| s.members.len()).sum();
    let start = Instant::now();
    let mut model = Model::new("bench.toml", plan, Vec::new(), Some(analysis));
    let open = start.elapsed().as_secs_f64() * 1000.0;
    println!("{members} members in {SERVICES} services");
    println!("open (coupling graph + first evaluation): {open:.1} ms");
    model.focus = Pane::Members;
    model.row = 1;
    for (w, h) in [(80, 24), (200, 60)] {
        println!(
            "plan screen {w}x{h}: {:.2} ms/frame",
            frame_ms(&model, w, h, 50)
        );
    }
    for (pane, name) in [
        (Pane::Routes, "routes"),
        (Pane::Tables, "tables"),
        (Pane::Dsm, "coupling"),
    ] {
        model.focus = pane;
        println!(
            "{name} view 200x60: {:.2} ms/frame",
            frame_ms(&model, 200, 60, 50)
        );
    }
    model.table_sort.column = 3;
    println!(
        "tables view sorted by ownership 200x60: {:.2} ms/frame",
        frame_ms(&model, 200, 60, 50)
    );
    model.table_sort.column = 0;
    model.focus = Pane::Members;
    let ids = model.plan.services[0].members.clone();
    model.expanded.extend(ids);
    model.row = 2;
    println!(
        "plan screen 200x60, every member expanded, a function selected: {:.2} ms/frame",
        frame_ms(&model, 200, 60, 50)
    );
    model.expanded.clear();
    model.row = 1;
    let typed = ['m', '0', '1'];
    let rounds = 10u32;
    let start = Instant::now();
    for _ in 0..rounds {
        dispatch(&mut model, key('/'));
        for c in typed {
            dispatch(&mut model, key(c));
        }
        dispatch(
            &mut model,
            Message::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
        );
    }
    let keystroke = start.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds * 4);
    println!("filter the members, per keystroke (narrow and reselect): {keystroke:.2} ms");
    dispatch(&mut model, key('/'));
    for c in typed {
        dispatch(&mut model, key(c));
    }
    println!(
        "plan screen 200x60, members filtered: {:.2} ms/frame",
        frame_ms(&model, 200, 60, 50)
    );
    dispatch(
        &mut model,
        Message::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
    );
    let edits = 20u32;
    let start = Instant::now();
    for i in 0..edits {
        model.row = 1 + (i as usize % 5);
        dispatch(&mut model, key('m'));
        dispatch(
            &mut model,
            Message::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        );
        assert!(model.change.is_some(), "{}", model.status);
    }
    let edit = start.elapsed().as_secs_f64() * 1000.0 / f64::from(edits);
    println!("move a member, metrics recomputed: {edit:.1} ms/edit");
    let start = Instant::now();
    for _ in 0..edits {
        dispatch(&mut model, key('u'));
    }
    let undo = start.elapsed().as_secs_f64() * 1000.0 / f64::from(edits);
    println!("undo, metrics recomputed: {undo:.1} ms/edit");
}
