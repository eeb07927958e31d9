pub enum E {
    A(u8),
    B,
}

impl E {
    pub const C: u8 = 1;
    pub fn make() -> Self {
        let _ = E::C;
        E::A(1)
    }
}

pub fn uses() -> E {
    match E::make() {
        E::A(_) => E::B,
        E::B => E::make(),
    }
}
