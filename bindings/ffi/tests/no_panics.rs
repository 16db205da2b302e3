//! No input makes the FFI panic or touch memory it should not: bad ranges and timeouts, a closed
//! handle, stale and made-up tokens, a close racing a wait on the direct path.

use std::time::Duration;

use locksfile_ffi::{
    check_range, locksfile_fast_acquire, locksfile_fast_acquire_timeout, locksfile_fast_release, LockMode, LockSpan,
    LocksFile, LocksFileError, OpenOptions, Scope, LOCKSFILE_BLOCK, LOCKSFILE_DONE, LOCKSFILE_FAILED,
    LOCKSFILE_NOT_ACQUIRED, LOCKSFILE_START_SIGNED, LOCKSFILE_TO_END, LOCKSFILE_WRITE,
};

fn path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("locksfile-ffi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("x.lock").display().to_string()
}

fn open(name: &str) -> LocksFile {
    let options = OpenOptions { scope: Scope::OpenFile, create: true, mode: 0o644, fair: false };
    LocksFile::new(path(name), options).unwrap()
}

fn fast_error(file: &LocksFile) -> LocksFileError {
    file.raise_fast_lane_error().unwrap_err()
}

#[test]
fn bad_ranges_are_errors_on_both_paths() {
    let file = open("ranges");
    for (start, count) in [(0, Some(0)), (u64::MAX, Some(1)), (u64::MAX, None), (i64::MAX as u64, Some(2)), (1, Some(u64::MAX))] {
        let error = file.acquire(start, count, LockMode::Write).unwrap_err();
        assert!(matches!(error, LocksFileError::InvalidRange { .. }), "{error:?}");
        assert!(file.try_acquire(start, count, LockMode::Read).is_err());
        assert!(file.acquire_timeout(start, count, LockMode::Read, f64::INFINITY).is_err());
        assert!(file.release(start, count).is_err());
        assert!(file.holders(start, count).is_err());
    }
    let token = file.fast_lane_token();
    assert_eq!(locksfile_fast_acquire(token, u64::MAX, 1, LOCKSFILE_WRITE), LOCKSFILE_FAILED);
    let error = fast_error(&file);
    assert!(matches!(error, LocksFileError::InvalidRange { .. }), "{error:?}");
    assert!(error.to_string().contains("start 18446744073709551615"), "{error}");
    assert!(file.raise_fast_lane_error().is_ok(), "taken once");
    assert_eq!(locksfile_fast_release(token, i64::MAX as u64, 5, 0), LOCKSFILE_FAILED);
    // A count of 0 is an error, not "to the end": that takes the flag.
    assert_eq!(locksfile_fast_acquire(token, 0, 0, LOCKSFILE_WRITE), LOCKSFILE_FAILED);
    assert!(fast_error(&file).to_string().contains("count must be at least 1"));
    // A signed start below 0 is named as such.
    assert_eq!(locksfile_fast_acquire(token, -3i64 as u64, 1, LOCKSFILE_START_SIGNED), LOCKSFILE_FAILED);
    assert!(fast_error(&file).to_string().contains("start -3"));
    assert_eq!(locksfile_fast_acquire_timeout(token, 0, 1, 1, f64::INFINITY), LOCKSFILE_DONE);
    assert_eq!(locksfile_fast_acquire(token, 0, 0, LOCKSFILE_WRITE | LOCKSFILE_BLOCK | LOCKSFILE_TO_END), LOCKSFILE_DONE);
    assert_eq!(locksfile_fast_release(token, 0, 0, LOCKSFILE_TO_END), LOCKSFILE_DONE);
    assert!(file.held().unwrap().is_empty());
}

#[test]
fn bad_timeouts_are_errors() {
    let file = open("timeouts");
    let token = file.fast_lane_token();
    for bad in [-1.0, -0.001, f64::NAN, f64::NEG_INFINITY] {
        assert_eq!(locksfile_fast_acquire_timeout(token, 0, 1, 0, bad), LOCKSFILE_FAILED, "{bad}");
        let error = fast_error(&file);
        assert!(matches!(error, LocksFileError::InvalidTimeout { .. }), "{bad}: {error:?}");
        let generated = file.acquire_timeout(0, Some(1), LockMode::Read, bad).unwrap_err();
        assert_eq!(format!("{generated:?}"), format!("{error:?}"));
    }
    for fine in [0.0, 1e300, f64::MAX] {
        assert_eq!(locksfile_fast_acquire_timeout(token, 0, 1, 0, fine), LOCKSFILE_DONE, "{fine}");
    }
    assert!(file.held().unwrap().len() == 1);
}

#[test]
fn check_range_words_every_language_s_mistakes_like_the_core() {
    assert_eq!(check_range("5".into(), Some("3".into())).unwrap(), LockSpan { start: 5, count: Some(3) });
    assert_eq!(check_range("5".into(), None).unwrap(), LockSpan { start: 5, count: None });
    for (start, count, words) in [
        ("-1", Some("1"), "start -1, count 1): start must not be negative"),
        ("1", Some("0"), "count must be at least 1"),
        ("1", Some("-3"), "count -3): count must be at least 1"),
        ("9223372036854775808", None, "start must not exceed 9223372036854775807"),
        ("9223372036854775807", Some("2"), "the last index must not exceed"),
        ("100000000000000000000000000000000000000000000000000", Some("1"), "start 100000000000000000000000000000000000000000000000000, count 1): start must not exceed"),
        ("5", Some("-100000000000000000000000000000000000000000"), "count -100000000000000000000000000000000000000000): count must be at least 1"),
        ("five", None, "\"five\" is not an integer"),
    ] {
        let error = check_range(start.into(), count.map(Into::into)).unwrap_err();
        assert!(matches!(error, LocksFileError::InvalidRange { .. }), "{error:?}");
        assert!(error.to_string().contains(words), "{start} {count:?}: {error}");
    }
}

#[test]
fn the_same_error_and_message_come_from_both_paths() {
    let file = open("same");
    for (start, count) in [(u64::MAX, 1), (i64::MAX as u64, 2), (3, 0)] {
        let generated = file.acquire(start, Some(count), LockMode::Read).unwrap_err();
        assert_eq!(locksfile_fast_acquire(file.fast_lane_token(), start, count, 0), LOCKSFILE_FAILED);
        let fast = fast_error(&file);
        assert_eq!(format!("{fast:?}"), format!("{generated:?}"));
        let checked = check_range(start.to_string(), Some(count.to_string())).unwrap_err();
        assert_eq!(format!("{checked:?}"), format!("{generated:?}"));
    }
}

#[test]
fn a_closed_handle_stale_tokens_and_made_up_tokens_fail_cleanly() {
    let file = open("closed");
    let token = file.fast_lane_token();
    file.acquire(1, Some(1), LockMode::Write).unwrap();
    file.close_file().unwrap();
    file.close_file().unwrap();
    assert!(matches!(file.acquire(1, Some(1), LockMode::Write), Err(LocksFileError::Closed { .. })));
    assert!(matches!(file.held(), Err(LocksFileError::Closed { .. })));
    assert_eq!(locksfile_fast_acquire(token, 1, 1, 0), LOCKSFILE_FAILED);
    assert!(matches!(fast_error(&file), LocksFileError::Closed { .. }));
    drop(file);
    // Gone: its token names nothing, even once its slot holds another handle.
    let reopened = open("closed");
    assert_ne!(reopened.fast_lane_token(), token);
    for made_up in [token, 0, 1, u64::MAX, 0xdead_beef_0000_0000, reopened.fast_lane_token() ^ (1 << 40)] {
        assert_eq!(locksfile_fast_acquire(made_up, 1, 1, LOCKSFILE_WRITE), LOCKSFILE_FAILED, "{made_up:#x}");
        assert!(matches!(fast_error(&reopened), LocksFileError::Closed { .. }), "{made_up:#x}");
        assert_eq!(locksfile_fast_release(made_up, 1, 1, 0), LOCKSFILE_FAILED);
        assert_eq!(locksfile_fast_acquire_timeout(made_up, 1, 1, 0, 1.0), LOCKSFILE_FAILED);
    }
    assert_eq!(locksfile_fast_acquire(reopened.fast_lane_token(), 1, 1, LOCKSFILE_WRITE), LOCKSFILE_DONE);
    // Another owner (its own open file description) holds lock 1: a try answers "not acquired".
    let third = open("closed");
    assert_eq!(locksfile_fast_acquire(third.fast_lane_token(), 1, 1, 0), LOCKSFILE_NOT_ACQUIRED);
}

#[test]
fn close_ends_a_wait_on_the_direct_path_with_closed() {
    let holder = open("close-wait");
    holder.acquire(5, Some(1), LockMode::Write).unwrap();
    let waiter = open("close-wait");
    let token = waiter.fast_lane_token();
    std::thread::scope(|scope| {
        let blocked = scope.spawn(|| {
            let status = locksfile_fast_acquire(token, 5, 1, LOCKSFILE_WRITE | LOCKSFILE_BLOCK);
            (status, waiter.raise_fast_lane_error())
        });
        // The waiter is in the kernel's queue once /proc/locks shows a waiting request.
        let started = std::time::Instant::now();
        while !waits_in_kernel(&waiter.path()) {
            assert!(started.elapsed() < Duration::from_secs(20), "the waiter never queued");
            std::thread::sleep(Duration::from_millis(1));
        }
        waiter.close_file().unwrap();
        let (status, error) = blocked.join().unwrap();
        assert_eq!(status, LOCKSFILE_FAILED, "the wait went on after close, holder still holding");
        assert!(matches!(error, Err(LocksFileError::Closed { .. })), "{error:?}");
    });
    holder.release(5, Some(1)).unwrap();
    let third = open("close-wait");
    assert!(third.try_acquire(5, Some(1), LockMode::Write).unwrap(), "the closed waiter took the lock after all");
}

#[test]
fn opening_errors_are_typed() {
    let options = || OpenOptions { scope: Scope::Process, create: false, mode: 0o644, fair: false };
    assert!(matches!(LocksFile::new("/nonexistent-dir/x.lock".into(), options()), Err(LocksFileError::NotFound { .. })));
    assert!(matches!(LocksFile::new("/".into(), options()), Err(LocksFileError::IsDirectory { .. })));
    assert!(matches!(LocksFile::new(String::new(), options()), Err(LocksFileError::NotFound { .. } | LocksFileError::Io { .. })));
}

/// Whether a request waits in the kernel for a lock on the file at `path` (`/proc/locks`).
fn waits_in_kernel(path: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let inode = format!(":{} ", std::fs::metadata(path).unwrap().ino());
    std::fs::read_to_string("/proc/locks").unwrap().lines().any(|line| line.contains("->") && line.contains(&inode))
}

#[test]
fn dropping_a_handle_in_a_child_forked_during_a_direct_call_releases_its_locks() {
    let path = path("fork-drop");
    let blocker = open("fork-drop");
    blocker.acquire(0, Some(1), LockMode::Write).unwrap();
    let handle = open("fork-drop");
    let token = handle.fast_lane_token();
    // A direct call in flight at the fork: in the child, its thread never ends it.
    let waiting = std::thread::spawn(move || locksfile_fast_acquire(token, 0, 1, LOCKSFILE_WRITE | LOCKSFILE_BLOCK));
    let started = std::time::Instant::now();
    while !waits_in_kernel(&path) {
        assert!(started.elapsed() < Duration::from_secs(20), "the call never queued");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut ready = [0 as libc::c_int; 2];
    // SAFETY: `ready` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(ready.as_mut_ptr()) }, 0);
    // SAFETY: the child uses the library, tells the parent, and waits to be killed.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        handle.acquire(7, Some(1), LockMode::Write).unwrap();
        drop(handle); // Dropping the handle releases every lock it holds.
        // SAFETY: one byte from a valid buffer to our pipe; pause(2) has no preconditions.
        unsafe {
            libc::write(ready[1], b"r".as_ptr().cast(), 1);
            loop {
                libc::pause();
            }
        }
    }
    let mut byte = 0u8;
    // SAFETY: reads one byte into a valid buffer.
    unsafe { libc::read(ready[0], (&mut byte as *mut u8).cast(), 1) };
    let free = blocker.try_acquire(7, Some(1), LockMode::Write).unwrap();
    // SAFETY: kills and reaps our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    blocker.release(0, Some(1)).unwrap();
    assert_eq!(waiting.join().unwrap(), LOCKSFILE_DONE);
    assert!(free, "the child dropped its handle, yet lock 7 it took through it is still held");
}
