//! What the CLI tests share: the command, temporary lock files, background holders, `status`
//! read as JSON, and waits for a state (never for a time).
#![allow(dead_code)] // each test crate uses its own part

pub mod sys;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command as Cmd;
use serde_json::Value;

/// How long a wait for a state may take before the test fails (a loaded machine is slow).
pub const BOUND: Duration = Duration::from_secs(30);

pub const LOCKSFILE: &str = env!("CARGO_BIN_EXE_locksfile");

pub fn locksfile() -> Cmd {
    Cmd::new(LOCKSFILE)
}

/// `locksfile ARGS…` as a process of our own, with plain signal settings (see `sys`).
pub fn locksfile_process(args: &[&str]) -> Command {
    let mut command = Command::new(LOCKSFILE);
    command.args(args);
    sys::plain_signals(&mut command);
    command
}

pub fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("locksfile-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("test.lock")
}

/// A process of ours killed when dropped (if it is still there), so that a failing test leaves
/// none behind: a holder of locks, a `locksfile run`.
pub struct Background(pub Child);

impl std::ops::Deref for Background {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Background {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Background {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

/// `locksfile hold FILE ARGS…`, returned once it says it holds everything.
pub fn hold(path: &Path, args: &[&str]) -> Background {
    let mut child = Command::new(LOCKSFILE).arg("hold").arg(path).args(args).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("holding "), "{line}");
    assert!(line.contains(&format!("(pid {})", child.id())), "{line}");
    Background(child)
}

/// A Python process holding a classic lock through the standard library's `fcntl.lockf`.
pub fn lockf(path: &Path, start: u64, count: u64, exclusive: bool) -> Background {
    let kind = if exclusive { "LOCK_EX" } else { "LOCK_SH" };
    let script = format!(
        "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR)\nfcntl.lockf(fd, fcntl.{kind}, {count}, {start})\nprint('held', flush=True)\ntime.sleep(60)"
    );
    let mut child = Command::new("python3").arg("-c").arg(script).arg(path).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "held");
    Background(child)
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn status_json(path: &Path) -> Value {
    let output = locksfile().arg("status").arg(path).arg("--json").output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Polls `status --json` until `ready` holds (a waiting request takes a moment to queue).
pub fn status_when(path: &Path, ready: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let status = status_json(path);
        if ready(&status) || started.elapsed() > BOUND {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn locks(status: &Value) -> &Vec<Value> {
    status["locks"].as_array().unwrap()
}

/// Whether any lock or request on the file is in `state` ("held" or "waiting").
pub fn any_in(status: &Value, state: &str) -> bool {
    locks(status).iter().any(|l| l["state"] == state)
}

/// Waits for our child `child` to end, at most `BOUND` (then kills it and fails).
pub fn ended(child: &mut Child) -> ExitStatus {
    let watch = sys::ProcessHandle::open(child.id());
    if let Some(watch) = watch {
        if !watch.wait_gone(BOUND) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pid {} did not end within {BOUND:?}", child.id());
        }
    }
    child.wait().unwrap()
}

/// The signal that ended a process, or its exit status, for messages.
pub fn how(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (_, Some(signal)) => format!("signal {signal}"),
        _ => format!("{status:?}"),
    }
}

/// The next line the command writes (on the stdout it shares with `locksfile run`).
pub fn next_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

/// Whether no lock is held or awaited on the file right now: a `--nonblock` run gets index 0..
/// and every other.
pub fn all_free(path: &Path) -> bool {
    locks(&status_json(path)).is_empty()
}
