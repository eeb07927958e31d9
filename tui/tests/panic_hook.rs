//! A panic gives the terminal back: the hook the planner installs writes
//! the restore sequences before the panic's own message. In its own test
//! binary, since a panic hook is global to the process.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// A writer appending to a shared buffer.
#[derive(Clone)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Leave the alternate screen, stop every mouse mode, show the cursor.
const RESTORE: [&str; 3] = ["\x1b[?1049l", "\x1b[?1000l", "\x1b[?25h"];

#[test]
fn write_restore_leaves_the_alternate_screen_and_shows_the_cursor() {
    let mut out = Vec::new();
    strangler_tui::write_restore(&mut out).expect("writes");
    let text = String::from_utf8(out).expect("utf-8");
    for sequence in RESTORE {
        assert!(
            text.contains(sequence),
            "{sequence:?} missing from {text:?}"
        );
    }
}

#[test]
fn the_panic_hook_restores_the_terminal() {
    let buffer = Shared(Arc::new(Mutex::new(Vec::new())));
    let out = buffer.clone();
    strangler_tui::install_panic_hook(move || out.clone());
    let result = std::panic::catch_unwind(|| panic!("boom"));
    assert!(result.is_err());
    let _ = std::panic::take_hook();
    let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
    for sequence in RESTORE {
        assert!(
            text.contains(sequence),
            "{sequence:?} missing from {text:?}"
        );
    }
}
