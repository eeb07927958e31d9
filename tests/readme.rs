//! The README's example is real: its plan is valid as shown, and with the
//! percent set to 150 `strangler plan check` prints exactly what the README
//! says it prints.

use std::process::Command;

fn block<'a>(readme: &'a str, fence: &str) -> &'a str {
    let start = readme.find(fence).expect("fence") + fence.len();
    let end = readme[start..].find("```").expect("end of block") + start;
    &readme[start..end]
}

#[test]
fn the_readme_example_is_what_strangler_prints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let plan = block(&readme, "```toml\n");
    assert!(
        strangler_plan::parse(plan).is_valid(),
        "the README's plan must be valid"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("strangler.toml"),
        plan.replace("percent = 10", "percent = 150"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(["plan", "check", "strangler.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let console = block(
        &readme,
        "```console\n$ strangler plan check strangler.toml\n",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), console);
    assert_eq!(out.status.code(), Some(1));
}
