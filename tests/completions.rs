//! `strangler completions` and `strangler man` end to end: the real binary's
//! scripts parse in their shell and complete the real subcommands, and the
//! man pages document the real flags.

use std::process::{Command, Output};

const SUBCOMMANDS: [&str; 10] = [
    "analyze",
    "plan",
    "proxy",
    "sync",
    "status",
    "cutover",
    "rollback",
    "decommission",
    "completions",
    "man",
];

fn strangler(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run strangler")
}

fn stdout_of(args: &[&str]) -> String {
    let out = strangler(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "strangler {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Runs `script` in `bash --norc`, with `stdin` as its standard input.
fn bash(script: &str, stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bash is needed for this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        for command in SUBCOMMANDS {
            assert!(
                script.contains(command),
                "{shell}: {command} missing from the script"
            );
        }
    }
}

#[test]
fn the_bash_script_parses_and_completes_subcommands_and_flags() {
    let script = stdout_of(&["completions", "bash"]);
    let syntax = bash("bash -n /dev/stdin", &script);
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );

    // Source it and call the completion function the way bash's `complete`
    // would for `strangler <TAB>` and `strangler proxy --pl<TAB>`.
    let complete = |words: &str| {
        let out = bash(
            &format!(
                "source /dev/stdin; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
                 _strangler strangler \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
            &script,
        );
        assert!(
            out.status.success(),
            "{words}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let top = complete("strangler ''");
    for command in SUBCOMMANDS {
        assert!(
            top.lines().any(|l| l == command),
            "{command} not offered:\n{top}"
        );
    }
    assert_eq!(complete("strangler proxy --pl"), "--plan\n");
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = strangler(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn man_prints_the_top_page_and_writes_one_per_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH strangler 1"), "{page}");
    assert!(page.contains("strangler\\-proxy(1)"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let listed = stdout_of(&["man", "--out", out.to_str().unwrap()]);
    let mut written: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    let mut expected: Vec<String> = listed
        .lines()
        .map(|l| {
            std::path::Path::new(l)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    expected.sort();
    assert_eq!(written, expected, "stdout lists what was written");
    for name in [
        "strangler.1",
        "strangler-proxy.1",
        "strangler-plan-check.1",
        "strangler-sync-run.1",
        "strangler-completions.1",
    ] {
        assert!(
            written.iter().any(|w| w == name),
            "{name} not in {written:?}"
        );
    }
    assert!(
        !written.iter().any(|w| w.contains("help")),
        "no page for clap's help subcommand: {written:?}"
    );

    let proxy = std::fs::read_to_string(out.join("strangler-proxy.1")).unwrap();
    let title = format!(
        ".TH strangler-proxy 1  \"strangler {}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(proxy.contains(&title), "{proxy}");
    for flag in ["plan", "admin\\-token\\-file", "upgrade"] {
        assert!(
            proxy.contains(&format!("\\-\\-{flag}")),
            "--{flag}:\n{proxy}"
        );
    }
    assert!(proxy.contains("STRANGLER_ADMIN_TOKEN"), "{proxy}");
    assert!(
        proxy.contains("SIGHUP reloads the plan"),
        "the examples: {proxy}"
    );
}
