//! The `strangler` binary (being written).
fn main() {}
