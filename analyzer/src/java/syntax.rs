//! The syntax pass: one `.java` file through tree-sitter-java into a
//! [`JavaFile`]. tree-sitter always returns a tree; a file whose tree holds
//! error or missing nodes is a diagnostic at the first of them, and what
//! parsed is kept.

use tree_sitter::{Node, Parser};

use super::model::{
    Annotation, Call, Field, FnRoute, Import, JavaFile, Method, Piece, Receiver, TypeDecl, TypeRef,
    Value,
};
use crate::source::Diagnostic;

/// The HTTP methods of request predicates and route builders.
const VERBS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Deeper syntax than this is cut off (with a diagnostic), so hostile input
/// cannot exhaust the stack.
const MAX_DEPTH: usize = 200;

/// A tree-sitter parser for Java, to reuse across files with
/// [`parse_with`]; the error says why the grammar cannot be loaded.
pub fn java_parser() -> Result<Parser, String> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_java::LANGUAGE.into())
        .map_err(|e| e.to_string())?;
    Ok(parser)
}

/// Parses `text` (the file at `rel_path`) and extracts its declarations.
/// Never panics: a grammar that cannot be loaded, a parse that returns no
/// tree, syntax errors and over-deep nesting are diagnostics.
pub fn parse_file(rel_path: &str, text: &str) -> (JavaFile, Vec<Diagnostic>) {
    let mut parser = java_parser();
    parse_with(parser.as_mut(), rel_path, text)
}

/// [`parse_file`] with a parser from [`java_parser`] (or why there is none).
pub fn parse_with(
    parser: Result<&mut Parser, &mut String>,
    rel_path: &str,
    text: &str,
) -> (JavaFile, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut file = JavaFile {
        rel_path: rel_path.to_owned(),
        lines: text.lines().count(),
        ..JavaFile::default()
    };
    let parser = match parser {
        Ok(p) => p,
        Err(e) => {
            diagnostics.push(Diagnostic::new(
                rel_path,
                None,
                format!("cannot load the Java grammar: {e}"),
            ));
            return (file, diagnostics);
        }
    };
    let Some(tree) = parser.parse(text, None) else {
        diagnostics.push(Diagnostic::new(
            rel_path,
            None,
            "tree-sitter returned no syntax tree; file skipped",
        ));
        return (file, diagnostics);
    };
    let root = tree.root_node();
    if root.has_error() {
        let line = first_error(root).map_or(1, |n| line_of(n));
        diagnostics.push(Diagnostic::new(
            rel_path,
            Some(line),
            "not valid Java (syntax error here); the declarations that parsed are kept",
        ));
    }
    let mut cx = Cx {
        src: text.as_bytes(),
        file: &mut file,
        too_deep: false,
        strings: Vec::new(),
    };
    let mut cursor = root.walk();
    for child in root.named_children(&mut cursor) {
        match child.kind() {
            "package_declaration" => {
                if let Some(name) = named_child_of(child, &["scoped_identifier", "identifier"]) {
                    cx.file.package = cx.text(name);
                }
            }
            "import_declaration" => {
                let import = cx.import(child);
                if let Some(import) = import {
                    cx.file.imports.push(import);
                }
            }
            _ => cx.declaration(child, "", 0),
        }
    }
    if cx.too_deep {
        diagnostics.push(Diagnostic::new(
            rel_path,
            None,
            format!("nested deeper than {MAX_DEPTH} levels; the deeper parts are skipped"),
        ));
    }
    (file, diagnostics)
}

struct Cx<'a> {
    src: &'a [u8],
    file: &'a mut JavaFile,
    too_deep: bool,
    /// Local string constants met in the body being walked.
    strings: Vec<(String, Vec<Piece>)>,
}

fn line_of(node: Node<'_>) -> u32 {
    u32::try_from(node.start_position().row + 1).unwrap_or(u32::MAX)
}

fn first_error(node: Node<'_>) -> Option<Node<'_>> {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.is_error() || n.is_missing() {
            return Some(n);
        }
        if n.has_error() {
            let mut cursor = n.walk();
            let children: Vec<Node<'_>> = n.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    None
}

fn named_child_of<'t>(node: Node<'t>, kinds: &[&str]) -> Option<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .find(|c| kinds.contains(&c.kind()))
}

impl Cx<'_> {
    fn text(&self, node: Node<'_>) -> String {
        node.utf8_text(self.src).unwrap_or_default().to_owned()
    }

    fn import(&self, node: Node<'_>) -> Option<Import> {
        let mut is_static = false;
        let mut on_demand = false;
        let mut path = None;
        let mut cursor = node.walk();
        for c in node.children(&mut cursor) {
            match c.kind() {
                "static" => is_static = true,
                "asterisk" => on_demand = true,
                "scoped_identifier" | "identifier" => path = Some(self.text(c)),
                _ => {}
            }
        }
        Some(Import {
            path: path?,
            is_static,
            on_demand,
        })
    }

    // One dispatch over the member kinds reads better than several pieces.
    #[allow(clippy::too_many_lines)]
    /// A type declaration (or anything else at the top level, ignored),
    /// nested in `outer` (empty at the top).
    fn declaration(&mut self, node: Node<'_>, outer: &str, depth: usize) {
        let kind = match node.kind() {
            "class_declaration" => "class",
            "interface_declaration" => "interface",
            "enum_declaration" => "enum",
            "record_declaration" => "record",
            "annotation_type_declaration" => "annotation",
            _ => return,
        };
        if depth > MAX_DEPTH {
            self.too_deep = true;
            return;
        }
        let Some(name_node) = node.child_by_field_name("name") else {
            return;
        };
        let simple = self.text(name_node);
        let name = if outer.is_empty() {
            simple.clone()
        } else {
            format!("{outer}.{simple}")
        };
        let annotations = self.modifiers(node);
        let mut decl = TypeDecl {
            name: name.clone(),
            kind,
            line: line_of(node),
            annotations,
            ..TypeDecl::default()
        };
        if let Some(sup) = node.child_by_field_name("superclass") {
            decl.extends.extend(self.types_in(sup));
        }
        if let Some(ifaces) = node.child_by_field_name("interfaces") {
            decl.implements.extend(self.types_in(ifaces));
        }
        if let Some(ext) = named_child_of(node, &["extends_interfaces"]) {
            decl.extends.extend(self.types_in(ext));
        }
        if kind == "record"
            && let Some(params) = node.child_by_field_name("parameters")
        {
            for (pname, ty, annotations) in self.params(params) {
                decl.fields.push(Field {
                    name: pname,
                    ty,
                    annotations,
                    constant: None,
                });
            }
        }
        let index = self.file.types.len();
        self.file.types.push(decl);
        let Some(body) = node.child_by_field_name("body") else {
            return;
        };
        let mut members = Vec::new();
        let mut cursor = body.walk();
        for member in body.named_children(&mut cursor) {
            if member.kind() == "enum_body_declarations" {
                let mut c2 = member.walk();
                members.extend(member.named_children(&mut c2));
            } else {
                members.push(member);
            }
        }
        for member in members {
            match member.kind() {
                "field_declaration" | "constant_declaration" => {
                    let fields = self.fields(member);
                    self.file.types[index].fields.extend(fields);
                }
                "method_declaration"
                | "constructor_declaration"
                | "compact_constructor_declaration"
                | "annotation_type_element_declaration" => {
                    let method = self.method(member, depth);
                    self.file.types[index].methods.push(method);
                }
                "enum_constant" => {
                    // An enum constant's arguments are a constructor call.
                    let mut calls = Vec::new();
                    let mut types = Vec::new();
                    self.body(member, &mut calls, &mut types, &mut Vec::new(), depth + 1);
                    if !calls.is_empty() {
                        let method = Method {
                            name: "<clinit>".to_owned(),
                            line: line_of(member),
                            calls,
                            body_types: types,
                            ..Method::default()
                        };
                        merge_initializer(&mut self.file.types[index], method);
                    }
                }
                "static_initializer" | "block" => {
                    let mut method = Method {
                        name: "<clinit>".to_owned(),
                        line: line_of(member),
                        ..Method::default()
                    };
                    self.body(
                        member,
                        &mut method.calls,
                        &mut method.body_types,
                        &mut method.locals,
                        depth + 1,
                    );
                    merge_initializer(&mut self.file.types[index], method);
                }
                _ => self.declaration(member, &name, depth + 1),
            }
        }
    }

    /// Annotations among a declaration's modifiers.
    fn modifiers(&self, node: Node<'_>) -> Vec<Annotation> {
        let mut out = Vec::new();
        let Some(mods) = named_child_of(node, &["modifiers"]) else {
            return out;
        };
        let mut cursor = mods.walk();
        for m in mods.children(&mut cursor) {
            if matches!(m.kind(), "marker_annotation" | "annotation") {
                out.push(self.annotation(m));
            }
        }
        out
    }

    fn has_modifier(node: Node<'_>, word: &str) -> bool {
        let Some(mods) = named_child_of(node, &["modifiers"]) else {
            return false;
        };
        let mut cursor = mods.walk();
        mods.children(&mut cursor).any(|m| m.kind() == word)
    }

    fn annotation(&self, node: Node<'_>) -> Annotation {
        self.annotation_at(node, 0)
    }

    /// An annotation; `depth` counts the annotations it is nested in.
    fn annotation_at(&self, node: Node<'_>, depth: usize) -> Annotation {
        let name = node
            .child_by_field_name("name")
            .map(|n| self.text(n))
            .unwrap_or_default();
        let simple = name.rsplit('.').next().unwrap_or_default().to_owned();
        let mut args = Vec::new();
        let mut nested = Vec::new();
        if let Some(list) = node.child_by_field_name("arguments") {
            let mut cursor = list.walk();
            for arg in list.named_children(&mut cursor) {
                if arg.kind() == "element_value_pair" {
                    let key = arg
                        .child_by_field_name("key")
                        .map(|k| self.text(k))
                        .unwrap_or_default();
                    let values = arg
                        .child_by_field_name("value")
                        .map(|v| {
                            nested.extend(self.nested(v, depth));
                            self.values(v)
                        })
                        .unwrap_or_default();
                    args.push((key, values));
                } else if arg.kind() != "comment" {
                    nested.extend(self.nested(arg, depth));
                    args.push(("value".to_owned(), self.values(arg)));
                }
            }
        }
        Annotation {
            name: simple,
            args,
            nested,
            line: line_of(node),
        }
    }

    /// The annotations an annotation argument is or holds (an array of
    /// them); none below two levels of nesting.
    fn nested(&self, node: Node<'_>, depth: usize) -> Vec<Annotation> {
        if depth >= 2 {
            return Vec::new();
        }
        let mut cursor = node.walk();
        let items: Vec<Node<'_>> = if node.kind() == "element_value_array_initializer" {
            node.named_children(&mut cursor).collect()
        } else {
            vec![node]
        };
        items
            .into_iter()
            .filter(|n| matches!(n.kind(), "annotation" | "marker_annotation"))
            .map(|n| self.annotation_at(n, depth + 1))
            .collect()
    }

    /// An annotation value: an array gives one value per element.
    fn values(&self, node: Node<'_>) -> Vec<Value> {
        if node.kind() == "element_value_array_initializer" || node.kind() == "array_initializer" {
            let mut cursor = node.walk();
            return node
                .named_children(&mut cursor)
                .filter(|c| c.kind() != "comment")
                .map(|c| self.value(c, 0))
                .collect();
        }
        vec![self.value(node, 0)]
    }

    /// An expression as string pieces, when it is a literal, a name or a
    /// concatenation of them.
    fn value(&self, node: Node<'_>, depth: usize) -> Value {
        let mut pieces = Vec::new();
        if self.pieces(node, &mut pieces, depth) {
            Value::Text(pieces)
        } else {
            Value::Other
        }
    }

    fn pieces(&self, node: Node<'_>, out: &mut Vec<Piece>, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match node.kind() {
            "string_literal" => {
                out.push(Piece::Lit(self.string(node)));
                true
            }
            "identifier" | "field_access" | "scoped_identifier" | "class_literal" | "true"
            | "false" => {
                out.push(Piece::Name(self.text(node)));
                true
            }
            "parenthesized_expression" => node
                .named_child(0)
                .is_some_and(|c| self.pieces(c, out, depth + 1)),
            "binary_expression" => {
                let op = node
                    .child_by_field_name("operator")
                    .map(|o| self.text(o))
                    .unwrap_or_default();
                if op != "+" {
                    return false;
                }
                let (Some(l), Some(r)) = (
                    node.child_by_field_name("left"),
                    node.child_by_field_name("right"),
                ) else {
                    return false;
                };
                // A non-string operand (a number, a call) is unknown text.
                if !self.pieces(l, out, depth + 1) {
                    out.push(Piece::Unknown);
                }
                if !self.pieces(r, out, depth + 1) {
                    out.push(Piece::Unknown);
                }
                true
            }
            _ => false,
        }
    }

    /// A string literal's value, escapes resolved as far as SQL and paths
    /// need; text blocks lose their common indentation.
    fn string(&self, node: Node<'_>) -> String {
        let raw = self.text(node);
        let body = if let Some(inner) = raw
            .strip_prefix("\"\"\"")
            .and_then(|s| s.strip_suffix("\"\"\""))
        {
            let lines: Vec<&str> = inner.lines().collect();
            lines
                .iter()
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned()
        } else {
            raw.strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(&raw)
                .to_owned()
        };
        unescape(&body)
    }

    fn fields(&self, node: Node<'_>) -> Vec<Field> {
        let annotations = self.modifiers(node);
        let is_constant = (Self::has_modifier(node, "static") && Self::has_modifier(node, "final"))
            || node.kind() == "constant_declaration";
        let ty = node
            .child_by_field_name("type")
            .map(|t| self.type_ref(t))
            .unwrap_or_default();
        let mut out = Vec::new();
        let mut cursor = node.walk();
        for decl in node.children_by_field_name("declarator", &mut cursor) {
            let Some(name) = decl.child_by_field_name("name") else {
                continue;
            };
            let constant = if is_constant {
                decl.child_by_field_name("value")
                    .and_then(|v| match self.value(v, 0) {
                        Value::Text(p) => Some(p),
                        Value::Other => None,
                    })
            } else {
                None
            };
            out.push(Field {
                name: self.text(name),
                ty: ty.clone(),
                annotations: annotations.clone(),
                constant,
            });
        }
        out
    }

    fn params(&self, node: Node<'_>) -> Vec<(String, TypeRef, Vec<Annotation>)> {
        let mut out = Vec::new();
        let mut cursor = node.walk();
        for p in node.named_children(&mut cursor) {
            if !matches!(p.kind(), "formal_parameter" | "spread_parameter") {
                continue;
            }
            let annotations = self.modifiers(p);
            let ty = p
                .child_by_field_name("type")
                .or_else(|| {
                    let mut c2 = p.walk();
                    p.named_children(&mut c2).find(|c| is_type_kind(c.kind()))
                })
                .map(|t| self.type_ref(t))
                .unwrap_or_default();
            let name = p
                .child_by_field_name("name")
                .or_else(|| {
                    named_child_of(p, &["variable_declarator"])
                        .and_then(|d| d.child_by_field_name("name"))
                })
                .map(|n| self.text(n))
                .unwrap_or_default();
            out.push((name, ty, annotations));
        }
        out
    }

    fn method(&mut self, node: Node<'_>, depth: usize) -> Method {
        let is_constructor = matches!(
            node.kind(),
            "constructor_declaration" | "compact_constructor_declaration"
        );
        let annotations = self.modifiers(node);
        let name = if is_constructor {
            "new".to_owned()
        } else {
            node.child_by_field_name("name")
                .map(|n| self.text(n))
                .unwrap_or_default()
        };
        let params = node
            .child_by_field_name("parameters")
            .map(|p| self.params(p))
            .unwrap_or_default();
        let ret = node
            .child_by_field_name("type")
            .filter(|t| t.kind() != "void_type")
            .map(|t| self.type_ref(t));
        let mut method = Method {
            name,
            line: line_of(node),
            annotations,
            params,
            ret,
            is_constructor,
            ..Method::default()
        };
        if let Some(body) = node.child_by_field_name("body") {
            self.body(
                body,
                &mut method.calls,
                &mut method.body_types,
                &mut method.locals,
                depth + 1,
            );
            if method
                .ret
                .as_ref()
                .is_some_and(|r| r.name.ends_with("RouterFunction"))
            {
                self.fn_routes(body, &[], &mut method.fn_routes, depth + 1);
            }
        }
        method.local_strings = std::mem::take(&mut self.strings);
        method
    }

    // One dispatch over the expression kinds the passes need.
    #[allow(clippy::too_many_lines)]
    /// Walks a body for calls, constructions, locals and named types.
    /// Local and anonymous classes inside are walked as part of the body.
    fn body(
        &mut self,
        node: Node<'_>,
        calls: &mut Vec<Call>,
        types: &mut Vec<TypeRef>,
        locals: &mut Vec<(String, TypeRef)>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            self.too_deep = true;
            return;
        }
        match node.kind() {
            "method_invocation" => {
                let name = node
                    .child_by_field_name("name")
                    .map(|n| self.text(n))
                    .unwrap_or_default();
                let receiver = node
                    .child_by_field_name("object")
                    .map_or(Receiver::Implicit, |o| self.receiver(o));
                let args = node
                    .child_by_field_name("arguments")
                    .map(|a| self.args(a))
                    .unwrap_or_default();
                calls.push(Call {
                    receiver,
                    name,
                    created: None,
                    args,
                    line: line_of(node),
                });
            }
            "object_creation_expression" => {
                if let Some(t) = node.child_by_field_name("type") {
                    let ty = self.type_ref(t);
                    types.push(ty.clone());
                    let args = node
                        .child_by_field_name("arguments")
                        .map(|a| self.args(a))
                        .unwrap_or_default();
                    calls.push(Call {
                        receiver: Receiver::Implicit,
                        name: "new".to_owned(),
                        created: Some(ty),
                        args,
                        line: line_of(node),
                    });
                }
            }
            "method_reference" => {
                let mut cursor = node.walk();
                let parts: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
                if let (Some(first), Some(last)) = (parts.first(), parts.last())
                    && parts.len() >= 2
                {
                    let name = self.text(*last);
                    let receiver = self.receiver(*first);
                    calls.push(Call {
                        receiver,
                        name,
                        created: None,
                        args: Vec::new(),
                        line: line_of(node),
                    });
                } else if let Some(first) = parts.first()
                    && node.child_count() >= 3
                    && node
                        .child(u32::try_from(node.child_count().saturating_sub(1)).unwrap_or(0))
                        .is_some_and(|c| c.kind() == "new")
                {
                    let ty = self.type_ref(*first);
                    calls.push(Call {
                        receiver: Receiver::Implicit,
                        name: "new".to_owned(),
                        created: Some(ty),
                        args: Vec::new(),
                        line: line_of(node),
                    });
                }
            }
            "local_variable_declaration" => {
                if let Some(t) = node.child_by_field_name("type") {
                    let declared = self.text(t);
                    let ty = self.type_ref(t);
                    let mut cursor = node.walk();
                    for decl in node.children_by_field_name("declarator", &mut cursor) {
                        let Some(name) = decl.child_by_field_name("name") else {
                            continue;
                        };
                        let inferred = if declared == "var" {
                            decl.child_by_field_name("value")
                                .filter(|v| v.kind() == "object_creation_expression")
                                .and_then(|v| v.child_by_field_name("type"))
                                .map(|t| self.type_ref(t))
                        } else {
                            Some(ty.clone())
                        };
                        if let Some(ty) = inferred {
                            if ty.name == "String"
                                && let Some(Value::Text(p)) =
                                    decl.child_by_field_name("value").map(|v| self.value(v, 0))
                            {
                                let local = self.text(name);
                                self.strings.push((local, p));
                            }
                            locals.push((self.text(name), ty));
                        }
                    }
                    if declared != "var" {
                        types.push(ty);
                    }
                }
            }
            "catch_formal_parameter" | "enhanced_for_statement" | "resource" => {
                if let (Some(t), Some(n)) = (
                    node.child_by_field_name("type"),
                    node.child_by_field_name("name"),
                ) && self.text(t) != "var"
                {
                    locals.push((self.text(n), self.type_ref(t)));
                }
            }
            "cast_expression" | "instanceof_expression" => {
                if let Some(t) = node.child_by_field_name("type") {
                    types.push(self.type_ref(t));
                }
            }
            "class_literal" => {
                if let Some(t) = node.named_child(0) {
                    types.push(self.type_ref(t));
                }
            }
            _ => {}
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        for child in children {
            self.body(child, calls, types, locals, depth + 1);
        }
    }

    fn receiver(&self, node: Node<'_>) -> Receiver {
        match node.kind() {
            "this" => Receiver::This,
            "super" => Receiver::Super,
            "identifier" | "type_identifier" | "scoped_identifier" | "scoped_type_identifier" => {
                Receiver::Name(self.text(node))
            }
            "field_access" => {
                let object = node.child_by_field_name("object");
                let field = node.child_by_field_name("field").map(|f| self.text(f));
                match (object.map(|o| o.kind()), field) {
                    (Some("this"), Some(f)) => Receiver::Name(f),
                    (Some("identifier" | "field_access"), Some(_)) => {
                        Receiver::Name(self.text(node))
                    }
                    _ => Receiver::Expr,
                }
            }
            "generic_type" => named_child_of(node, &["type_identifier", "scoped_type_identifier"])
                .map_or(Receiver::Expr, |n| Receiver::Name(self.text(n))),
            _ => Receiver::Expr,
        }
    }

    fn args(&self, node: Node<'_>) -> Vec<Value> {
        let mut cursor = node.walk();
        node.named_children(&mut cursor)
            .filter(|c| c.kind() != "comment")
            .map(|c| self.value(c, 0))
            .collect()
    }

    /// The type of every `type` child of a `superclass`, `super_interfaces`
    /// or `extends_interfaces` clause.
    fn types_in(&self, node: Node<'_>) -> Vec<TypeRef> {
        let mut out = Vec::new();
        let mut cursor = node.walk();
        for c in node.named_children(&mut cursor) {
            if c.kind() == "type_list" {
                let mut c2 = c.walk();
                for t in c.named_children(&mut c2) {
                    out.push(self.type_ref(t));
                }
            } else if is_type_kind(c.kind()) {
                out.push(self.type_ref(c));
            }
        }
        out
    }

    fn type_ref(&self, node: Node<'_>) -> TypeRef {
        self.type_ref_at(node, 0)
    }

    fn type_ref_at(&self, node: Node<'_>, depth: usize) -> TypeRef {
        if depth > MAX_DEPTH {
            return TypeRef::default();
        }
        match node.kind() {
            "generic_type" => {
                let mut cursor = node.walk();
                let mut name = String::new();
                let mut args = Vec::new();
                for c in node.named_children(&mut cursor) {
                    match c.kind() {
                        "type_identifier" | "scoped_type_identifier" => name = self.text(c),
                        "type_arguments" => {
                            let mut c2 = c.walk();
                            for a in c.named_children(&mut c2) {
                                if a.kind() == "wildcard" {
                                    if let Some(bound) = a
                                        .named_children(&mut a.walk())
                                        .find(|b| is_type_kind(b.kind()))
                                    {
                                        args.push(self.type_ref_at(bound, depth + 1));
                                    }
                                } else if is_type_kind(a.kind()) {
                                    args.push(self.type_ref_at(a, depth + 1));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                TypeRef { name, args }
            }
            "array_type" => node
                .child_by_field_name("element")
                .map(|e| self.type_ref_at(e, depth + 1))
                .unwrap_or_default(),
            "annotated_type" => {
                let mut cursor = node.walk();
                let inner = node
                    .named_children(&mut cursor)
                    .find(|c| is_type_kind(c.kind()));
                inner
                    .map(|i| self.type_ref_at(i, depth + 1))
                    .unwrap_or_default()
            }
            "scoped_type_identifier" => {
                // `Map.Entry<K, V>` parses as a scoped type whose parts may
                // carry arguments; keep the dotted name.
                let text = self.text(node);
                let name = text
                    .split('<')
                    .next()
                    .unwrap_or_default()
                    .split_whitespace()
                    .collect::<String>();
                TypeRef {
                    name,
                    args: Vec::new(),
                }
            }
            _ => TypeRef {
                name: self.text(node),
                args: Vec::new(),
            },
        }
    }
}

/// Functional routes (`RouterFunctions`): what a `RouterFunction` method
/// builds, read from the syntax of its calls.
impl Cx<'_> {
    fn fn_routes(
        &self,
        node: Node<'_>,
        prefix: &[Vec<Piece>],
        out: &mut Vec<FnRoute>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        if node.kind() == "method_invocation" {
            let name = node
                .child_by_field_name("name")
                .map(|n| self.text(n))
                .unwrap_or_default();
            let args: Vec<Node<'_>> = node
                .child_by_field_name("arguments")
                .map(|a| {
                    let mut cursor = a.walk();
                    a.named_children(&mut cursor)
                        .filter(|c| c.kind() != "comment")
                        .collect()
                })
                .unwrap_or_default();
            let object = node.child_by_field_name("object");
            let is_verb = VERBS.contains(&name.as_str());
            let handled = match (name.as_str(), args.as_slice()) {
                // `route(GET("/x"), h::m)`, `.andRoute(..)`.
                ("route" | "andRoute", [predicate, handler, ..]) => {
                    let (methods, path) = self.predicate(*predicate, depth + 1);
                    self.push_route(node, prefix, methods, path, *handler, out);
                    true
                }
                // `nest(path("/api"), ..)`, builder `.path("/api", b -> ..)`.
                ("nest" | "andNest" | "path", [first, rest @ ..]) if !rest.is_empty() => {
                    let path = if first.kind() == "string_literal" || name == "path" {
                        self.path_pieces(*first)
                    } else {
                        self.predicate(*first, depth + 1).1
                    };
                    let mut inner = prefix.to_vec();
                    inner.extend(path);
                    for r in rest {
                        self.fn_routes(*r, &inner, out, depth + 1);
                    }
                    true
                }
                // Builder `.GET("/x", h::m)`, `.GET("/x", accept(..), h::m)`, `.GET(h::m)`.
                (_, [.., handler]) if is_verb && (args.len() >= 2 || is_handler(*handler)) => {
                    let path = if args.len() >= 2 {
                        self.path_pieces(args[0])
                    } else {
                        None
                    };
                    self.push_route(node, prefix, vec![name.clone()], path, *handler, out);
                    true
                }
                _ => false,
            };
            if handled {
                if let Some(o) = object {
                    self.fn_routes(o, prefix, out, depth + 1);
                }
                return;
            }
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        for child in children {
            self.fn_routes(child, prefix, out, depth + 1);
        }
    }

    fn push_route(
        &self,
        node: Node<'_>,
        prefix: &[Vec<Piece>],
        methods: Vec<String>,
        path: Option<Vec<Piece>>,
        handler: Node<'_>,
        out: &mut Vec<FnRoute>,
    ) {
        let mut full = prefix.to_vec();
        full.extend(path);
        out.push(FnRoute {
            methods,
            path: full,
            handler: self.handler(handler),
            line: line_of(node),
        });
    }

    /// A path argument as pieces, when it is a string expression.
    fn path_pieces(&self, node: Node<'_>) -> Option<Vec<Piece>> {
        match self.value(node, 0) {
            Value::Text(p) if !matches!(node.kind(), "method_reference" | "lambda_expression") => {
                Some(p)
            }
            _ => None,
        }
    }

    /// A request predicate's methods and first path: `GET("/x")`,
    /// `path("/x").and(method(HttpMethod.POST))`, `POST("/x").and(accept(..))`.
    fn predicate(&self, node: Node<'_>, depth: usize) -> (Vec<String>, Option<Vec<Piece>>) {
        let mut methods = Vec::new();
        let mut path = None;
        let mut stack = vec![(node, depth)];
        while let Some((n, d)) = stack.pop() {
            if d > MAX_DEPTH {
                continue;
            }
            if n.kind() == "method_invocation" {
                let name = n
                    .child_by_field_name("name")
                    .map(|x| self.text(x))
                    .unwrap_or_default();
                let first = n
                    .child_by_field_name("arguments")
                    .and_then(|a| a.named_child(0));
                if VERBS.contains(&name.as_str()) || name == "path" || name == "method" {
                    if VERBS.contains(&name.as_str()) {
                        methods.push(name.clone());
                    }
                    if name == "method"
                        && let Some(f) = first
                    {
                        let verb = self.text(f);
                        methods.push(verb.rsplit('.').next().unwrap_or(&verb).to_uppercase());
                    } else if path.is_none() {
                        path = first.and_then(|f| self.path_pieces(f));
                    }
                }
            }
            let mut cursor = n.walk();
            let children: Vec<Node<'_>> = n.named_children(&mut cursor).collect();
            // Reversed, so the leftmost predicate is read first.
            stack.extend(children.into_iter().rev().map(|c| (c, d + 1)));
        }
        methods.sort();
        methods.dedup();
        (methods, path)
    }

    /// `h::m`, `this::m`, `Handler::m`, or the call a lambda's body makes
    /// (`req -> h.m(req)`).
    fn handler(&self, node: Node<'_>) -> Option<(Receiver, String)> {
        match node.kind() {
            "method_reference" => {
                let mut cursor = node.walk();
                let parts: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
                match parts.as_slice() {
                    [first, .., last] => Some((self.receiver(*first), self.text(*last))),
                    _ => None,
                }
            }
            "lambda_expression" => {
                let body = node.child_by_field_name("body")?;
                let call = if body.kind() == "method_invocation" {
                    body
                } else {
                    named_child_of(body, &["expression_statement", "return_statement"])
                        .and_then(|s| s.named_child(0))
                        .filter(|c| c.kind() == "method_invocation")?
                };
                let name = call.child_by_field_name("name").map(|n| self.text(n))?;
                let receiver = call
                    .child_by_field_name("object")
                    .map_or(Receiver::Implicit, |o| self.receiver(o));
                Some((receiver, name))
            }
            _ => None,
        }
    }
}

/// Whether a route builder's last argument is its handler.
fn is_handler(node: Node<'_>) -> bool {
    matches!(
        node.kind(),
        "method_reference" | "lambda_expression" | "identifier"
    )
}

fn is_type_kind(kind: &str) -> bool {
    matches!(
        kind,
        "type_identifier"
            | "scoped_type_identifier"
            | "generic_type"
            | "array_type"
            | "annotated_type"
            | "integral_type"
            | "floating_point_type"
            | "boolean_type"
    )
}

/// Folds an initializer block or an enum constant's arguments into the
/// type's one `<clinit>` method.
fn merge_initializer(decl: &mut TypeDecl, method: Method) {
    if let Some(existing) = decl.methods.iter_mut().find(|m| m.name == "<clinit>") {
        existing.calls.extend(method.calls);
        existing.body_types.extend(method.body_types);
        existing.locals.extend(method.locals);
    } else {
        decl.methods.push(method);
    }
}

/// Java string escapes: the common ones resolved, unknown ones kept as written.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('s') => out.push(' '),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controller_yields_its_declarations() {
        let (file, diags) = parse_file(
            "A.java",
            r#"package org.example.owner;
import java.util.List;
import static org.example.Util.*;
@RestController @RequestMapping({"/owners", "/people"})
public class OwnerController implements Api {
    private static final String Q = "SELECT * FROM owners " + "WHERE id = ?";
    @Autowired private OwnerRepository owners;
    OwnerController(OwnerService service) { this.service = service; }
    @GetMapping(path = "/{id}", produces = "application/json")
    public Owner show(@PathVariable int id) {
        Owner o = owners.findById(id).orElseThrow();
        var v = new Visit(o);
        this.helper(Q + id);
        return o;
    }
    enum Kind { A, B }
}
"#,
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(file.package, "org.example.owner");
        assert_eq!(file.imports.len(), 2);
        assert!(file.imports[1].is_static && file.imports[1].on_demand);
        let names: Vec<&str> = file.types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["OwnerController", "OwnerController.Kind"]);
        let c = &file.types[0];
        assert_eq!(c.annotations[1].arg("value").len(), 2);
        assert_eq!(c.implements[0].name, "Api");
        assert_eq!(
            c.fields[0].constant,
            Some(vec![
                Piece::Lit("SELECT * FROM owners ".into()),
                Piece::Lit("WHERE id = ?".into())
            ])
        );
        let show = &c.methods[1];
        assert_eq!(show.name, "show");
        assert_eq!(show.params[0].1.name, "int");
        let called: Vec<(&Receiver, &str)> = show
            .calls
            .iter()
            .map(|c| (&c.receiver, c.name.as_str()))
            .collect();
        assert!(called.contains(&(&Receiver::Name("owners".into()), "findById")));
        assert!(called.contains(&(&Receiver::Expr, "orElseThrow")));
        assert!(called.contains(&(&Receiver::This, "helper")));
        assert!(called.contains(&(&Receiver::Implicit, "new")));
        assert_eq!(show.locals[1].1.name, "Visit");
        assert!(c.methods[0].is_constructor);
    }

    #[test]
    fn broken_java_is_a_diagnostic_with_a_line() {
        let (file, diags) = parse_file("B.java", "package a;\nclass B {\n  void m( {\n}\n");
        assert_eq!(diags.len(), 1);
        assert!(diags[0].line.is_some());
        assert_eq!(file.package, "a");
    }
}
