//! Multi-process test support: the test binary re-executes itself as a worker process that holds
//! locks through this crate and answers one line per command on stdout (see `serve`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use locksfile::{LockMode, LockRange, LocksFile, Scope};

const WORKER_ENV: &str = "LOCKSFILE_TEST_WORKER";
/// Replies start with this, so libtest's own output on stdout is ignored.
const REPLY: &str = "@ ";

/// How long a reply may take before the test fails (not a timing assertion: a hang guard).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to watch a worker to be satisfied that it is blocked.
pub const STILL_BLOCKED: Duration = Duration::from_millis(300);

/// A fresh directory for one test's lock files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("locksfile-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The worker side: when this process was started as a worker, serve commands until `quit`
/// or end of input, then exit. Call it from a test named `worker_entry`.
pub fn serve_if_worker() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    install_returning_sigusr1_handler();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let mut file: Option<LocksFile> = None;
    // libtest has printed "test worker_entry ... " without a newline: end that line first.
    writeln!(out).unwrap();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let reply = if line.trim() == "quit" {
            break;
        } else {
            handle(&mut file, &line)
        };
        writeln!(out, "{REPLY}{reply}").unwrap();
        out.flush().unwrap();
    }
    std::process::exit(0);
}

extern "C" fn ignore(_: libc::c_int) {}

/// SIGUSR1 runs a handler that returns, without SA_RESTART: it interrupts a waiting request.
fn install_returning_sigusr1_handler() {
    // SAFETY: a zeroed sigaction with a no-op extern "C" handler is valid.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
    }
}

fn handle(file: &mut Option<LocksFile>, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["pid"] => std::process::id().to_string(),
        // SAFETY: gettid has no preconditions.
        ["tid"] => unsafe { libc::gettid() }.to_string(),
        ["open", path, scope] => {
            let scope = if *scope == "process" { Scope::Process } else { Scope::OpenFile };
            match LocksFile::options().scope(scope).open(path) {
                Ok(opened) => {
                    *file = Some(opened);
                    "ok".into()
                }
                Err(error) => format!("err {error:?}"),
            }
        }
        ["close"] => {
            *file = None;
            "ok".into()
        }
        ["fork-sleep", ms] => {
            // The reply waits until fork() has returned in the child (its fork handlers are done).
            let mut ready = [0 as libc::c_int; 2];
            // SAFETY: `ready` has room for the two descriptors pipe(2) writes.
            assert_eq!(unsafe { libc::pipe(ready.as_mut_ptr()) }, 0);
            // SAFETY: the child only writes to the pipe, sleeps and exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: writes one byte from a valid buffer to our pipe.
                unsafe { libc::write(ready[1], b"r".as_ptr().cast(), 1) };
                std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
                // SAFETY: ends the child without running the parent's atexit handlers.
                unsafe { libc::_exit(0) };
            }
            let mut byte = 0u8;
            // SAFETY: reads one byte into a valid buffer, then closes the pipe's two ends.
            unsafe {
                libc::read(ready[0], (&mut byte as *mut u8).cast(), 1);
                libc::close(ready[0]);
                libc::close(ready[1]);
            }
            pid.to_string()
        }
        _ => match file {
            Some(file) => handle_lock(file, &words),
            None => "err not open".into(),
        },
    }
}

fn handle_lock(file: &LocksFile, words: &[&str]) -> String {
    let outcome = match words {
        ["acquire", mode, range, wait] => {
            let mode = if *mode == "write" { LockMode::Write } else { LockMode::Read };
            let range = parse_range(range);
            let started = Instant::now();
            let result = match *wait {
                "block" => file.acquire(range, mode).map(|()| true),
                "try" => file.try_acquire(range, mode),
                timeout => {
                    let ms: u64 = timeout.trim_start_matches("timeout=").parse().unwrap();
                    file.acquire_timeout(range, mode, Duration::from_millis(ms))
                }
            };
            return match result {
                Ok(true) => "ok".into(),
                Ok(false) if *wait == "try" => "busy".into(),
                Ok(false) => format!("timeout {}", started.elapsed().as_millis()),
                Err(error) => format!("err {error:?}"),
            };
        }
        ["release", range] => file.release(parse_range(range)),
        ["release-all"] => file.release_all(),
        ["held"] => return format_held(&file.held()),
        _ => return format!("err unknown command {words:?}"),
    };
    match outcome {
        Ok(()) => "ok".into(),
        Err(error) => format!("err {error:?}"),
    }
}

/// `3`, `1..4` or `5..`.
pub fn parse_range(text: &str) -> LockRange {
    match text.split_once("..") {
        None => LockRange::index(text.parse().unwrap()).unwrap(),
        Some((start, "")) => LockRange::from_start(start.parse().unwrap()).unwrap(),
        Some((start, end)) => {
            let (start, end): (u64, u64) = (start.parse().unwrap(), end.parse().unwrap());
            LockRange::new(start, end - start).unwrap()
        }
    }
}

/// `held 0:read 1..4:write` (or `held` when nothing is held).
pub fn format_held(held: &[(LockRange, LockMode)]) -> String {
    let mut text = String::from("held");
    for (range, mode) in held {
        text.push_str(&format!(" {range}:{mode}"));
    }
    text
}

/// A worker process, driven by the test.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
}

impl Worker {
    /// Starts a worker that opens `path` in `scope`.
    pub fn start(path: &Path, scope: Scope) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "worker_entry", "--nocapture", "--test-threads=1"])
            .env(WORKER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a worker process");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(reply) = line.strip_prefix(REPLY) {
                    if sender.send(reply.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut worker = Self { child, stdin, replies };
        let scope = if scope == Scope::Process { "process" } else { "open-file" };
        assert_eq!(worker.ask(&format!("open {} {scope}", path.display())), "ok");
        worker
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a command without waiting for its reply.
    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next reply.
    pub fn reply(&mut self) -> String {
        match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(reply) => reply,
            Err(error) => panic!("worker {} gave no reply: {error:?}", self.child.id()),
        }
    }

    /// Asserts that no reply comes for a while: the last command is still blocked.
    pub fn assert_blocked(&mut self) {
        match self.replies.recv_timeout(STILL_BLOCKED) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("expected the worker to be blocked, got {other:?}"),
        }
    }

    /// Sends a command and returns its reply.
    pub fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.reply()
    }

    /// Whether this worker could take `range` in `mode` right now (taken and released at once).
    pub fn can_take(&mut self, mode: &str, range: &str) -> bool {
        match self.ask(&format!("acquire {mode} {range} try")).as_str() {
            "ok" => {
                assert_eq!(self.ask(&format!("release {range}")), "ok");
                true
            }
            "busy" => false,
            other => panic!("unexpected reply {other}"),
        }
    }

    /// Kills the worker with SIGKILL.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends a signal to the worker's thread `tid` (from the `tid` command): the one that serves
    /// commands, which a process-wide signal might not reach.
    pub fn signal_thread(&self, tid: libc::pid_t, signal: libc::c_int) {
        // SAFETY: tgkill(2) has no memory-safety preconditions.
        let sent = unsafe { libc::syscall(libc::SYS_tgkill, self.child.id() as libc::pid_t, tid, signal) };
        assert_eq!(sent, 0);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
