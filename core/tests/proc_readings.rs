//! Reading locks where `/proc` alone falls short: a holder outside the pid namespace of `/proc`, a
//! file whose `st_dev` is not the device `/proc/locks` names, a waiter whose descriptor is in another
//! mount namespace, a read-only handle. One side of each test runs under util-linux's `unshare` (the
//! tests run as root); when namespaces cannot be made, the tests fail.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use common::{temp_dir, Worker, REPLY_TIMEOUT};
use locksfile::proc_locks::{file_locks, system_locks, KernelFileId, Waiters};
use locksfile::{Holder, LockMode, LocksFile, Scope};

/// Set for a side process: what its `side_entry` does.
const SIDE_ENV: &str = "LOCKSFILE_TEST_SIDE";
/// Side lines start with this, so libtest's own output on stdout is ignored.
const LINE: &str = "@ ";

#[test]
fn worker_entry() {
    common::serve_if_worker();
}

/// A side process: this test binary's `side_entry`, started under a command (`unshare ...`), doing
/// what `SIDE_ENV` says and printing what it finds.
#[test]
fn side_entry() {
    let Ok(task) = std::env::var(SIDE_ENV) else { return };
    println!(); // ends libtest's "test side_entry ... " line
    let words: Vec<&str> = task.split(' ').collect();
    match words.as_slice() {
        ["holders", scope, path] => {
            list_holders(if *scope == "process" { Scope::Process } else { Scope::OpenFile }, Path::new(path))
        }
        ["overlay", path] => inspect_overlay(Path::new(path)),
        ["wait", path] => {
            let file = LocksFile::open(path).unwrap();
            say("waiting");
            file.acquire(1, LockMode::Write).unwrap();
            say("acquired");
        }
        _ => panic!("unknown side task {task}"),
    }
    std::process::exit(0);
}

fn say(line: &str) {
    let mut out = std::io::stdout();
    writeln!(out, "{LINE}{line}").unwrap();
    out.flush().unwrap();
}

/// `RANGE MODE CLASS PID` (`?` for no pid).
fn describe(holder: &Holder) -> String {
    let pid = holder.pid.map_or_else(|| "?".to_owned(), |pid| pid.to_string());
    format!("{} {} {} {pid}", holder.range, holder.mode, holder.class.as_str())
}

/// Prints how many locks `/proc/locks` shows on the file here, then what `holders` finds.
fn list_holders(scope: Scope, path: &Path) {
    let file = LocksFile::options().scope(scope).open(path).unwrap();
    say(&format!("writable {}", file.is_writable()));
    let id = KernelFileId::of_descriptor(descriptor(&file)).unwrap();
    say(&format!("listed {}", system_locks().unwrap().iter().filter(|lock| lock.file() == id).count()));
    let mut holders = file.holders(0..).unwrap();
    holders.sort_by_key(|holder| holder.range.start());
    for holder in &holders {
        say(&describe(holder));
    }
    say("end");
}

/// Holds locks on `path`, on an overlay whose files' `st_dev` is a layer's, and prints what is
/// found of them.
fn inspect_overlay(path: &Path) {
    let classic = LocksFile::options().scope(Scope::Process).open(path).unwrap();
    let ofd = LocksFile::open(path).unwrap();
    classic.acquire(2..4, LockMode::Write).unwrap();
    ofd.acquire(6, LockMode::Read).unwrap();
    let metadata = std::fs::metadata(path).unwrap();
    let by_stat = KernelFileId::from_stat(metadata.dev(), metadata.ino());
    let own = std::process::id();
    let named = system_locks().unwrap().iter().any(|lock| lock.pid == Some(own) && lock.file() == by_stat);
    say(&format!("st_dev names the locked file: {named}"));
    let id = KernelFileId::of_path(path).unwrap();
    say(&format!("descriptor agrees: {}", KernelFileId::of_descriptor(descriptor(&ofd)).unwrap() == id));
    let mut found: Vec<String> = file_locks(&id, Waiters::Omit)
        .unwrap()
        .iter()
        .map(|found| format!("{} {} {}", found.lock.range, found.lock.class.as_str(), found.pid.map_or(-1, i64::from)))
        .collect();
    found.sort();
    say(&format!("found {}", found.join(", ")));
    let other = LocksFile::open(path).unwrap();
    let mut holders = other.holders(0..).unwrap();
    holders.sort_by_key(|holder| holder.range.start());
    say(&format!("holders {}", holders.iter().map(describe).collect::<Vec<_>>().join(", ")));
}

/// A side process, with its lines.
struct Side {
    child: Child,
    lines: Receiver<String>,
}

impl Side {
    /// Runs `side_entry` doing `task` under `command` (which ends where the test binary's path and
    /// arguments go; a `sh -c` script gets them as `"$0" "$@"`).
    fn start(command: &[&str], task: &str, env: &[(&str, &Path)]) -> Self {
        let mut child = Command::new(command[0])
            .args(&command[1..])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "side_entry", "--nocapture", "--test-threads=1"])
            .env(SIDE_ENV, task)
            .envs(env.iter().map(|&(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", command[0]));
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(line) = line.strip_prefix(LINE) {
                    if sender.send(line.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        Self { child, lines }
    }

    fn line(&mut self) -> String {
        match self.lines.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) => line,
            Err(error) => panic!("side process said nothing ({error:?}); it ended: {:?}", self.child.try_wait()),
        }
    }

    /// Waits for the side process to end (hang guard: `REPLY_TIMEOUT`), and asserts it succeeded.
    fn finish(mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "side process: {status}");
                return;
            }
            assert!(started.elapsed() < REPLY_TIMEOUT, "side process did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn holders_reports_the_locks_of_processes_outside_the_pid_namespace_of_proc() {
    let path = temp_dir("hidden-holders").join("test.lock");
    let mut classic = Worker::start(&path, Scope::Process);
    let mut ofd = Worker::start(&path, Scope::OpenFile);
    assert_eq!(classic.ask("acquire write 3..5 block"), "ok");
    assert_eq!(classic.ask("acquire read 10 block"), "ok");
    assert_eq!(classic.ask("acquire write 20.. block"), "ok");
    assert_eq!(ofd.ask("acquire read 0 block"), "ok");
    for scope in ["open-file", "process"] {
        // The querying side in a pid namespace of its own, with a /proc of its own: the workers
        // are outside it.
        let unshare = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"];
        let mut side = Side::start(&unshare, &format!("holders {scope} {}", path.display()), &[]);
        assert_eq!(side.line(), "writable true");
        assert_eq!(side.line(), "listed 1", "{scope}: /proc/locks there shows only the open-file-description lock");
        let holders: Vec<String> = std::iter::repeat_with(|| side.line()).take_while(|line| line != "end").collect();
        assert_eq!(
            holders,
            ["0 read open-file ?", "3..5 write process ?", "10 read process ?", "20.. write process ?"],
            "{scope}"
        );
        side.finish();
    }
}

/// Mounts an overlay in a mount namespace of its own: lower and upper layers on two tmpfs, no
/// `xino`, so `stat` gives its files the lower layer's device, not the overlay's.
const OVERLAY: &str = "set -e; cd \"$OVERLAY_DIR\"; mkdir lower upper merged; mount -t tmpfs lower lower; \
                       mount -t tmpfs upper upper; mkdir upper/data upper/work; : > lower/test.lock; \
                       mount -t overlay overlay -o \"lowerdir=$PWD/lower,upperdir=$PWD/upper/data,workdir=$PWD/upper/work,xino=off\" merged; \
                       exec \"$0\" \"$@\"";

#[test]
fn locks_are_found_on_a_file_whose_st_dev_is_not_its_file_systems_device() {
    let dir = temp_dir("overlay");
    let path = dir.join("merged/test.lock");
    let unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c", OVERLAY];
    let mut side = Side::start(&unshare, &format!("overlay {}", path.display()), &[("OVERLAY_DIR", &dir)]);
    let pid = side.child.id();
    assert_eq!(side.line(), "st_dev names the locked file: false", "the overlay does not show the case tested");
    assert_eq!(side.line(), "descriptor agrees: true");
    assert_eq!(side.line(), format!("found 2..4 process {pid}, 6 open-file {pid}"));
    assert_eq!(side.line(), format!("holders 2..4 write process {pid}, 6 read open-file {pid}"));
    side.finish();
}

#[test]
fn a_waiter_in_another_mount_namespace_is_found_through_its_descriptor() {
    let dir = temp_dir("bind");
    let path = dir.join("test.lock");
    let mut holder = Worker::start(&path, Scope::OpenFile);
    assert_eq!(holder.ask("acquire write 0..2 block"), "ok");
    // Like a chroot with the lock file's directory bind-mounted: the waiter's mount and path are
    // not this process's.
    let script =
        "set -e; mkdir -p \"$BIND_DIR/view\"; mount --bind \"$BIND_DIR\" \"$BIND_DIR/view\"; exec \"$0\" \"$@\"";
    let unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script];
    let mut waiter =
        Side::start(&unshare, &format!("wait {}", dir.join("view/test.lock").display()), &[("BIND_DIR", &dir)]);
    assert_eq!(waiter.line(), "waiting");
    let file = KernelFileId::of_path(&path).unwrap();
    let waiting = |waiters| {
        file_locks(&file, waiters).unwrap().into_iter().filter(|found| found.lock.waiting).collect::<Vec<_>>()
    };
    let started = Instant::now();
    while waiting(Waiters::Include).is_empty() && started.elapsed() < REPLY_TIMEOUT {
        std::thread::sleep(Duration::from_millis(10));
    }
    let found = waiting(Waiters::Include);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].lock.range.to_string(), found[0].pid), ("1".to_owned(), Some(waiter.child.id())));
    assert!(found[0].fd.is_some());
    assert!(waiting(Waiters::Omit).is_empty());
    let held = file_locks(&file, Waiters::Omit).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].pid, Some(holder.pid()));
    assert_eq!(holder.ask("release-all"), "ok");
    assert_eq!(waiter.line(), "acquired");
    waiter.finish();
}

#[test]
fn holders_asks_the_kernel_through_a_read_only_handle_too() {
    let dir = temp_dir("read-only");
    let path = dir.join("test.lock");
    let mut holder = Worker::start(&path, Scope::Process);
    assert_eq!(holder.ask("acquire read 4 block"), "ok");
    // A read-only bind mount of the directory: the side's handle falls back to read-only.
    let script =
        "set -e; mkdir -p \"$RO_DIR/view\"; mount --bind -o ro \"$RO_DIR\" \"$RO_DIR/view\"; exec \"$0\" \"$@\"";
    let unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script];
    for scope in ["open-file", "process"] {
        let task = format!("holders {scope} {}", dir.join("view/test.lock").display());
        let mut side = Side::start(&unshare, &task, &[("RO_DIR", &dir)]);
        assert_eq!(side.line(), "writable false", "{scope}");
        assert_eq!(side.line(), "listed 1", "{scope}");
        assert_eq!(side.line(), format!("4 read process {}", holder.pid()), "{scope}");
        assert_eq!(side.line(), "end", "{scope}");
        side.finish();
    }
}

/// The descriptor a handle locks through, borrowed for as long as the handle.
fn descriptor(file: &LocksFile) -> std::os::fd::BorrowedFd<'_> {
    use std::os::fd::AsRawFd;
    // SAFETY: the handle is open (not closed) and outlives the borrow, so its descriptor does.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(file.as_raw_fd()) }
}
