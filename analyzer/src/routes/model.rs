//! The abstract values the interpreter computes for router-building code.

use std::collections::BTreeSet;

use syn::ExprPath;

use super::path::{Style, concat, join};

/// Upper-case methods; `{"*"}` for any.
pub(crate) type Methods = BTreeSet<String>;

/// The method set that matches any method.
pub(crate) fn any_method() -> Methods {
    BTreeSet::from(["*".to_owned()])
}

/// One thing a router holds, with paths relative to that router.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// A route with its own path.
    Route {
        methods: Methods,
        path: String,
        handler: Option<String>,
        file: usize,
        line: u32,
    },
    /// Everything the router function `target` builds, under `prefix`
    /// (`nest`, `merge`, `mount`, `.service(f())`, `.configure(f)`).
    Include {
        prefix: String,
        /// How the framework joins `prefix` and the target's paths.
        style: Style,
        target: String,
        /// `target` registers on its `&mut ServiceConfig` parameter
        /// (`.configure`) rather than returning a router.
        config: bool,
        file: usize,
        line: u32,
    },
    /// A handler whose path is in its route attribute (`.service(h)`,
    /// `routes![h]`), under `prefix`.
    Attributed {
        prefix: String,
        style: Style,
        handler: String,
        file: usize,
        line: u32,
    },
}

impl Entry {
    /// Moves the file index by `offset` (when parts are linked).
    pub(crate) fn shift_file(&mut self, offset: usize) {
        match self {
            Self::Route { file, .. }
            | Self::Include { file, .. }
            | Self::Attributed { file, .. } => {
                *file += offset;
            }
        }
    }

    /// This entry seen from a router that puts `prefix` before it.
    pub(crate) fn prefixed(mut self, outer: &str, outer_style: Style) -> Self {
        if outer.is_empty() {
            return self;
        }
        match &mut self {
            Self::Route { path, .. } => *path = join(outer_style, outer, path),
            Self::Include { prefix, .. } | Self::Attributed { prefix, .. } => {
                *prefix = concat(outer, prefix);
            }
        }
        self
    }
}

/// A router under construction: an axum `Router`, an actix-web `App`,
/// `Scope` or `ServiceConfig`, a Rocket instance or a `routes![..]` list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    /// An actix-web scope's own prefix, applied when the scope is closed.
    pub scope: Option<String>,
    /// Entries relative to this router (before `scope`).
    pub entries: Vec<Entry>,
}

impl Routes {
    /// The entries as seen from outside (the scope prefix applied).
    pub(crate) fn close(self) -> Vec<Entry> {
        match self.scope {
            Some(scope) => self
                .entries
                .into_iter()
                .map(|e| e.prefixed(&scope, Style::Actix))
                .collect(),
            None => self.entries,
        }
    }
}

/// Methods served by one handler.
#[derive(Debug, Clone)]
pub(crate) struct MethodGroup {
    pub methods: Methods,
    pub handler: Option<String>,
}

/// An actix-web `web::resource(path)` under construction.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub paths: Vec<String>,
    pub groups: Vec<MethodGroup>,
    pub line: u32,
}

/// The abstract value of an expression.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    /// Nothing route-related.
    Unknown,
    /// A string (a path or prefix).
    Str(String),
    /// A path not bound to a local: a handler, a constant, a unit value.
    Path(&'a ExprPath),
    /// A router.
    Routes(Routes),
    /// An axum `MethodRouter`: handlers with their methods.
    Methods(Vec<MethodGroup>),
    /// An actix-web `Route` (`web::get().to(h)`).
    ActixRoute(MethodGroup),
    /// An actix-web `Resource`.
    Resource(Resource),
    /// The result of calling a function by path (maybe a router-building
    /// function of the analyzed code; resolved when used as a router).
    Call { path: &'a syn::Path, line: u32 },
    /// A tuple (actix-web `.service((a, b))`).
    Tuple(Vec<Value<'a>>),
}
