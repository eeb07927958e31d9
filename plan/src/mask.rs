//! Secrets kept out of messages: [`mask_url`] hides the password of a URL
//! (and secret-looking parameters) before any tool quotes it.
//!
//! Every strangler message that quotes a database or upstream URL goes
//! through it: the plan's diagnostics (so `plan check`, the proxy's start-up
//! error, its `POST /reload` answer and its reload log line), and
//! `plan show`. It works on the text, so a URL too broken for the `url`
//! crate (`postgress://user:secret@host`, `user:pa/ss@host/db`) is masked
//! too, and the rest of the text is kept as written.

/// What replaces a secret.
const MASK: &str = "***";

/// `url` with its password and secret parameters replaced by `***`.
///
/// - The password of the userinfo: `postgres://u:secret@h/db` becomes
///   `postgres://u:***@h/db`; the user name stays. A URL that the `url`
///   crate parses is masked exactly (a `/@x` path is not userinfo); one it
///   cannot parse is masked from the first `:` after `://` to the last
///   `@`, which hides more rather than less.
/// - The value of a parameter whose name suggests a secret (`password`,
///   `passwd`, `pwd`, `token`, `secret`, `api_key`, `apikey`, `sslpassword`,
///   any case), in a query string (`?password=…&`) or in a libpq key/value
///   string (`host=h password=secret`, also quoted `'…'`).
///
/// ```
/// use strangler_plan::mask_url;
/// assert_eq!(mask_url("postgress://user:secret@db/shop"), "postgress://user:***@db/shop");
/// assert_eq!(mask_url("postgres://db/shop?user=u&password=secret"), "postgres://db/shop?user=u&password=***");
/// assert_eq!(mask_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
/// ```
#[must_use]
pub fn mask_url(url: &str) -> String {
    mask_parameters(&mask_userinfo(url))
}

/// Masks the password between `user:` and `@`.
fn mask_userinfo(url: &str) -> String {
    let (start, rest) = match url.find("://") {
        Some(i) => (i + 3, &url[i + 3..]),
        None => (0, url),
    };
    let parsed = (start > 0).then(|| url::Url::parse(url).ok()).flatten();
    let end = match parsed {
        // A URL the `url` crate reads has a password only if it says so,
        // and then its userinfo ends at the last `@` of the authority.
        Some(parsed) if parsed.password().is_none() => return url.to_owned(),
        Some(_) => {
            let authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            rest[..authority].rfind('@')
        }
        None => rest.rfind('@'),
    };
    let Some(end) = end else {
        return url.to_owned();
    };
    match rest[..end].find(':') {
        Some(colon) => format!("{}{MASK}{}", &url[..=start + colon], &url[start + end..]),
        None => url.to_owned(),
    }
}

/// Masks the values of secret-looking `name=value` parameters.
fn mask_parameters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let before = &rest[..eq];
        let name_start = before
            .rfind(|c: char| matches!(c, '?' | '&' | ';' | '#') || c.is_whitespace())
            .map_or(0, |i| {
                i + before[i..].chars().next().map_or(1, char::len_utf8)
            });
        let name = &before[name_start..];
        out.push_str(before);
        out.push('=');
        rest = &rest[eq + 1..];
        if !is_secret_name(name) {
            continue;
        }
        let value_len = if let Some(quoted) = rest.strip_prefix('\'') {
            // libpq quotes values with `'`, escaping with `\`.
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let close = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                })
                .map_or(rest.len(), |(i, _)| i + 2)
        } else {
            rest.find(|c: char| matches!(c, '&' | ';' | '#') || c.is_whitespace())
                .unwrap_or(rest.len())
        };
        if value_len > 0 {
            out.push_str(MASK);
        }
        rest = &rest[value_len..];
    }
    out.push_str(rest);
    out
}

/// Whether a parameter of this name holds a secret.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "pwd", "token", "secret", "apikey", "api_key"]
        .iter()
        .any(|secret| name.contains(secret))
}

#[cfg(test)]
mod tests {
    use super::mask_url;

    #[track_caller]
    fn check(url: &str, expect: &str) {
        assert_eq!(mask_url(url), expect, "masking {url}");
    }

    #[test]
    fn masks_passwords_in_userinfo() {
        check(
            "postgres://u:secret@h:5432/db",
            "postgres://u:***@h:5432/db",
        );
        check("postgres://u:secret@h", "postgres://u:***@h");
        check("http://u:secret@h/x?y#z", "http://u:***@h/x?y#z");
        // The mistyped scheme of the issue: still a URL to the `url` crate.
        check("postgress://user:secret@x/db", "postgress://user:***@x/db");
        // An empty password has nothing to hide, and stays as written.
        check("postgres://u:@h/db", "postgres://u:@h/db");
    }

    #[test]
    fn keeps_urls_without_a_password() {
        check("postgres://u@h/db", "postgres://u@h/db");
        check("postgres://h:5432/db", "postgres://h:5432/db");
        check("http://127.0.0.1:8080", "http://127.0.0.1:8080");
        // `@` in the path is not userinfo.
        check("http://h:8080/@me", "http://h:8080/@me");
        check("", "");
        check("nonsense", "nonsense");
        check("localhost:5432", "localhost:5432");
    }

    #[test]
    fn masks_at_signs_in_passwords() {
        check("postgres://u:p%40ss@h/db", "postgres://u:***@h/db");
        // Not percent-encoded: the userinfo ends at the authority's last `@`.
        check("postgres://u:p@ss@h/db", "postgres://u:***@h/db");
        check("postgres://u:p:a@ss@h:1/db", "postgres://u:***@h:1/db");
    }

    #[test]
    fn masks_what_the_url_crate_cannot_parse() {
        // A `/` in the password ends the authority for the `url` crate,
        // which then reads `pa` as a port and fails.
        check("postgres://u:pa/ss@h/db", "postgres://u:***@h/db");
        check("postgres://u:secret@", "postgres://u:***@");
        check("postgres://u:se cret@h [db]", "postgres://u:***@h [db]");
        check(
            "postgres://u:secret@h:99999/db",
            "postgres://u:***@h:99999/db",
        );
        // No scheme at all.
        check("u:secret@h/db", "u:***@h/db");
        check("://u:secret@h", "://u:***@h");
        // Non-ASCII on either side.
        check("postgres://ü:sécret@hé/db", "postgres://ü:***@hé/db");
    }

    #[test]
    fn masks_secret_parameters() {
        check(
            "postgres://h/db?user=u&password=secret&sslmode=require",
            "postgres://h/db?user=u&password=***&sslmode=require",
        );
        check(
            "postgres://h/db?PASSWORD=secret",
            "postgres://h/db?PASSWORD=***",
        );
        check(
            "https://h/x?access_token=abc#top",
            "https://h/x?access_token=***#top",
        );
        check("https://h/x?api_key=abc;x=1", "https://h/x?api_key=***;x=1");
        check("postgres://h/db?password=", "postgres://h/db?password=");
        // libpq key/value strings, plain and quoted.
        check(
            "host=h user=u password=secret dbname=db",
            "host=h user=u password=*** dbname=db",
        );
        check(
            "host=h password='se cr\\'et' dbname=db",
            "host=h password=*** dbname=db",
        );
        check("password='unterminated", "password=***");
        // Both at once.
        check(
            "postgres://u:one@h/db?sslpassword=two",
            "postgres://u:***@h/db?sslpassword=***",
        );
        // Parameters that are no secret stay.
        check(
            "postgres://h/db?application_name=x&user=u",
            "postgres://h/db?application_name=x&user=u",
        );
    }
}
