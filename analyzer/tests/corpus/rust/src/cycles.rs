use crate::cycles::*;
use super::cycles::inner::*;

pub mod inner {
    pub use super::*;
    pub use super::inner::*;
}

pub fn f() {
    inner::f();
    self::inner::inner::inner::f();
    super::super::super::f();
}
