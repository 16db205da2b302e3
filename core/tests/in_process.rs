//! Several handles and threads of one process, a close or a fork at the wrong moment, a foreign
//! signal handler: a lock reported held is held, one reported free is free. Each test is a defect
//! that was once there (issue 11), observed from another process. Waits are for states (a request
//! queued in `/proc/locks`, a thread parked in a futex), never for the clock.

mod common;

use std::os::fd::AsRawFd;
use std::sync::Once;
use std::time::Duration;

use common::{current_tid, fdinfo_locks, in_futex_wait, temp_dir, wait_until, waiting_requests, Worker};
use locksfile::{Error, LockMode, LockRange, LocksFile, Scope};

#[test]
fn worker_entry() {
    common::serve_if_worker();
}

fn range(text: &str) -> LockRange {
    common::parse_range(text)
}

fn process_scope(path: &std::path::Path) -> LocksFile {
    LocksFile::options().scope(Scope::Process).open(path).unwrap()
}

extern "C" fn returning_handler(_: libc::c_int) {}

/// SIGUSR1 runs a handler that returns, without SA_RESTART, in this test process.
fn install_sigusr1_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: a zeroed sigaction with a no-op extern "C" handler is valid.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = returning_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
        }
    });
}

fn signal_thread(tid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: tgkill(2) on a thread of this process.
    let sent = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, signal) };
    assert_eq!(sent, 0);
}

// ----- 1. No descriptor of a file is closed while a classic owner of it lives ---------------------

#[test]
fn closing_an_open_file_handle_keeps_the_process_scope_locks() {
    let path = temp_dir("ofd-close-keeps-classic").join("test.lock");
    let mut outside = Worker::start(&path, Scope::OpenFile);
    let process = process_scope(&path);
    process.acquire(0, LockMode::Write).unwrap();

    let ofd = LocksFile::open(&path).unwrap();
    ofd.acquire(5, LockMode::Write).unwrap();
    let parked = [ofd.as_raw_fd(), {
        let another = LocksFile::open(&path).unwrap();
        another.as_raw_fd()
    }];
    ofd.close().unwrap();
    drop(ofd);
    assert!(!process.is_stale().unwrap());
    process.holders(0..).unwrap();

    assert!(!outside.can_take("read", "0"), "closing an OpenFile handle dropped the process's classic lock");
    assert!(outside.can_take("write", "5"), "the OpenFile handle's own lock went with its close");
    assert_eq!(process.held(), [(range("0"), LockMode::Write)]);
    let names_the_file = |fd: i32| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|target| target == path);
    assert!(parked.iter().all(|&fd| names_the_file(fd)), "kept open while the process holds a lock");
    process.release(0).unwrap();
    assert!(!parked.iter().any(|&fd| names_the_file(fd)), "closed once the process holds none");
    drop(process);
    assert!(outside.can_take("write", "0.."), "the last view released everything");
}

#[test]
fn the_last_view_closing_then_a_new_owner_keeps_its_locks_when_old_handles_go() {
    let path = temp_dir("retired-owner").join("test.lock");
    let mut outside = Worker::start(&path, Scope::OpenFile);
    let old = process_scope(&path);
    old.acquire(3, LockMode::Write).unwrap();
    old.close().unwrap();
    assert!(outside.can_take("write", "3"), "close released the view's lock");
    assert!(matches!(old.acquire(3, LockMode::Read), Err(Error::Closed { .. })));
    assert!(old.held().is_empty() && old.is_closed() && old.as_raw_fd() == -1);

    let new = process_scope(&path);
    new.acquire(4, LockMode::Write).unwrap();
    drop(old); // A closed handle's end must not close a descriptor of the new owner's file.
    assert!(!outside.can_take("read", "4"));
    assert_eq!(new.held(), [(range("4"), LockMode::Write)]);
}

// ----- 2. Work done during another thread's kernel wait is never lost -----------------------------

#[test]
fn a_release_during_an_upgrade_wait_reaches_the_kernel_at_once() {
    let path = temp_dir("release-during-upgrade").join("test.lock");
    let mut outside = Worker::start(&path, Scope::OpenFile);
    let h1 = LocksFile::open(&path).unwrap();
    let h2 = LocksFile::open(&path).unwrap();
    for timeout in [Duration::from_secs(30), Duration::from_millis(500)] {
        h1.acquire(0, LockMode::Read).unwrap();
        h2.acquire(0, LockMode::Read).unwrap();
        std::thread::scope(|scope| {
            let upgrade = scope.spawn(|| h1.acquire_timeout(0, LockMode::Write, timeout));
            wait_until("the upgrade waits in the kernel", || waiting_requests(&path) == 1 || upgrade.is_finished());
            h1.release(0).unwrap();
            assert!(h1.held().is_empty());
            assert_eq!(fdinfo_locks(h1.as_raw_fd()), [], "the release was not made in the kernel");
            assert!(outside.can_take("read", "0"), "h2 still reads");
            if timeout == Duration::from_secs(30) {
                h2.release(0).unwrap();
                assert!(upgrade.join().unwrap().unwrap(), "the upgrade is granted once h2 lets go");
                assert_eq!(h1.held(), [(range("0"), LockMode::Write)]);
                assert_eq!(fdinfo_locks(h1.as_raw_fd()), [(range("0"), LockMode::Write)]);
                assert!(!outside.can_take("read", "0"));
            } else {
                assert!(!upgrade.join().unwrap().unwrap(), "the upgrade times out while h2 reads");
                assert!(h1.held().is_empty());
                assert_eq!(fdinfo_locks(h1.as_raw_fd()), []);
                h2.release(0).unwrap();
                assert!(outside.can_take("write", "0"), "h1 kept a lock its record does not have");
            }
        });
        h1.release_all().unwrap();
    }
}

#[test]
fn a_view_dropped_during_another_views_wait_leaves_the_kernel_with_the_records() {
    let path = temp_dir("view-dropped-during-wait").join("test.lock");
    let mut outside = Worker::start(&path, Scope::OpenFile);
    let view1 = process_scope(&path);
    let view2 = process_scope(&path);
    assert_eq!(outside.ask("acquire write 7 block"), "ok");
    view1.acquire(0..5, LockMode::Write).unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| view2.acquire(0..10, LockMode::Read));
        wait_until("view 2 waits in the kernel", || waiting_requests(&path) == 1);
        drop(view1);
        assert_eq!(outside.ask("release 7"), "ok");
        waiter.join().unwrap().unwrap();
    });
    assert_eq!(view2.held(), [(range("0..10"), LockMode::Read)]);
    assert!(outside.can_take("read", "0..10"), "the kernel holds more than read somewhere in 0..10");
    for index in 0..10 {
        assert!(!outside.can_take("write", &index.to_string()), "index {index} is not held");
    }
}

#[test]
fn a_view_releasing_during_another_views_wait_loses_nothing_the_waiter_was_granted() {
    // View 2 waits to upgrade 4..7 behind an outside reader of 5; view 1, which also read 5,
    // releases it during the wait: the granted write must survive that release.
    let path = temp_dir("release-during-grant").join("test.lock");
    let mut outside = Worker::start(&path, Scope::OpenFile);
    let view1 = process_scope(&path);
    let view2 = process_scope(&path);
    assert_eq!(outside.ask("acquire read 5 block"), "ok");
    view1.acquire(5, LockMode::Read).unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| view2.acquire(4..7, LockMode::Write));
        wait_until("view 2 waits in the kernel", || waiting_requests(&path) == 1);
        assert!(!view1.try_acquire(5, LockMode::Read).unwrap(), "overlaps a request in flight");
        view1.release(5).unwrap();
        assert_eq!(outside.ask("release 5"), "ok");
        waiter.join().unwrap().unwrap();
    });
    assert!(!outside.can_take("read", "5"), "the granted write went with the other view's release");
    assert_eq!(view2.held(), [(range("4..7"), LockMode::Write)]);
    assert!(view1.held().is_empty());
    view2.release(4..7).unwrap();
    assert!(outside.can_take("write", "4..7"));
}

// ----- 3. close() during a wait ------------------------------------------------------------------

#[test]
fn close_ends_every_wait_of_the_handle_with_closed_holding_nothing() {
    for scope_kind in [Scope::OpenFile, Scope::Process] {
        let path = temp_dir(&format!("close-during-wait-{scope_kind:?}")).join("test.lock");
        let mut holder = Worker::start(&path, Scope::OpenFile);
        let mut outside = Worker::start(&path, Scope::OpenFile);
        assert_eq!(holder.ask("acquire write 5 block"), "ok");
        let file = LocksFile::options().scope(scope_kind).open(&path).unwrap();
        let other_view = (scope_kind == Scope::Process).then(|| process_scope(&path));
        file.acquire(9, LockMode::Write).unwrap();
        std::thread::scope(|scope| {
            let blocking = scope.spawn(|| file.acquire(5, LockMode::Write));
            wait_until("the first request waits in the kernel", || waiting_requests(&path) == 1);
            let (tid_sender, tid) = std::sync::mpsc::channel();
            let file = &file;
            let timed = scope.spawn(move || {
                tid_sender.send(current_tid()).unwrap();
                file.acquire_timeout(4..6, LockMode::Read, Duration::from_secs(60))
            });
            let tid = tid.recv().unwrap();
            wait_until("the second request is parked behind the first", || in_futex_wait(tid) || timed.is_finished());
            file.close().unwrap();
            let blocking = blocking.join().unwrap();
            let timed = timed.join().unwrap();
            assert!(matches!(blocking, Err(Error::Closed { .. })), "{scope_kind:?}: {blocking:?}");
            assert!(matches!(timed, Err(Error::Closed { .. })), "{scope_kind:?}: {timed:?}");
        });
        assert_eq!(waiting_requests(&path), 0, "{scope_kind:?}: a request still waits in the kernel");
        assert!(file.held().is_empty());
        assert!(matches!(file.acquire(1, LockMode::Read), Err(Error::Closed { .. })));
        assert!(matches!(file.release_all(), Err(Error::Closed { .. })));
        assert!(file.close().is_ok(), "close is idempotent");
        assert!(outside.can_take("write", "9"), "{scope_kind:?}: close released what the handle held");
        assert_eq!(holder.ask("release 5"), "ok");
        assert!(outside.can_take("write", "4..6"), "{scope_kind:?}: a closed handle took a lock after all");
        drop(other_view);
    }
}

// ----- 6. A wait inside the process can be interrupted -------------------------------------------

#[test]
fn a_signal_ends_a_wait_behind_another_threads_request() {
    install_sigusr1_handler();
    let path = temp_dir("in-process-wait-signal").join("test.lock");
    let mut outside = Worker::start(&path, Scope::OpenFile);
    assert_eq!(outside.ask("acquire write 2 block"), "ok");
    let file = LocksFile::open(&path).unwrap();
    std::thread::scope(|scope| {
        // Timed, so that a failing run ends: the second request is stuck behind this one.
        let first = scope.spawn(|| file.acquire_timeout(2, LockMode::Write, common::REPLY_TIMEOUT * 2));
        wait_until("the first request waits in the kernel", || waiting_requests(&path) == 1);
        let (tid_sender, tid) = std::sync::mpsc::channel();
        let file = &file;
        let second = scope.spawn(move || {
            tid_sender.send(current_tid()).unwrap();
            file.acquire(2..4, LockMode::Read)
        });
        let tid = tid.recv().unwrap();
        wait_until("the second request is parked behind the first", || in_futex_wait(tid) || second.is_finished());
        signal_thread(tid, libc::SIGUSR1);
        wait_until("the interrupted request returns", || second.is_finished());
        let result = second.join().unwrap();
        assert!(matches!(result, Err(Error::Interrupted { .. })), "{result:?}");
        assert_eq!(waiting_requests(&path), 1, "the first request still waits");
        assert_eq!(outside.ask("release 2"), "ok");
        assert!(first.join().unwrap().unwrap());
    });
    assert_eq!(file.held(), [(range("2"), LockMode::Write)]);
    assert!(outside.can_take("write", "3"), "the interrupted request holds nothing");
}

// ----- 4. The wake signal is checked where it matters --------------------------------------------

fn timer_signal() -> libc::c_int {
    libc::SIGRTMIN() + 10
}

/// A worker with a timer signal of the test's choice, which has made one timed wait already (so
/// its handler is installed), next to a holder of lock 3.
fn timed_waiter(name: &str, signal: &str) -> (Worker, Worker) {
    let path = temp_dir(name).join("test.lock");
    let mut holder = Worker::start(&path, Scope::OpenFile);
    assert_eq!(holder.ask("acquire write 3 block"), "ok");
    let mut waiter = Worker::start_with_env(&path, Scope::OpenFile, &[("LOCKSFILE_TIMER_SIGNAL", signal)]);
    let reply = waiter.ask("acquire write 3 timeout=50");
    assert!(reply.starts_with("timeout"), "{reply}");
    (holder, waiter)
}

fn assert_times_out(waiter: &mut Worker, what: &str) {
    let reply = waiter.ask("acquire write 3 timeout=200");
    let waited: u64 = reply.strip_prefix("timeout ").unwrap_or_else(|| panic!("{what}: {reply}")).parse().unwrap();
    assert!((200..10_000).contains(&waited), "{what}: gave up after {waited} ms");
}

#[test]
fn timed_waits_time_out_after_another_library_takes_the_signal_over() {
    let signal = timer_signal().to_string();
    for how in ["restart", "returning", "default"] {
        let (_holder, mut waiter) = timed_waiter(&format!("signal-taken-{how}"), &signal);
        assert_eq!(waiter.ask(&format!("replace-handler {signal} {how}")), "ok");
        assert_times_out(&mut waiter, how);
        assert_times_out(&mut waiter, how);
    }
}

#[test]
fn the_timer_signal_variable_takes_real_time_signals_only() {
    // (value, a signal it must leave alone): out-of-range values fall back to the automatic
    // choice, `none` polls and installs nothing.
    let first_automatic = libc::SIGRTMAX() - 6;
    for (value, untouched) in [("2", libc::SIGINT), ("15", libc::SIGTERM), ("0", 0), ("none", first_automatic)] {
        let (_holder, mut waiter) = timed_waiter(&format!("signal-variable-{value}"), value);
        assert_times_out(&mut waiter, value);
        if untouched != 0 {
            assert_eq!(waiter.ask(&format!("disposition {untouched}")), "default", "{value}: signal {untouched} was taken");
        }
    }
}

#[test]
fn a_foreign_signal_on_the_timer_signal_gets_its_default_action() {
    let signal = timer_signal();
    let (_holder, mut waiter) = timed_waiter("signal-foreign", &signal.to_string());
    // SAFETY: kill(2) on our own worker process.
    assert_eq!(unsafe { libc::kill(waiter.pid() as libc::pid_t, signal) }, 0);
    wait_until("the worker ends", || waiter.exit_status().is_some());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(waiter.exit_status().unwrap().signal(), Some(signal), "the foreign signal was swallowed");
}

// ----- 5. Fork ----------------------------------------------------------------------------------

#[test]
fn a_child_that_cannot_reopen_the_file_gets_a_descriptor_that_refuses_every_lock() {
    let path = temp_dir("fork-no-descriptors").join("test.lock");
    let mut holder = Worker::start(&path, Scope::OpenFile);
    let mut outside = Worker::start(&path, Scope::OpenFile);
    assert_eq!(holder.ask("acquire write 1 block"), "ok");
    for mode in ["read", "write"] {
        assert_eq!(holder.ask(&format!("fork-without-descriptors {mode} 1")), "child 0", "{mode}");
        assert!(!outside.can_take("read", "1"), "{mode}: the child changed its parent's lock");
    }
    assert_eq!(holder.ask("held"), "held 1:write");
}

#[test]
fn a_fork_while_other_threads_use_the_handles_never_hangs_the_child() {
    const FORKS: usize = 150;
    let path = temp_dir("fork-while-busy").join("test.lock");
    let ofd = LocksFile::open(&path).unwrap();
    let process = process_scope(&path);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut hung = 0;
    std::thread::scope(|scope| {
        for file in [&ofd, &process] {
            let stop = &stop;
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    file.acquire(0..3, LockMode::Write).unwrap();
                    file.acquire(1, LockMode::Read).unwrap();
                    file.release(0).unwrap();
                    let _ = file.held();
                    file.release_all().unwrap();
                }
            });
        }
        {
            let (stop, path) = (&stop, &path);
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(LocksFile::open(path).unwrap());
                    drop(process_scope(path));
                }
            });
        }
        for _ in 0..FORKS {
            // SAFETY: the child only calls this crate on the inherited handles, then _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let fine = ofd.release(0..3).is_ok()
                    && ofd.held().is_empty()
                    && process.release_all().is_ok()
                    && ofd.try_acquire(7, LockMode::Write).is_ok()
                    && LocksFile::open(&path).is_ok();
                // SAFETY: ends the child without running the parent's atexit handlers.
                unsafe { libc::_exit(if fine { 0 } else { 1 }) };
            }
            let exited_cleanly = common::reap_within(pid, Duration::from_secs(10))
                .is_some_and(|status| libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
            if !exited_cleanly {
                hung += 1;
                break;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    assert_eq!(hung, 0, "a child hung or failed");
}

#[test]
fn a_fork_during_an_open_does_not_keep_the_new_handles_locks_alive() {
    let path = temp_dir("fork-during-open").join("test.lock");
    let mut parent = Worker::start(&path, Scope::OpenFile);
    let mut outside = Worker::start(&path, Scope::OpenFile);
    let children: Vec<libc::pid_t> =
        parent.ask(&format!("fork-during-opens {} 200", path.display())).split_whitespace().map(|pid| pid.parse().unwrap()).collect();
    assert!(!outside.can_take("write", "0"), "the parent holds its locks");
    parent.kill();
    let survived = outside.can_take("write", "0..");
    for child in children {
        // SAFETY: kill(2) on the parent's sleeping children (reaped by init once the parent is gone).
        unsafe { libc::kill(child, libc::SIGKILL) };
    }
    assert!(survived, "a forked child kept its dead parent's locks alive");
}

// ----- Threads that block every signal (Swift's and Dispatch's pool threads) -------------------

/// Blocks every signal in this thread.
fn block_every_signal() {
    // SAFETY: sigfillset initialises the set; pthread_sigmask only reads it.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

fn blocked_in_this_thread(signal: libc::c_int) -> bool {
    // SAFETY: a null new set only reads the current mask.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        libc::sigismember(&mask, signal) == 1
    }
}

#[test]
fn a_thread_that_blocks_every_signal_still_waits_in_the_kernels_queue() {
    let path = temp_dir("blocked-signals").join("test.lock");
    let mut holder = Worker::start(&path, Scope::OpenFile);
    assert_eq!(holder.ask("acquire write 6 block"), "ok");
    let file = LocksFile::open(&path).unwrap();
    std::thread::scope(|scope| {
        let (timed_out_sender, timed_out) = std::sync::mpsc::channel();
        let file = &file;
        let waiter = scope.spawn(move || {
            block_every_signal();
            timed_out_sender.send(file.acquire_timeout(6, LockMode::Write, Duration::from_millis(200))).unwrap();
            let blocking = file.acquire(6, LockMode::Write);
            (blocking, (libc::SIGRTMIN()..=libc::SIGRTMAX()).all(blocked_in_this_thread))
        });
        let timed_out = timed_out.recv_timeout(common::REPLY_TIMEOUT).expect("the timed wait ended");
        assert!(matches!(timed_out, Ok(false)), "{timed_out:?}");
        // Queued in the kernel (a polling wait would not show there), and ended by close().
        wait_until("the blocking wait is queued in the kernel", || waiting_requests(&path) == 1);
        file.close().unwrap();
        let (blocking, still_blocked) = waiter.join().unwrap();
        assert!(matches!(blocking, Err(Error::Closed { .. })), "{blocking:?}");
        assert!(still_blocked, "the thread's signal mask was not restored");
    });
    assert_eq!(waiting_requests(&path), 0);
}
