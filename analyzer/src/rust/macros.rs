//! A small `macro_rules!` expander for the project's own macros, so the
//! passes see the code a macro call stands for: rules are read from
//! `macro_rules!` items, a flat matcher (fragments, no repetitions) is
//! matched against the call's tokens, and the first matching rule's
//! transcriber is substituted. Every step is bounded by token depth and
//! expansion size; what cannot be expanded is left alone.

use std::collections::HashMap;

use proc_macro2::{Group, TokenStream, TokenTree};
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::{Expr, Item, Macro, Stmt, Token};

/// Token trees nested deeper than this are not re-parsed with syn.
pub const MAX_TOKEN_DEPTH: usize = 48;
/// A macro expansion larger than this many tokens is not used.
const MAX_EXPANSION_TOKENS: usize = 200_000;

/// `macro_rules!` rules: (matcher tokens, transcriber).
pub type MacroRules = Vec<(Vec<TokenTree>, TokenStream)>;

/// The `macro_rules!` macros defined in `items` and the inline modules in
/// them, by name.
#[must_use]
pub fn macro_rules_in(items: &[Item]) -> HashMap<String, MacroRules> {
    let mut map = HashMap::new();
    let mut stack: Vec<&[Item]> = vec![items];
    while let Some(items) = stack.pop() {
        for item in items {
            match item {
                Item::Macro(m) if is_macro_rules(&m.mac) => {
                    if let Some(ident) = &m.ident {
                        map.insert(ident.to_string(), parse_macro_rules(&m.mac.tokens));
                    }
                }
                Item::Mod(m) => {
                    if let Some((_, items)) = &m.content {
                        stack.push(items);
                    }
                }
                _ => {}
            }
        }
    }
    map
}

/// The deepest delimiter nesting of a token stream, computed without
/// recursion; stops counting at `limit + 1`.
#[must_use]
pub fn token_depth(tokens: &TokenStream, limit: usize) -> usize {
    let mut stack = vec![tokens.clone().into_iter()];
    let mut max = 0;
    while let Some(top) = stack.last_mut() {
        match top.next() {
            Some(TokenTree::Group(g)) => {
                if stack.len() > limit {
                    return limit + 1;
                }
                stack.push(g.stream().into_iter());
                max = max.max(stack.len() - 1);
            }
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    max
}

/// How many tokens a stream holds, groups counted once each, computed
/// without recursion; stops counting past `limit`.
pub fn token_count(tokens: &TokenStream, limit: usize) -> usize {
    let mut stack = vec![tokens.clone().into_iter()];
    let mut n = 0usize;
    while let Some(top) = stack.last_mut() {
        match top.next() {
            Some(TokenTree::Group(g)) => {
                n += 1;
                stack.push(g.stream().into_iter());
            }
            Some(_) => n += 1,
            None => {
                stack.pop();
            }
        }
        if n > limit {
            return n;
        }
    }
    n
}

/// Parses a macro's tokens as comma-separated expressions, or failing that
/// as the statements of a block, or failing both (tokens in the macro's
/// own syntax) as the statements of each `{…}` group at their top level
/// that parses as a block: `db_run! { conn: sqlite, mysql { … } postgresql
/// { … } }` holds one block per database backend, and its writes are in
/// them. `None` when nothing in it parses.
pub fn parse_macro_body(tokens: &TokenStream) -> Option<Vec<Stmt>> {
    if token_depth(tokens, MAX_TOKEN_DEPTH) > MAX_TOKEN_DEPTH {
        return None;
    }
    if let Ok(args) = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens.clone()) {
        return Some(args.into_iter().map(|e| Stmt::Expr(e, None)).collect());
    }
    if let Ok(stmts) = syn::Block::parse_within.parse2(tokens.clone()) {
        return Some(stmts);
    }
    let blocks: Vec<Stmt> = tokens
        .clone()
        .into_iter()
        .filter_map(|t| match t {
            TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace => {
                syn::Block::parse_within.parse2(g.stream()).ok()
            }
            _ => None,
        })
        .flatten()
        .collect();
    (!blocks.is_empty()).then_some(blocks)
}

/// Parses a macro's tokens as comma-separated expressions (a function-like
/// macro's arguments), or says why not.
pub fn parse_args(tokens: &TokenStream) -> Result<Vec<Expr>, String> {
    if token_depth(tokens, MAX_TOKEN_DEPTH) > MAX_TOKEN_DEPTH {
        return Err("arguments nested too deeply".to_owned());
    }
    Punctuated::<Expr, Token![,]>::parse_terminated
        .parse2(tokens.clone())
        .map(|p| p.into_iter().collect())
        .map_err(|e| e.to_string())
}

/// Reads the rules of a `macro_rules!` body.
pub fn parse_macro_rules(tokens: &TokenStream) -> MacroRules {
    let toks: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let mut rules = Vec::new();
    let mut i = 0;
    while let (
        Some(TokenTree::Group(m)),
        Some(TokenTree::Punct(eq)),
        Some(TokenTree::Punct(gt)),
        Some(TokenTree::Group(t)),
    ) = (
        toks.get(i),
        toks.get(i + 1),
        toks.get(i + 2),
        toks.get(i + 3),
    ) {
        if eq.as_char() != '=' || gt.as_char() != '>' {
            break;
        }
        rules.push((m.stream().into_iter().collect(), t.stream()));
        i += 4;
        if matches!(toks.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ';') {
            i += 1;
        }
    }
    rules
}

fn same_token(a: &TokenTree, b: &TokenTree) -> bool {
    match (a, b) {
        (TokenTree::Punct(x), TokenTree::Punct(y)) => x.as_char() == y.as_char(),
        (TokenTree::Ident(x), TokenTree::Ident(y)) => x == y,
        (TokenTree::Literal(x), TokenTree::Literal(y)) => x.to_string() == y.to_string(),
        (TokenTree::Group(x), TokenTree::Group(y)) => {
            x.delimiter() == y.delimiter() && x.stream().to_string() == y.stream().to_string()
        }
        _ => false,
    }
}

/// Matches a flat `macro_rules!` matcher (no repetitions) against input.
fn match_rule(
    matcher: &[TokenTree],
    input: &[TokenTree],
) -> Option<HashMap<String, Vec<TokenTree>>> {
    let mut binds = HashMap::new();
    let (mut i, mut j) = (0, 0);
    while i < matcher.len() {
        let Some(tok) = matcher.get(i) else { break };
        if let TokenTree::Punct(p) = tok
            && p.as_char() == '$'
        {
            match (matcher.get(i + 1), matcher.get(i + 2), matcher.get(i + 3)) {
                (
                    Some(TokenTree::Ident(name)),
                    Some(TokenTree::Punct(colon)),
                    Some(TokenTree::Ident(frag)),
                ) if colon.as_char() == ':' => {
                    i += 4;
                    let frag = frag.to_string();
                    let start = j;
                    if matches!(frag.as_str(), "tt" | "ident" | "literal" | "lifetime") {
                        if frag == "literal"
                            && matches!(input.get(j), Some(TokenTree::Punct(m)) if m.as_char() == '-')
                        {
                            j += 1;
                        }
                        if j >= input.len() {
                            return None;
                        }
                        j += 1;
                    } else {
                        let stop = matcher
                            .get(i)
                            .filter(|t| !matches!(t, TokenTree::Punct(p) if p.as_char() == '$'));
                        while let Some(t) = input.get(j) {
                            if stop.is_some_and(|s| same_token(s, t)) {
                                break;
                            }
                            j += 1;
                        }
                        if j == start && frag != "vis" {
                            return None;
                        }
                    }
                    binds.insert(name.to_string(), input.get(start..j)?.to_vec());
                    continue;
                }
                _ => return None, // repetitions and the like
            }
        }
        if !input.get(j).is_some_and(|t| same_token(tok, t)) {
            return None;
        }
        i += 1;
        j += 1;
    }
    (j == input.len()).then_some(binds)
}

/// Substitutes `$name` in a transcriber (bounded by the caller's depth check).
fn substitute(
    tokens: TokenStream,
    binds: &HashMap<String, Vec<TokenTree>>,
    depth: usize,
) -> TokenStream {
    let toks: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = TokenStream::new();
    let mut i = 0;
    while let Some(t) = toks.get(i) {
        match t {
            TokenTree::Punct(p) if p.as_char() == '$' => {
                if let Some(TokenTree::Ident(name)) = toks.get(i + 1)
                    && let Some(bound) = binds.get(&name.to_string())
                {
                    out.extend(bound.iter().cloned());
                    i += 2;
                    continue;
                }
                // `$crate` names the macro's own crate: the code's `crate`.
                if let Some(TokenTree::Ident(name)) = toks.get(i + 1)
                    && name == "crate"
                {
                    out.extend(std::iter::once(toks[i + 1].clone()));
                    i += 2;
                    continue;
                }
                out.extend(std::iter::once(t.clone()));
            }
            TokenTree::Group(g) if depth < MAX_TOKEN_DEPTH => {
                let mut ng = Group::new(g.delimiter(), substitute(g.stream(), binds, depth + 1));
                ng.set_span(g.span());
                out.extend(std::iter::once(TokenTree::Group(ng)));
            }
            _ => out.extend(std::iter::once(t.clone())),
        }
        i += 1;
    }
    out
}

/// Expands a project `macro_rules!` macro with its first matching rule.
pub fn expand(rules: &MacroRules, input: &TokenStream) -> Option<TokenStream> {
    if token_depth(input, MAX_TOKEN_DEPTH) > MAX_TOKEN_DEPTH {
        return None;
    }
    let input: Vec<TokenTree> = input.clone().into_iter().collect();
    for (matcher, transcriber) in rules {
        if let Some(binds) = match_rule(matcher, &input) {
            if token_depth(transcriber, MAX_TOKEN_DEPTH) > MAX_TOKEN_DEPTH {
                return None;
            }
            let out = substitute(transcriber.clone(), &binds, 0);
            if token_count(&out, MAX_EXPANSION_TOKENS) > MAX_EXPANSION_TOKENS {
                return None;
            }
            return Some(out);
        }
    }
    None
}

/// Parses an expansion as an expression, or a block's statements.
pub fn parse_expansion(tokens: TokenStream) -> Option<Vec<Stmt>> {
    if token_depth(&tokens, MAX_TOKEN_DEPTH) > MAX_TOKEN_DEPTH {
        return None;
    }
    if let Ok(e) = syn::parse2::<Expr>(tokens.clone()) {
        return Some(vec![Stmt::Expr(e, None)]);
    }
    syn::Block::parse_within.parse2(tokens).ok()
}

/// Whether a macro call is a `macro_rules!` definition.
#[must_use]
pub fn is_macro_rules(mac: &Macro) -> bool {
    mac.path.is_ident("macro_rules")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_depth_is_iterative() {
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        let ts: TokenStream = deep.parse().unwrap_or_default();
        assert!(token_depth(&ts, MAX_TOKEN_DEPTH) > MAX_TOKEN_DEPTH);
    }

    #[test]
    fn a_flat_rule_expands() {
        let rules = parse_macro_rules(
            &"($t:ident) => { concat!(\"SELECT * FROM \", stringify!($t)) };"
                .parse()
                .unwrap_or_default(),
        );
        let out = expand(&rules, &"users".parse().unwrap_or_default()).map(|t| t.to_string());
        assert_eq!(
            out.as_deref(),
            Some("concat ! (\"SELECT * FROM \" , stringify ! (users))")
        );
    }
}
