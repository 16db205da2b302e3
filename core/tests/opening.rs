//! Opening lock files, and every kind of bad input: errors with clear messages, never panics.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;

use common::{temp_dir, Worker};
use locksfile::{Error, LockMode, LockRange, LocksFile, Scope, MAX_INDEX};

#[test]
fn worker_entry() {
    common::serve_if_worker();
}

#[test]
fn opening_creates_with_the_mode_and_never_truncates() {
    let dir = temp_dir("create");
    let path = dir.join("data.lock");
    let file = LocksFile::options().mode(0o600).open(&path).unwrap();
    assert!(file.is_writable());
    drop(file);

    std::fs::write(&path, b"contents").unwrap();
    let file = LocksFile::open(&path).unwrap();
    file.acquire(0..3, LockMode::Write).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"contents");
}

#[test]
fn a_new_file_gets_the_mode_less_the_umask() {
    // In a worker: the umask is the process's, and other tests create files meanwhile.
    let dir = temp_dir("umask");
    let mut worker = Worker::start(&dir.join("worker.lock"), Scope::OpenFile);
    for (umask, mode, expected) in [("022", "default", "644"), ("027", "default", "640"), ("027", "666", "640"), ("0", "600", "600"), ("0", "default", "644")] {
        assert_eq!(worker.ask(&format!("umask {umask}")), "ok");
        let path = dir.join(format!("{umask}-{mode}.lock"));
        assert_eq!(worker.ask(&format!("create {} {mode}", path.display())), expected, "umask {umask}, mode {mode}");
    }
}

#[test]
fn descriptors_are_close_on_exec() {
    let path = temp_dir("cloexec").join("x.lock");
    for scope in [Scope::OpenFile, Scope::Process] {
        let file = LocksFile::options().scope(scope).open(&path).unwrap();
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", file.as_raw_fd())).unwrap();
        let flags = info.lines().find_map(|line| line.strip_prefix("flags:")).unwrap().trim();
        assert_ne!(u32::from_str_radix(flags, 8).unwrap() & libc::O_CLOEXEC as u32, 0, "{scope:?}: flags {flags}");
    }
}

#[test]
fn missing_files_directories_and_directories_have_their_own_errors() {
    let dir = temp_dir("errors");
    let missing = dir.join("absent.lock");
    let err = LocksFile::options().create(false).open(&missing).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("absent.lock"), "{err}");

    let err = LocksFile::open(dir.join("no-such-dir/x.lock")).unwrap_err();
    assert!(matches!(err, Error::MissingDirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");

    for scope in [Scope::OpenFile, Scope::Process] {
        let err = LocksFile::options().scope(scope).open(&dir).unwrap_err();
        assert!(matches!(err, Error::IsDirectory { .. }), "{err:?}");
    }
}

#[test]
fn bad_ranges_are_errors_on_every_operation() {
    let file = LocksFile::open(temp_dir("ranges").join("x.lock")).unwrap();
    let bad: Vec<Box<dyn Fn() -> Result<(), Error>>> = vec![
        Box::new(|| file.acquire(LockRange::new(0, 0)?, LockMode::Read)),
        Box::new(|| file.acquire(MAX_INDEX + 1, LockMode::Read)),
        Box::new(|| file.try_acquire(5..5, LockMode::Write).map(drop)),
        Box::new(|| file.try_acquire(u64::MAX.., LockMode::Write).map(drop)),
        Box::new(|| file.acquire(MAX_INDEX..MAX_INDEX + 2, LockMode::Write)),
        #[allow(clippy::reversed_empty_ranges)]
        Box::new(|| file.release(9..3)),
        Box::new(|| file.holders(3..3).map(drop)),
    ];
    for (n, attempt) in bad.iter().enumerate() {
        let err = attempt().unwrap_err();
        assert!(matches!(err, Error::InvalidRange { .. }), "case {n}: {err:?}");
    }
    assert!(file.held().is_empty());
    // The largest lockable index works.
    file.acquire(MAX_INDEX, LockMode::Write).unwrap();
    assert_eq!(file.mode_of(MAX_INDEX), Some(LockMode::Write));
}

#[test]
fn a_read_only_file_takes_read_locks_and_refuses_write_locks_by_name() {
    let dir = temp_dir("read-only");
    let path = dir.join("ro.lock");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Root may write anything: check as an unprivileged user in a child process.
    // SAFETY: the child calls only async-signal-safe functions and our crate, then _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: setgid/setuid have no memory-safety preconditions.
        if unsafe { libc::geteuid() } == 0 && unsafe { libc::setgid(65534) != 0 || libc::setuid(65534) != 0 } {
            unsafe { libc::_exit(10) };
        }
        let code = match LocksFile::open(&path) {
            Ok(file) if file.is_writable() => 11,
            Ok(file) => match (file.acquire(0, LockMode::Read), file.acquire(1, LockMode::Write)) {
                (Ok(()), Err(Error::NotWritable { path: p })) if p == path => 0,
                _ => 12,
            },
            Err(_) => 13,
        };
        // SAFETY: leaves the child without running the harness's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "status {status}");
    assert_eq!(libc::WEXITSTATUS(status), 0);
    let message = Error::NotWritable { path: path.clone() }.to_string();
    assert!(message.contains("ro.lock") && message.contains("read-only"), "{message}");
}

#[test]
fn a_deleted_or_replaced_file_is_reported_stale() {
    let dir = temp_dir("stale");
    let path = dir.join("x.lock");
    let file = LocksFile::open(&path).unwrap();
    assert!(!file.is_stale().unwrap());
    std::fs::remove_file(&path).unwrap();
    assert!(file.is_stale().unwrap());

    let file = LocksFile::open(&path).unwrap();
    let replacement = dir.join("new.lock");
    std::fs::write(&replacement, b"").unwrap();
    std::fs::rename(&replacement, &path).unwrap();
    assert!(file.is_stale().unwrap());
    // Which is why it matters: a newcomer on the path is not excluded by the old inode's locks.
    file.acquire(0, LockMode::Write).unwrap();
    let mut newcomer = Worker::start(&path, Scope::OpenFile);
    assert!(newcomer.can_take("write", "0"));
}

#[test]
fn guards_release_exactly_their_range() {
    let path = temp_dir("guards").join("x.lock");
    let file = LocksFile::open(&path).unwrap();
    let mut outside = Worker::start(&path, Scope::OpenFile);
    file.acquire(0, LockMode::Read).unwrap();
    {
        let guard = file.write(1..4).unwrap();
        assert_eq!(guard.range(), LockRange::new(1, 3).unwrap());
        assert!(!outside.can_take("read", "2"));
        let inner = file.try_lock(10, LockMode::Write).unwrap().expect("free");
        inner.unlock().unwrap();
        assert!(outside.can_take("write", "10"));
    }
    assert!(outside.can_take("write", "1..4"));
    assert!(!outside.can_take("write", "0"), "lock 0 was not the guard's");
    assert_eq!(outside.ask("acquire write 20 block"), "ok");
    assert!(file.try_lock(20, LockMode::Read).unwrap().is_none());
}
