//! The JSON access log: one line per request, written by a thread of its
//! own so a slow disk never holds up a request.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};

/// A handle to the access-log writer thread.
#[derive(Debug)]
pub struct AccessLog {
    lines: Sender<String>,
}

impl AccessLog {
    /// Appends to the file at `path`, or writes to stdout when it is `-`.
    pub fn open(path: &Path) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(path)?)
        };
        let (lines, rx) = channel();
        std::thread::Builder::new()
            .name("strangler-access-log".to_owned())
            .spawn(move || write_lines(&rx, BufWriter::new(out)))?;
        Ok(Self { lines })
    }

    /// Queues one JSON line (without its newline).
    pub fn write(&self, line: String) {
        // The writer thread only stops when the process does.
        let _ = self.lines.send(line);
    }
}

fn write_lines(rx: &Receiver<String>, mut out: BufWriter<Box<dyn Write + Send>>) {
    while let Ok(line) = rx.recv() {
        let mut ok = writeln!(out, "{line}").is_ok();
        // Batch what is already queued, then flush once.
        while let Ok(line) = rx.try_recv() {
            ok &= writeln!(out, "{line}").is_ok();
        }
        if !(ok && out.flush().is_ok()) {
            tracing::warn!("cannot write the access log");
        }
    }
}
