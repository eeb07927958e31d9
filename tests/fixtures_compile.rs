//! The fixture monolith is a real program: it must compile, even though it
//! stays out of the workspace. This test builds it with the same cargo.

use std::path::Path;
use std::process::Command;

#[test]
fn the_shop_monolith_compiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("fixtures/shop-monolith/Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--quiet", "--locked", "--manifest-path"])
        .arg(&manifest)
        // Its own target directory, so this never waits on the workspace's lock.
        .env(
            "CARGO_TARGET_DIR",
            root.join("fixtures/shop-monolith/target"),
        )
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo check of the fixture failed:\n{stderr}"
    );
    assert!(
        !stderr.contains("warning"),
        "the fixture compiles with warnings:\n{stderr}"
    );
}
