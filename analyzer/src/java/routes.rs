//! HTTP routes in Java: Spring MVC and `WebFlux` annotations, JAX-RS,
//! Stripes action beans, `@WebServlet` and `web.xml` servlet mappings.
//!
//! - Spring: a type annotated `@RestController` or `@Controller` (or any
//!   type whose methods carry mapping annotations), class-level
//!   `@RequestMapping` paths times method-level `@RequestMapping`
//!   (`method = RequestMethod.X`, any method when absent), `@GetMapping`,
//!   `@PostMapping`, `@PutMapping`, `@DeleteMapping`, `@PatchMapping`, with
//!   `value`/`path` as one string or an array, constants resolved.
//! - Spring functional routes, in a method returning a `RouterFunction`:
//!   `route(GET("/x"), h::m)` and `.andRoute(..)`, the builder's
//!   `route().GET("/x", h::m).POST(..)`, under `nest(path("/api"), ..)` and
//!   the builder's `.path("/api", b -> ..)`/`.nest(..)`; the handler is the
//!   method a method reference (or a lambda's one call) names.
//! - JAX-RS: `@Path` on the class and the method, `@GET`, `@POST`, ...;
//!   `@ApplicationPath` on an `Application` subclass is a prefix of all.
//! - Stripes: `@UrlBinding` on an action bean, handled by its
//!   `@DefaultHandler` method (else the first public method).
//! - Servlets: `@WebServlet(urlPatterns / value)` and `web.xml`
//!   `<servlet>`/`<servlet-mapping>` naming an analyzed class, handled by
//!   `doGet`, `doPost`, ... (or `service`).
//!
//! Paths get the context path (`server.servlet.context-path`), and are
//! normalised to `{param}` (regexes dropped: `{id:\d+}` → `{id}`) and a
//! trailing `{*rest}` for `/**` and `/*`.

use super::model::{Annotation, Value};
use super::resolve::{Index, Scope, TypeInfo};
use super::xml;
use crate::routes::FoundRoute;
use crate::source::Diagnostic;

const SPRING_SHORTCUTS: [(&str, &str); 5] = [
    ("GetMapping", "GET"),
    ("PostMapping", "POST"),
    ("PutMapping", "PUT"),
    ("DeleteMapping", "DELETE"),
    ("PatchMapping", "PATCH"),
];
const JAXRS_METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const SERVLET_METHODS: [(&str, &str); 6] = [
    ("doGet", "GET"),
    ("doPost", "POST"),
    ("doPut", "PUT"),
    ("doDelete", "DELETE"),
    ("doHead", "HEAD"),
    ("doOptions", "OPTIONS"),
];

/// Every route of the analyzed code and `web.xml` files, sorted.
pub fn find(
    index: &Index<'_>,
    context: Option<&str>,
    web_xml: &[(String, String)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<FoundRoute> {
    let context = context.unwrap_or_default();
    let jaxrs_prefix = index
        .types
        .values()
        .find_map(|info| {
            let ann = info
                .decl
                .annotations
                .iter()
                .find(|a| a.name == "ApplicationPath")?;
            strings(index, scope_of(index, info), ann.arg("value"))
                .into_iter()
                .next()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for info in index.types.values() {
        spring(index, info, context, &mut out);
        functional(index, info, context, &mut out);
        jaxrs(index, info, &format!("{context}/{jaxrs_prefix}"), &mut out);
        stripes(index, info, context, &mut out);
        if let Some(ann) = info
            .decl
            .annotations
            .iter()
            .find(|a| a.name == "WebServlet")
        {
            let scope = scope_of(index, info);
            let mut patterns = strings(index, scope, ann.arg("urlPatterns"));
            patterns.extend(strings(index, scope, ann.arg("value")));
            let file = index.files[info.file].rel_path.clone();
            servlet(
                index, &info.fqn, context, &patterns, &file, ann.line, &mut out,
            );
        }
    }
    for (rel, text) in web_xml {
        web_xml_routes(index, context, rel, text, &mut out, diagnostics);
    }
    out.sort_by(|a, b| (&a.path, &a.methods, &a.handler).cmp(&(&b.path, &b.methods, &b.handler)));
    out.dedup_by(|a, b| a.path == b.path && a.methods == b.methods && a.handler == b.handler);
    out
}

fn scope_of<'a>(index: &'a Index<'a>, info: &'a TypeInfo<'a>) -> Scope<'a> {
    Scope {
        file: &index.files[info.file],
        type_name: &info.decl.name,
    }
}

/// The strings an annotation argument gives (one per array element).
fn strings(index: &Index<'_>, scope: Scope<'_>, values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| match v {
            Value::Text(p) => index.text_of(scope, None, p, 0),
            Value::Other => None,
        })
        .collect()
}

/// The paths of a mapping annotation (`value` or `path`), `[""]` when none.
fn mapping_paths(index: &Index<'_>, scope: Scope<'_>, ann: &Annotation) -> Vec<String> {
    let mut paths = strings(index, scope, ann.arg("value"));
    paths.extend(strings(index, scope, ann.arg("path")));
    if paths.is_empty() {
        paths.push(String::new());
    }
    paths
}

/// `method = RequestMethod.GET` or `{GET, POST}`: the names after the last dot.
fn request_methods(ann: &Annotation) -> Vec<String> {
    let mut out: Vec<String> = ann
        .arg("method")
        .iter()
        .filter_map(|v| match v {
            Value::Text(pieces) => pieces.iter().find_map(|p| match p {
                super::model::Piece::Name(n) => {
                    Some(n.rsplit('.').next().unwrap_or(n).to_uppercase())
                }
                _ => None,
            }),
            Value::Other => None,
        })
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push("*".to_owned());
    }
    out
}

fn spring(index: &Index<'_>, info: &TypeInfo<'_>, context: &str, out: &mut Vec<FoundRoute>) {
    let scope = scope_of(index, info);
    let decl = info.decl;
    let class_mapping = decl.annotations.iter().find(|a| a.name == "RequestMapping");
    let (prefixes, class_methods) = match class_mapping {
        Some(a) => (mapping_paths(index, scope, a), request_methods(a)),
        None => (vec![String::new()], vec!["*".to_owned()]),
    };
    for method in &decl.methods {
        for ann in &method.annotations {
            let methods = if ann.name == "RequestMapping" {
                let m = request_methods(ann);
                if m == ["*"] { class_methods.clone() } else { m }
            } else if let Some((_, m)) = SPRING_SHORTCUTS.iter().find(|(n, _)| *n == ann.name) {
                vec![(*m).to_owned()]
            } else {
                continue;
            };
            for prefix in &prefixes {
                for path in mapping_paths(index, scope, ann) {
                    out.push(FoundRoute {
                        methods: methods.clone(),
                        path: normalise(&format!("{context}/{prefix}/{path}")),
                        handler: Some(format!("{}.{}", info.fqn, method.name)),
                        file: index.files[info.file].rel_path.clone(),
                        line: ann.line,
                    });
                }
            }
        }
    }
}

/// `RouterFunction` routes a method builds: the path's pieces resolved
/// (constants too) and joined, the handler a method reference names,
/// resolved as a call from that method.
fn functional(index: &Index<'_>, info: &TypeInfo<'_>, context: &str, out: &mut Vec<FoundRoute>) {
    let scope = scope_of(index, info);
    for method in &info.decl.methods {
        for r in &method.fn_routes {
            let segments: Vec<String> = r
                .path
                .iter()
                .map(|p| index.text_of(scope, Some(method), p, 0).unwrap_or_default())
                .collect();
            let handler = r.handler.as_ref().and_then(|(receiver, name)| {
                index
                    .resolve_call(scope, method, receiver, name)
                    .targets
                    .into_iter()
                    .next()
            });
            let methods = if r.methods.is_empty() {
                vec!["*".to_owned()]
            } else {
                r.methods.clone()
            };
            out.push(FoundRoute {
                methods,
                path: normalise(&format!("{context}/{}", segments.join("/"))),
                handler,
                file: index.files[info.file].rel_path.clone(),
                line: r.line,
            });
        }
    }
}

fn jaxrs(index: &Index<'_>, info: &TypeInfo<'_>, prefix: &str, out: &mut Vec<FoundRoute>) {
    let scope = scope_of(index, info);
    let decl = info.decl;
    let Some(class_path) = decl.annotations.iter().find(|a| a.name == "Path") else {
        return;
    };
    let class_paths = mapping_paths(index, scope, class_path);
    for method in &decl.methods {
        let verbs: Vec<String> = method
            .annotations
            .iter()
            .filter(|a| JAXRS_METHODS.contains(&a.name.as_str()))
            .map(|a| a.name.clone())
            .collect();
        if verbs.is_empty() {
            continue;
        }
        let line = method.annotations.first().map_or(method.line, |a| a.line);
        let method_paths = method
            .annotations
            .iter()
            .find(|a| a.name == "Path")
            .map_or_else(|| vec![String::new()], |a| mapping_paths(index, scope, a));
        for cp in &class_paths {
            for mp in &method_paths {
                out.push(FoundRoute {
                    methods: verbs.clone(),
                    path: normalise(&format!("{prefix}/{cp}/{mp}")),
                    handler: Some(format!("{}.{}", info.fqn, method.name)),
                    file: index.files[info.file].rel_path.clone(),
                    line,
                });
            }
        }
    }
}

fn stripes(index: &Index<'_>, info: &TypeInfo<'_>, context: &str, out: &mut Vec<FoundRoute>) {
    let Some(binding) = info
        .decl
        .annotations
        .iter()
        .find(|a| a.name == "UrlBinding")
    else {
        return;
    };
    let scope = scope_of(index, info);
    let handler = info
        .decl
        .methods
        .iter()
        .find(|m| m.annotations.iter().any(|a| a.name == "DefaultHandler"))
        .or_else(|| {
            info.decl.methods.iter().find(|m| {
                !m.is_constructor
                    && m.ret
                        .as_ref()
                        .is_some_and(|r| r.name.ends_with("Resolution"))
            })
        });
    for path in mapping_paths(index, scope, binding) {
        out.push(FoundRoute {
            methods: vec!["*".to_owned()],
            path: normalise(&format!("{context}/{path}")),
            handler: handler.map(|m| format!("{}.{}", info.fqn, m.name)),
            file: index.files[info.file].rel_path.clone(),
            line: binding.line,
        });
    }
}

/// Routes of one servlet class: a route per `doX` it declares, else one
/// for any method handled by `service`.
fn servlet(
    index: &Index<'_>,
    class: &str,
    context: &str,
    patterns: &[String],
    file: &str,
    line: u32,
    out: &mut Vec<FoundRoute>,
) {
    let Some(info) = index.types.get(class) else {
        return;
    };
    let mut handlers: Vec<(String, String)> = SERVLET_METHODS
        .iter()
        .filter_map(|(name, verb)| {
            index
                .find_method(class, name)
                .map(|t| ((*verb).to_owned(), format!("{t}.{name}")))
        })
        .collect();
    if handlers.is_empty() || info.decl.methods.iter().any(|m| m.name == "service") {
        handlers = vec![(
            "*".to_owned(),
            index
                .find_method(class, "service")
                .map_or_else(|| format!("{class}.service"), |t| format!("{t}.service")),
        )];
    }
    for pattern in patterns {
        let Some(path) = servlet_path(pattern) else {
            continue;
        };
        for (verb, handler) in &handlers {
            out.push(FoundRoute {
                methods: vec![verb.clone()],
                path: normalise(&format!("{context}/{path}")),
                handler: Some(handler.clone()),
                file: file.to_owned(),
                line,
            });
        }
    }
}

/// A servlet URL pattern as a path: `/a/*` is a prefix, `*.do` (an
/// extension mapping, which no path template expresses) matches anything.
fn servlet_path(pattern: &str) -> Option<String> {
    let p = pattern.trim();
    if p.is_empty() {
        return None;
    }
    if p.starts_with("*.") {
        return Some("/**".to_owned());
    }
    Some(p.to_owned())
}

fn web_xml_routes(
    index: &Index<'_>,
    context: &str,
    rel: &str,
    text: &str,
    out: &mut Vec<FoundRoute>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let root = match xml::parse(text) {
        Ok(r) => r,
        Err((line, message)) => {
            diagnostics.push(Diagnostic::new(
                rel,
                Some(line),
                format!(
                    "web.xml is not well-formed XML ({message}); its servlet mappings are not read"
                ),
            ));
            return;
        }
    };
    let child_text = |e: &xml::Element, name: &str| e.child(name).map(|c| c.text.trim().to_owned());
    for s in root.children_named("servlet") {
        let (Some(name), Some(class)) = (
            child_text(s, "servlet-name"),
            child_text(s, "servlet-class"),
        ) else {
            continue;
        };
        if !index.types.contains_key(&class) {
            continue;
        }
        let patterns: Vec<String> = root
            .children_named("servlet-mapping")
            .filter(|m| child_text(m, "servlet-name").as_deref() == Some(name.as_str()))
            .flat_map(|m| {
                m.children_named("url-pattern")
                    .map(|p| p.text.trim().to_owned())
            })
            .collect();
        servlet(index, &class, context, &patterns, rel, s.line, out);
    }
}

/// One path template: slashes merged, no trailing slash, `{id:regex}` →
/// `{id}`, a trailing `**` or `*` → `{*rest}`, an inner `*` → `{param}`.
#[must_use]
pub fn normalise(path: &str) -> String {
    let mut segments: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    let mut raw_segments = Vec::new();
    // Split on `/` outside braces (a regex may hold slashes).
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                current.push(c);
            }
            '}' => {
                depth -= 1;
                current.push(c);
            }
            '/' if depth <= 0 => raw_segments.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    raw_segments.push(current);
    let raw_segments: Vec<String> = raw_segments.into_iter().filter(|s| !s.is_empty()).collect();
    let last = raw_segments.len().saturating_sub(1);
    for (i, seg) in raw_segments.iter().enumerate() {
        if seg == "**" || (seg == "*" && i == last) {
            if i == last {
                segments.push("{*rest}".to_owned());
            }
            continue;
        }
        if seg == "*" {
            segments.push("{param}".to_owned());
            continue;
        }
        let mut out = String::new();
        let mut chars = seg.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '{' {
                let mut name = String::new();
                let mut level = 1;
                let mut in_name = true;
                for d in chars.by_ref() {
                    match d {
                        '{' => level += 1,
                        '}' => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        ':' if level == 1 => in_name = false,
                        _ => {}
                    }
                    if in_name && d != '{' {
                        name.push(d);
                    }
                }
                let name = name.trim();
                out.push('{');
                out.push_str(if name.is_empty() { "param" } else { name });
                out.push('}');
            } else {
                out.push(c);
            }
        }
        segments.push(out);
    }
    format!("/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise() {
        assert_eq!(normalise("/ctx//owners/"), "/ctx/owners");
        assert_eq!(
            normalise("//owners/{ownerId:\\d+}/pets/{petId}"),
            "/owners/{ownerId}/pets/{petId}"
        );
        assert_eq!(normalise("/static/**"), "/static/{*rest}");
        assert_eq!(normalise("/api/*"), "/api/{*rest}");
        assert_eq!(normalise("/"), "/");
        assert_eq!(normalise("/a/{x:[a-z]{2}}/b"), "/a/{x}/b");
    }
}
