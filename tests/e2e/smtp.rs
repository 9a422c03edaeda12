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

/// An aiosmtpd handler that answers like a real mail server refusing some mail: an
/// unknown recipient (`gone@…`: 550 5.1.1), a sender it will not relay for
/// (`spoofed@…`: 553 5.1.8), a full mailbox (`full@…`: 452 4.2.2); everything else is
/// accepted and stored in the Maildir.
const PICKY: &str = r#"
import mailbox
class Picky:
    def __init__(self, maildir):
        self.box = mailbox.Maildir(maildir)
    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0])
    async def handle_MAIL(self, server, session, envelope, address, options):
        if address.startswith("spoofed@"):
            return "553 5.1.8 <%s>: Sender address rejected: not owned by user" % address
        envelope.mail_from = address
        return "250 2.1.0 Ok"
    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("gone@"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table" % address
        if address.startswith("full@"):
            return "452 4.2.2 <%s>: Mailbox full" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"
    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.content)
        return "250 2.0.0 Ok: queued"
"#;

impl Smtp {
    /// Starts aiosmtpd on a free port, or `None` (with a note) when it is not installed.
    pub fn start() -> Option<Smtp> {
        Self::start_with(None)
    }

    /// aiosmtpd refusing some senders and recipients as a real server does ([`PICKY`]).
    #[allow(dead_code)]
    pub fn start_picky() -> Option<Smtp> {
        Self::start_with(Some(PICKY))
    }

    fn start_with(handler: Option<&str>) -> Option<Smtp> {
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
        let class = match handler {
            Some(code) => {
                std::fs::write(dir.path().join("kefu_picky.py"), code).unwrap();
                "kefu_picky.Picky"
            }
            None => "aiosmtpd.handlers.Mailbox",
        };
        let child = Command::new("python3")
            .env("PYTHONPATH", dir.path())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                class,
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
