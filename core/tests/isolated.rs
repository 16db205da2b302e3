//! Scenarios that change what a whole process shares (a signal's disposition, a fork during the
//! process's first wait), each run in a process of its own: the test re-executes this binary with
//! `LOCKSFILE_TEST_ISOLATED` naming the scenario, and judges its exit. They were found by review
//! (issue 11) and each failed before its fix.

mod common;

use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{current_tid, in_futex_wait, temp_dir, wait_until, waiting_requests};
use locksfile::{Error, LockMode, LocksFile, Scope};

const SCENARIO: &str = "LOCKSFILE_TEST_ISOLATED";

#[test]
fn worker_entry() {
    common::serve_if_worker();
}

/// Whether this process was started to play `scenario`.
fn playing(scenario: &str) -> bool {
    std::env::var(SCENARIO).is_ok_and(|value| value == scenario)
}

/// Plays `scenario` (a test of this binary) in a new process; its exit code, the signal that
/// ended it, and what it printed.
fn play(scenario: &str, env: &[(&str, &str)]) -> (Option<i32>, Option<i32>, String) {
    use std::os::unix::process::ExitStatusExt;
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", scenario, "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), output.status.signal(), text)
}

fn assert_played_well(scenario: &str, env: &[(&str, &str)]) {
    let (code, signal, text) = play(scenario, env);
    assert_eq!((code, signal), (Some(0), None), "{scenario} ended with code {code:?}, signal {signal:?}:\n{text}");
}

/// Ends the scenario's process at once with `code`.
fn finish(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: ends the process without running the test harness's exit handlers.
    unsafe { libc::_exit(code) }
}

fn timer_signal() -> libc::c_int {
    libc::SIGRTMIN() + 10
}

/// Another library setting `signal`'s disposition: `default`, or a handler that returns.
fn set_disposition(signal: libc::c_int, how: &str) {
    extern "C" fn returning(_: libc::c_int) {}
    // SAFETY: a zeroed sigaction with SIG_DFL or a no-op extern "C" handler is valid.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = match how {
            "default" => libc::SIG_DFL,
            _ => returning as extern "C" fn(libc::c_int) as libc::sighandler_t,
        };
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

// ----- close() never sends a signal that is no longer ours ---------------------------------------

#[test]
fn close_after_another_library_reset_the_signal() {
    if !playing("close_after_another_library_reset_the_signal") {
        return;
    }
    let path = temp_dir("isolated-reset").join("test.lock");
    let holder = LocksFile::open(&path).unwrap();
    holder.acquire(3, LockMode::Write).unwrap();
    let waiter = LocksFile::open(&path).unwrap();
    assert!(!waiter.acquire_timeout(3, LockMode::Write, Duration::from_millis(20)).unwrap()); // installs it
    set_disposition(timer_signal(), "default");
    std::thread::scope(|scope| {
        let (tid_sender, tid) = std::sync::mpsc::channel();
        let waiter = &waiter;
        let blocked = scope.spawn(move || {
            tid_sender.send(current_tid()).unwrap();
            waiter.acquire(3, LockMode::Write)
        });
        let tid = tid.recv().unwrap();
        wait_until("the wait polls (asleep between tries)", || in_futex_wait(tid));
        waiter.close().unwrap();
        let result = blocked.join().unwrap();
        finish(if matches!(result, Err(Error::Closed { .. })) { 0 } else { 2 });
    });
    unreachable!()
}

#[test]
fn close_ends_a_polling_wait_and_kills_nothing_after_another_library_reset_the_signal() {
    let signal = timer_signal().to_string();
    assert_played_well("close_after_another_library_reset_the_signal", &[("LOCKSFILE_TIMER_SIGNAL", &signal)]);
}

// ----- Two views of one owner closing while one of them waits ----------------------------------

/// Another library installing an `SA_RESTART` handler on `signal`: a wait in the kernel can no
/// longer be cut short by it.
fn set_restarting_handler(signal: libc::c_int) {
    extern "C" fn returning(_: libc::c_int) {}
    // SAFETY: a zeroed sigaction with a no-op extern "C" handler is valid.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = returning as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

#[test]
fn close_of_the_last_view_while_another_close_waits() {
    if !playing("close_of_the_last_view_while_another_close_waits") {
        return;
    }
    let path = temp_dir("isolated-two-closes").join("test.lock");
    let mut blocker = common::Worker::start(&path, Scope::OpenFile);
    assert_eq!(blocker.ask("acquire write 0 block"), "ok");
    let first = LocksFile::options().scope(Scope::Process).open(&path).unwrap();
    let second = LocksFile::options().scope(Scope::Process).open(&path).unwrap();
    second.acquire(7, LockMode::Write).unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| first.acquire(0, LockMode::Write));
        wait_until("the request waits in the kernel", || waiting_requests(&path) == 1);
        // The wait can no longer be cut short: the first close waits for it to end on its own.
        set_restarting_handler(timer_signal());
        let closer = scope.spawn(|| first.close());
        wait_until("the first view is closing", || first.is_closed());
        // The last view open: its close must leave the descriptor to the wait still running.
        second.close().unwrap();
        assert_eq!(blocker.ask("release 0"), "ok");
        let waited = waiter.join().map_err(|_| "the waiter panicked");
        let closed = closer.join().map_err(|_| "the first close panicked");
        let free = blocker.can_take("write", "0") && blocker.can_take("write", "7");
        match (&waited, &closed, free) {
            (Ok(Err(Error::Closed { .. })), Ok(Ok(())), true) => finish(0),
            _ => {
                eprintln!("waiter {waited:?}, first close {closed:?}, locks 0 and 7 free from outside: {free}");
                finish(2)
            }
        }
    });
    unreachable!()
}

#[test]
fn the_last_close_of_an_owner_waits_for_the_closes_still_waiting() {
    let signal = timer_signal().to_string();
    assert_played_well("close_of_the_last_view_while_another_close_waits", &[("LOCKSFILE_TIMER_SIGNAL", &signal)]);
}

// ----- A fork while a close waits for its view's wait ---------------------------------------------

#[test]
fn forks_racing_a_close_that_waits() {
    if !playing("forks_racing_a_close_that_waits") {
        return;
    }
    const ROUNDS: u64 = 300;
    let path = temp_dir("isolated-fork-closing").join("test.lock");
    let holder = LocksFile::open(&path).unwrap();
    holder.acquire(3, LockMode::Write).unwrap();
    let mut hung = 0;
    for round in 0..ROUNDS {
        let file = LocksFile::open(&path).unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| file.acquire(3, LockMode::Write));
            wait_until("the request waits in the kernel", || waiting_requests(&path) == 1);
            let closer = scope.spawn(|| file.close());
            // Fork a few microseconds into the close (a different moment every round).
            let spin = Instant::now();
            let into = Duration::from_nanos(round * 7919 % 200_000);
            while spin.elapsed() < into {
                std::hint::spin_loop();
            }
            // SAFETY: the child only closes its inherited handle (under an alarm) and leaves.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: alarm(2) and _exit(2) have no preconditions.
                unsafe { libc::alarm(2) };
                let _ = file.close();
                unsafe { libc::_exit(0) };
            }
            assert!(matches!(waiter.join().unwrap(), Err(Error::Closed { .. })));
            closer.join().unwrap().unwrap();
            let mut status = 0;
            // SAFETY: waits for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            if libc::WIFSIGNALED(status) {
                hung += 1;
            }
        });
    }
    eprintln!("fork children that hung in close(): {hung} of {ROUNDS}");
    finish(if hung == 0 { 0 } else { 2 });
}

#[test]
fn a_fork_child_of_a_closing_handle_closes_it_without_hanging() {
    assert_played_well("forks_racing_a_close_that_waits", &[]);
}

// ----- A fork child's own thread ids and waits ---------------------------------------------------

#[test]
fn close_in_a_fork_child() {
    if !playing("close_in_a_fork_child") {
        return;
    }
    let path = temp_dir("isolated-fork-close").join("test.lock");
    let holder = LocksFile::open(&path).unwrap();
    holder.acquire(3, LockMode::Write).unwrap();
    let waiter = LocksFile::open(&path).unwrap();
    // A wait in this very thread before the fork (once, its id was cached and stale in the child).
    assert!(!waiter.acquire_timeout(3, LockMode::Write, Duration::from_millis(20)).unwrap());
    let mut pipe = [0 as libc::c_int; 2];
    // SAFETY: `pipe` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    // SAFETY: the child uses the crate on inherited handles, then _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let took = std::thread::scope(|scope| {
            let closer = scope.spawn(|| {
                wait_until("the child's wait is queued", || waiting_requests(&path) == 1);
                let started = Instant::now();
                waiter.close().unwrap();
                started.elapsed()
            });
            let result = waiter.acquire(3, LockMode::Write);
            assert!(matches!(result, Err(Error::Closed { .. })), "{result:?}");
            closer.join().unwrap()
        });
        let ms = u32::try_from(took.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: writes 4 bytes from a valid buffer to our pipe.
        unsafe { libc::write(pipe[1], (&ms as *const u32).cast(), 4) };
        finish(0);
    }
    // The parent holds the lock until the child reports (or, as a hang guard, 20 s pass): a close
    // that could not end the wait would only return once the lock is free.
    let mut poll = libc::pollfd { fd: pipe[0], events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut poll, 1, 20_000) };
    holder.release(3).unwrap();
    let mut ms = u32::MAX;
    // SAFETY: reads 4 bytes into a valid buffer; reaps our child.
    unsafe {
        if ready == 1 {
            libc::read(pipe[0], (&mut ms as *mut u32).cast(), 4);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    eprintln!("close() in the fork child took {ms} ms");
    finish(if ms < 2_000 { 0 } else { 3 });
}

#[test]
fn close_in_a_fork_child_ends_the_forking_threads_wait_promptly() {
    assert_played_well("close_in_a_fork_child", &[]);
}

#[test]
fn fork_during_a_wait_then_reopen() {
    if !playing("fork_during_a_wait_then_reopen") {
        return;
    }
    let path = temp_dir("isolated-fork-wait").join("test.lock");
    let blocker = LocksFile::open(&path).unwrap(); // its OFD lock conflicts with the classic one
    blocker.acquire(0, LockMode::Write).unwrap();
    let process = LocksFile::options().scope(Scope::Process).open(&path).unwrap();
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| process.acquire(0, LockMode::Write));
        wait_until("the Process-scope request waits in the kernel", || waiting_requests(&path) == 1);
        // SAFETY: the child uses the crate, then _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let closed = process.close();
            let reopened = LocksFile::options().scope(Scope::Process).open(&path).unwrap();
            let taken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reopened.acquire(1, LockMode::Write)));
            eprintln!("child: close -> {closed:?}; a new Process-scope handle's acquire -> {taken:?}");
            finish(if closed.is_ok() && matches!(taken, Ok(Ok(()))) { 0 } else { 4 });
        }
        let mut status = 0;
        // SAFETY: waits for our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        blocker.release(0).unwrap();
        waiting.join().unwrap().unwrap();
        finish(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 5 });
    });
    unreachable!()
}

#[test]
fn a_child_forked_during_a_wait_closes_and_reopens_the_file() {
    assert_played_well("fork_during_a_wait_then_reopen", &[]);
}

#[test]
fn forks_during_the_first_wait() {
    if !playing("forks_during_the_first_wait") {
        return;
    }
    let path = std::path::PathBuf::from(std::env::var("LOCKSFILE_TEST_PATH").unwrap());
    let holder = LocksFile::open(&path).unwrap();
    holder.acquire(3, LockMode::Write).unwrap();
    let waiter = LocksFile::open(&path).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let go = std::sync::Barrier::new(2);
    let mut children = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            go.wait();
            // The process's first wait: the wake signal is chosen now, once.
            let _ = waiter.acquire_timeout(3, LockMode::Write, Duration::from_millis(1));
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        go.wait();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            // SAFETY: the child makes one timed wait, then _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let _ = waiter.acquire_timeout(3, LockMode::Write, Duration::from_millis(1));
                finish(0);
            }
            children.push(pid);
        }
    });
    let hung = children.into_iter().filter(|&pid| common::reap_within(pid, Duration::from_secs(10)).is_none()).count();
    finish(if hung == 0 { 0 } else { 10 });
}

#[test]
fn a_fork_during_the_processs_first_wait_never_hangs_the_child() {
    const RUNS: usize = 100;
    let path = temp_dir("isolated-first-wait").join("test.lock");
    let path = path.display().to_string();
    let hung = (0..RUNS)
        .filter(|_| play("forks_during_the_first_wait", &[("LOCKSFILE_TEST_PATH", &path)]).0 != Some(0))
        .count();
    assert_eq!(hung, 0, "in {hung} of {RUNS} runs a fork child hung (or the run failed)");
}

// ----- close() from two threads ------------------------------------------------------------------

#[test]
fn a_second_close_returns_only_once_the_first_has_released_everything() {
    const ROUNDS: usize = 100;
    let path = temp_dir("second-close").join("test.lock");
    let holder = LocksFile::open(&path).unwrap();
    let mut early = 0;
    for _ in 0..ROUNDS {
        holder.acquire(5, LockMode::Write).unwrap();
        let file = LocksFile::open(&path).unwrap();
        file.acquire(9, LockMode::Write).unwrap();
        let fd = file.as_raw_fd();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| file.acquire(5, LockMode::Write));
            wait_until("the request waits in the kernel", || waiting_requests(&path) == 1);
            let first = scope.spawn(|| file.close());
            while !file.is_closed() {
                std::hint::spin_loop();
            }
            file.close().unwrap();
            // After the second close returns, the descriptor holds nothing (or is closed already).
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
            let names_the_file = std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|target| target == path);
            if names_the_file && info.lines().any(|line| line.starts_with("lock:")) {
                early += 1;
            }
            first.join().unwrap().unwrap();
            assert!(matches!(waiter.join().unwrap(), Err(Error::Closed { .. })));
        });
        holder.release(5).unwrap();
    }
    assert_eq!(early, 0, "{early} of {ROUNDS} second close() calls returned while the handle's lock was still held");
}
