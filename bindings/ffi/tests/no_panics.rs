//! No input makes the FFI panic: bad ranges, a closed handle, a null token, absurd timeouts.

use std::time::Duration;

use locksfile_ffi::{
    locksfile_fast_acquire, locksfile_fast_acquire_timeout, locksfile_fast_release, LockMode, LocksFile,
    LocksFileError, OpenOptions, Scope, LOCKSFILE_BLOCK, LOCKSFILE_DONE, LOCKSFILE_FAILED, LOCKSFILE_NOT_ACQUIRED,
    LOCKSFILE_WRITE,
};

fn open(name: &str) -> LocksFile {
    let dir = std::env::temp_dir().join(format!("locksfile-ffi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let options = OpenOptions { scope: Scope::OpenFile, create: true, mode: 0o644 };
    LocksFile::new(dir.join("x.lock").display().to_string(), options).unwrap()
}

#[test]
fn bad_ranges_are_errors_on_both_paths() {
    let file = open("ranges");
    for (start, count) in [(0, Some(0)), (u64::MAX, Some(1)), (u64::MAX, None), (i64::MAX as u64, Some(2)), (1, Some(u64::MAX))] {
        let error = file.acquire(start, count, LockMode::Write).unwrap_err();
        assert!(matches!(error, LocksFileError::InvalidRange { .. }), "{error:?}");
        assert!(file.try_acquire(start, count, LockMode::Read).is_err());
        assert!(file.acquire_timeout(start, count, LockMode::Read, Duration::MAX).is_err());
        assert!(file.release(start, count).is_err());
        assert!(file.holders(start, count).is_err());
    }
    let token = file.fast_lane_token();
    // SAFETY: the token names `file`, alive throughout.
    unsafe {
        assert_eq!(locksfile_fast_acquire(token, u64::MAX, 1, LOCKSFILE_WRITE), LOCKSFILE_FAILED);
        let error = file.raise_fast_lane_error().unwrap_err();
        assert!(matches!(error, LocksFileError::InvalidRange { start: u64::MAX, .. }), "{error:?}");
        assert!(error.to_string().contains("start 18446744073709551615"), "{error}");
        assert!(file.raise_fast_lane_error().is_ok(), "taken once");
        assert_eq!(locksfile_fast_release(token, i64::MAX as u64, 5), LOCKSFILE_FAILED);
        assert_eq!(locksfile_fast_acquire_timeout(token, 0, 1, 1, u64::MAX), LOCKSFILE_DONE);
        assert_eq!(locksfile_fast_acquire(token, 0, 0, LOCKSFILE_WRITE | LOCKSFILE_BLOCK), LOCKSFILE_DONE);
        assert_eq!(locksfile_fast_release(token, 0, 0), LOCKSFILE_DONE);
    }
    assert!(file.held().unwrap().is_empty());
}

#[test]
fn the_same_error_and_message_come_from_both_paths() {
    let file = open("same");
    for (start, count) in [(u64::MAX, 1), (i64::MAX as u64, 2)] {
        let generated = file.acquire(start, Some(count), LockMode::Read).unwrap_err();
        // SAFETY: the token names `file`, alive throughout.
        assert_eq!(unsafe { locksfile_fast_acquire(file.fast_lane_token(), start, count, 0) }, LOCKSFILE_FAILED);
        let fast = file.raise_fast_lane_error().unwrap_err();
        assert_eq!(format!("{fast:?}"), format!("{generated:?}"));
        assert_eq!(fast.to_string(), generated.to_string());
    }
}

#[test]
fn a_closed_handle_and_a_null_token_fail_cleanly() {
    let file = open("closed");
    let token = file.fast_lane_token();
    file.acquire(1, Some(1), LockMode::Write).unwrap();
    file.close_file();
    file.close_file();
    assert!(matches!(file.acquire(1, Some(1), LockMode::Write), Err(LocksFileError::Closed { .. })));
    assert!(matches!(file.held(), Err(LocksFileError::Closed { .. })));
    // SAFETY: the token names `file`, still alive (closed, not freed); 0 names nothing.
    unsafe {
        assert_eq!(locksfile_fast_acquire(token, 1, 1, 0), LOCKSFILE_FAILED);
        assert!(matches!(file.raise_fast_lane_error(), Err(LocksFileError::Closed { .. })));
        assert_eq!(locksfile_fast_release(0, 1, 1), LOCKSFILE_FAILED);
        assert_eq!(locksfile_fast_acquire(0, 1, 1, 0), LOCKSFILE_FAILED);
    }
    let reopened = open("closed");
    // SAFETY: as above.
    assert_eq!(unsafe { locksfile_fast_acquire(reopened.fast_lane_token(), 1, 1, LOCKSFILE_WRITE) }, LOCKSFILE_DONE);
    // Another owner (this handle's own open file description) holds lock 1: a try answers "not acquired".
    let third = open("closed");
    // SAFETY: as above.
    assert_eq!(unsafe { locksfile_fast_acquire(third.fast_lane_token(), 1, 1, 0) }, LOCKSFILE_NOT_ACQUIRED);
}

#[test]
fn opening_errors_are_typed() {
    let options = || OpenOptions { scope: Scope::Process, create: false, mode: 0o644 };
    assert!(matches!(LocksFile::new("/nonexistent-dir/x.lock".into(), options()), Err(LocksFileError::NotFound { .. })));
    assert!(matches!(LocksFile::new("/".into(), options()), Err(LocksFileError::IsDirectory { .. })));
    assert!(matches!(LocksFile::new(String::new(), options()), Err(LocksFileError::NotFound { .. } | LocksFileError::Io { .. })));
}
