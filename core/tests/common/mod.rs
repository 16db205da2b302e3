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

/// How long one test binary may run before a hang fails it (libtest's "has been running for over
/// 60 seconds" lines name the test that hangs).
const HANG_GUARD: Duration = Duration::from_secs(600);

/// Aborts the test binary if it is still running after [`HANG_GUARD`], so that a hang fails CI
/// instead of stalling it. Started by the first test that makes a directory or a worker.
fn arm_hang_guard() {
    static ARMED: std::sync::Once = std::sync::Once::new();
    ARMED.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(HANG_GUARD);
            eprintln!("the tests were still running after {HANG_GUARD:?}: a hang (see the tests running for long above)");
            std::process::abort();
        });
    });
}

/// A fresh directory for one test's lock files.
pub fn temp_dir(name: &str) -> PathBuf {
    arm_hang_guard();
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

/// Whether the `keep-reading` threads go on.
static KEEP_READING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn handle(file: &mut Option<LocksFile>, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["pid"] => std::process::id().to_string(),
        // SAFETY: gettid has no preconditions.
        ["tid"] => unsafe { libc::gettid() }.to_string(),
        // `scope`: `open-file` or `process`, with `+fair` for a fair handle.
        ["open", path, scope] => {
            let (scope, fair) = scope.split_once('+').map_or((*scope, false), |(scope, fair)| (scope, fair == "fair"));
            let scope = if scope == "process" { Scope::Process } else { Scope::OpenFile };
            match LocksFile::options().scope(scope).fair(fair).open(path) {
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
        ["umask", mask] => {
            // SAFETY: umask(2) has no preconditions.
            unsafe { libc::umask(libc::mode_t::from_str_radix(mask, 8).unwrap()) };
            "ok".into()
        }
        // Creates a lock file with `mode` (octal, or `default`); replies with its permission bits.
        ["create", path, mode] => {
            use std::os::unix::fs::PermissionsExt;
            let mut options = LocksFile::options();
            if *mode != "default" {
                options.mode(u32::from_str_radix(mode, 8).unwrap());
            }
            match options.open(path) {
                Ok(_) => format!("{:o}", std::fs::metadata(path).unwrap().permissions().mode() & 0o7777),
                Err(error) => format!("err {error:?}"),
            }
        }
        // Another library taking over a signal: a handler that returns, with or without SA_RESTART,
        // or the default disposition back.
        ["replace-handler", signal, how] => {
            let signal: libc::c_int = signal.parse().unwrap();
            // SAFETY: a zeroed sigaction with a no-op extern "C" handler (or SIG_DFL) is valid.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = match *how {
                    "default" => libc::SIG_DFL,
                    _ => ignore as extern "C" fn(libc::c_int) as libc::sighandler_t,
                };
                action.sa_flags = if *how == "restart" { libc::SA_RESTART } else { 0 };
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
            "ok".into()
        }
        // What `signal`'s disposition is: `default`, `ignore` or `handler`.
        ["disposition", signal] => {
            let signal: libc::c_int = signal.parse().unwrap();
            // SAFETY: a null new action only reads the current one into a zeroed sigaction.
            let current = unsafe {
                let mut current: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, std::ptr::null(), &mut current);
                current.sa_sigaction
            };
            match current {
                libc::SIG_DFL => "default".into(),
                libc::SIG_IGN => "ignore".into(),
                _ => "handler".into(),
            }
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
        // Forks children (sleeping until killed) while another thread opens handles of `path` in a
        // loop, each taking a write lock on its own index; replies with the children's pids.
        ["fork-during-opens", path, forks] => {
            let stop = std::sync::atomic::AtomicBool::new(false);
            let forks: usize = forks.parse().unwrap();
            let mut children = Vec::new();
            std::thread::scope(|scope| {
                let opener = scope.spawn(|| {
                    let mut handles = Vec::new();
                    // (At most 1,000: every fork child reopens each one, and descriptors are finite.)
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) && handles.len() < 1_000 {
                        let handle = LocksFile::open(path).unwrap();
                        handle.acquire(handles.len() as u64, LockMode::Write).unwrap();
                        handles.push(handle);
                    }
                    std::mem::forget(handles); // Held until this process dies.
                });
                // Each child says when fork() has returned in it (its fork handlers are done: until
                // then it shares every open file description of its parent, as any fork child does).
                let mut ready = [0 as libc::c_int; 2];
                // SAFETY: `ready` has room for the two descriptors pipe(2) writes.
                assert_eq!(unsafe { libc::pipe(ready.as_mut_ptr()) }, 0);
                for _ in 0..forks {
                    // SAFETY: the child only writes to the pipe and sleeps until it is killed.
                    let pid = unsafe { libc::fork() };
                    if pid == 0 {
                        // SAFETY: writes one byte from a valid buffer to our pipe; pause(2) has
                        // no preconditions.
                        unsafe { libc::write(ready[1], b"r".as_ptr().cast(), 1) };
                        loop {
                            // SAFETY: as above.
                            unsafe { libc::pause() };
                        }
                    }
                    children.push(pid.to_string());
                }
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                opener.join().unwrap();
                let mut byte = 0u8;
                for _ in 0..forks {
                    // SAFETY: reads one byte into a valid buffer.
                    unsafe { libc::read(ready[0], (&mut byte as *mut u8).cast(), 1) };
                }
                // SAFETY: closes the pipe's two ends.
                unsafe {
                    libc::close(ready[0]);
                    libc::close(ready[1]);
                }
            });
            children.join(" ")
        }
        // Starts a thread that, through a fair handle of its own, takes `index` for reading, holds
        // it a random while (seeded), lets go and takes it again, until `stop-reading`; replies
        // once it holds the lock the first time.
        ["keep-reading", path, index, seed, min_ms, max_ms] => {
            let handle = LocksFile::options().fair(true).open(path).unwrap();
            let index: u64 = index.parse().unwrap();
            let (mut state, min, max): (u64, u64, u64) = (seed.parse().unwrap(), min_ms.parse().unwrap(), max_ms.parse().unwrap());
            handle.acquire(index, LockMode::Read).unwrap();
            KEEP_READING.store(true, std::sync::atomic::Ordering::SeqCst);
            std::thread::spawn(move || loop {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                std::thread::sleep(Duration::from_millis(min + (state >> 33) % (max - min + 1)));
                handle.release(index).unwrap();
                if !KEEP_READING.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                handle.acquire(index, LockMode::Read).unwrap();
            });
            "ok".into()
        }
        ["stop-reading"] => {
            KEEP_READING.store(false, std::sync::atomic::Ordering::SeqCst);
            "ok".into()
        }
        _ => match file {
            Some(file) => handle_lock(file, &words),
            None => "err not open".into(),
        },
    }
}

/// Forks with the descriptor limit at the descriptors in use, so the child cannot open anything;
/// the child tries `mode` on `range` through the inherited handle. Replies `child N`: 0 when the
/// request failed with the "could not be reopened" error, 1 when it was granted, 2 when refused,
/// 3 on another error.
fn fork_without_descriptors(file: &LocksFile, mode: LockMode, range: LockRange) -> String {
    // SAFETY: getrlimit/setrlimit with valid pointers; the lowest free descriptor is found by
    // opening /dev/null and closed again.
    let (limit, lowest_free) = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        let lowest_free = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        libc::close(lowest_free);
        (limit, lowest_free)
    };
    let lowered = libc::rlimit { rlim_cur: lowest_free as libc::rlim_t, rlim_max: limit.rlim_max };
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) };
    // SAFETY: the child uses the handle and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match file.try_acquire(range, mode) {
            Err(error) if error.to_string().contains("could not be reopened") => 0,
            Ok(true) => 1,
            Ok(false) => 2,
            Err(_) => 3,
        };
        let _ = file.release_all();
        // SAFETY: ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: restores the limit and waits for our own child.
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::waitpid(pid, &mut status, 0);
    }
    format!("child {}", libc::WEXITSTATUS(status))
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
        ["fork-without-descriptors", mode, range] => {
            let mode = if *mode == "write" { LockMode::Write } else { LockMode::Read };
            return fork_without_descriptors(file, mode, parse_range(range));
        }
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
        Self::start_with_env(path, scope, &[])
    }

    /// Starts a worker that opens `path` in `scope` as a fair handle.
    pub fn start_fair(path: &Path, scope: Scope) -> Self {
        Self::start_opening(path, if scope == Scope::Process { "process+fair" } else { "open-file+fair" }, &[])
    }

    /// Starts a worker with extra environment variables.
    pub fn start_with_env(path: &Path, scope: Scope, env: &[(&str, &str)]) -> Self {
        Self::start_opening(path, if scope == Scope::Process { "process" } else { "open-file" }, env)
    }

    fn start_opening(path: &Path, scope: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "worker_entry", "--nocapture", "--test-threads=1"])
            .env(WORKER_ENV, "1")
            .envs(env.iter().copied())
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

    /// How the worker ended, once it has (`None` while it runs).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
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

/// Polls `condition` (every millisecond) until it holds; panics naming `what` after
/// [`REPLY_TIMEOUT`] (a hang guard, not a timing assertion).
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < REPLY_TIMEOUT, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The kernel's locks and waiting requests on the file at `path` (`/proc/locks`).
pub fn kernel_locks(path: &Path) -> Vec<locksfile::proc_locks::KernelLock> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).unwrap();
    locksfile::proc_locks::system_locks().unwrap().into_iter().filter(|lock| lock.is_on(metadata.dev(), metadata.ino())).collect()
}

/// How many requests are waiting in the kernel for locks on the file at `path`.
pub fn waiting_requests(path: &Path) -> usize {
    kernel_locks(path).iter().filter(|lock| lock.waiting).count()
}

/// This thread's id.
pub fn current_tid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Whether thread `tid` of this process is asleep in a futex wait (parked in-process).
pub fn in_futex_wait(tid: libc::pid_t) -> bool {
    let call = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).unwrap_or_default();
    call.split_whitespace().next().and_then(|nr| nr.parse::<i64>().ok()) == Some(libc::SYS_futex)
}

/// The `lock:` lines of `/proc/self/fdinfo/FD`: what one open file description holds.
pub fn fdinfo_locks(fd: i32) -> Vec<(LockRange, LockMode)> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    let mut locks: Vec<(LockRange, LockMode)> = text
        .lines()
        .filter(|line| line.starts_with("lock:"))
        .filter_map(locksfile::proc_locks::KernelLock::parse)
        .map(|lock| (lock.range, lock.mode))
        .collect();
    locks.sort_by_key(|(range, _)| range.start());
    locks
}

/// How a forked child ended: its wait status, or `None` when it was still running after `limit`
/// (then it is killed and reaped: a hang fails the test instead of stalling it).
pub fn reap_within(pid: libc::pid_t, limit: Duration) -> Option<libc::c_int> {
    let started = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child without blocking.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != 0 {
            return Some(status);
        }
        if started.elapsed() > limit {
            // SAFETY: kills and reaps our own hung child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
