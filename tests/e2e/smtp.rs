//! A real SMTP server for the tests: aiosmtpd (Python), storing each accepted message
//! in a Maildir. `pip install aiosmtpd` provides it; without it the tests that need it
//! pass with a note, unless `KEFU_REQUIRE_SMTP=1` (CI) makes that a failure.

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Smtp {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether aiosmtpd can be started here.
fn available() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Smtp {
    /// Starts aiosmtpd on a free port, or `None` (with a note) when it is not installed.
    pub fn start() -> Option<Smtp> {
        if !available() {
            assert!(
                std::env::var_os("KEFU_REQUIRE_SMTP").is_none(),
                "KEFU_REQUIRE_SMTP is set but aiosmtpd is not installed (pip install aiosmtpd)"
            );
            eprintln!("note: aiosmtpd is not installed (pip install aiosmtpd): test skipped");
            return None;
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Smtp {
            child,
            port,
            maildir,
            _dir: dir,
        })
    }

    /// Every message received, as its raw text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    out.push(text);
                }
            }
        }
        out
    }

    /// Per envelope recipient, how many messages arrived.
    pub fn by_recipient(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for m in self.messages() {
            if let Some(to) = header(&m, "X-RcptTo") {
                *out.entry(to.to_ascii_lowercase()).or_insert(0) += 1;
            }
        }
        out
    }
}

/// A header's value (first occurrence, unfolded).
pub fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\n\n").next()?;
    let mut value: Option<String> = None;
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value
}
