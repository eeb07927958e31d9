// Inputs that once troubled (or could trouble) the Rust passes.
mod cycles;
mod variants;

// A glob cycle between two modules.
pub mod a {
    pub use super::b::*;
    pub fn in_a() {
        missing();
        super::b::in_b();
    }
}
pub mod b {
    pub use super::a::*;
    pub fn in_b() {
        in_a();
    }
}

// An import of itself.
use self::selfish as selfish;
pub fn selfish() {
    selfish();
}
