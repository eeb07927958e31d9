//! The fixture monolith and the service extracted from it are real
//! programs: they must compile without warnings, even though they stay out
//! of the workspace. This test builds them with the same cargo.

use std::path::Path;
use std::process::Command;

/// `cargo check` of `fixtures/<name>`, which must pass without a warning.
fn check_compiles(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures").join(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--quiet", "--locked", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        // Its own target directory, so this never waits on the workspace's lock.
        .env("CARGO_TARGET_DIR", fixture.join("target"))
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo check of fixtures/{name} failed:\n{stderr}"
    );
    assert!(
        !stderr.contains("warning"),
        "fixtures/{name} compiles with warnings:\n{stderr}"
    );
}

#[test]
fn the_shop_monolith_compiles() {
    check_compiles("shop-monolith");
}

#[test]
fn the_extracted_catalog_service_compiles() {
    check_compiles("shop-catalog");
}
