//! Cleaning up after the test process, however it ends.
//!
//! A `static` is never dropped, so a shared server cannot be stopped from a
//! destructor. Instead, a watchdog shell in its own session reads a pipe
//! whose only writer is this process: when the process ends, for any reason
//! short of the machine going down, the kernel closes the pipe, the read
//! returns, and the watchdog runs its cleanup command.

use std::io;
use std::process::{ChildStdin, Command, Stdio};

/// Keep this alive as long as the resource should live.
#[derive(Debug)]
pub struct Watchdog {
    _pipe: ChildStdin,
}

impl Watchdog {
    /// Runs `cleanup` (a shell command) once this process has ended, or
    /// once the `Watchdog` is dropped.
    pub fn arm(cleanup: &str) -> io::Result<Self> {
        let script = format!("cat >/dev/null; {cleanup}");
        // setsid puts the watchdog out of reach of a Ctrl-C sent to the
        // test's process group, so it lives to clean up.
        let mut command = if std::path::Path::new("/usr/bin/setsid").exists() {
            let mut c = Command::new("/usr/bin/setsid");
            c.args(["sh", "-c", &script]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let pipe = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("the watchdog has no stdin"))?;
        Ok(Self { _pipe: pipe })
    }
}
