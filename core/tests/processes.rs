//! Locks observed from other processes: a lock never conflicts with its own owner, so every
//! assertion about exclusion is made by a second process (a worker, see `common`).

mod common;

use std::time::Instant;

use common::{temp_dir, Worker};
use locksfile::{LockClass, LockMode, LocksFile, Scope};

#[test]
fn worker_entry() {
    common::serve_if_worker();
}

fn pair(name: &str, scope: Scope) -> (std::path::PathBuf, Worker, Worker) {
    let path = temp_dir(name).join("test.lock");
    let a = Worker::start(&path, scope);
    let b = Worker::start(&path, scope);
    (path, a, b)
}

#[test]
fn a_write_lock_excludes_readers_and_writers_of_that_index_only() {
    for scope in [Scope::OpenFile, Scope::Process] {
        let (_path, mut a, mut b) = pair("exclusion", scope);
        assert_eq!(a.ask("acquire write 1 block"), "ok");
        assert!(!b.can_take("write", "1"));
        assert!(!b.can_take("read", "1"));
        assert!(b.can_take("write", "0"));
        assert!(b.can_take("write", "2"));
        assert_eq!(a.ask("release 1"), "ok");
        assert!(b.can_take("write", "1"));
    }
}

#[test]
fn readers_share_and_exclude_writers() {
    let (path, mut a, mut b) = pair("readers", Scope::OpenFile);
    let mut c = Worker::start(&path, Scope::OpenFile);
    assert_eq!(a.ask("acquire read 0 block"), "ok");
    assert_eq!(b.ask("acquire read 0 try"), "ok");
    assert!(!c.can_take("write", "0"));
    assert!(c.can_take("read", "0"));
    assert_eq!(a.ask("release 0"), "ok");
    assert!(!c.can_take("write", "0"), "b still reads");
    assert_eq!(b.ask("release 0"), "ok");
    assert!(c.can_take("write", "0"));
}

#[test]
fn an_interval_is_taken_whole_or_not_at_all() {
    let (path, mut a, mut b) = pair("interval", Scope::OpenFile);
    let mut c = Worker::start(&path, Scope::OpenFile);
    assert_eq!(a.ask("acquire write 2 block"), "ok");
    assert_eq!(b.ask("acquire write 0..5 try"), "busy");
    assert_eq!(b.ask("held"), "held");
    assert!(c.can_take("write", "0"), "a refused interval leaves nothing held");

    b.send("acquire write 0..5 block");
    b.assert_blocked();
    assert!(c.can_take("write", "0"), "a waiting interval holds none of its locks");
    assert!(c.can_take("write", "4"));
    assert_eq!(a.ask("release 2"), "ok");
    assert_eq!(b.reply(), "ok");
    for index in 0..5 {
        assert!(!c.can_take("read", &index.to_string()), "index {index}");
    }
    assert!(c.can_take("write", "5"));
    assert_eq!(b.ask("held"), "held 0..5:write");
}

#[test]
fn conversion_is_seen_from_outside() {
    let (_path, mut a, mut b) = pair("conversion", Scope::OpenFile);
    assert_eq!(a.ask("acquire write 1..4 block"), "ok");
    assert_eq!(a.ask("acquire read 2 block"), "ok");
    assert_eq!(a.ask("held"), "held 1:write 2:read 3:write");
    assert!(b.can_take("read", "2"));
    assert!(!b.can_take("write", "2"));
    assert!(!b.can_take("read", "1"));
    assert!(!b.can_take("read", "3"));

    // An upgrade waits for the other readers.
    assert_eq!(a.ask("acquire read 5 block"), "ok");
    assert_eq!(b.ask("acquire read 5 block"), "ok");
    a.send("acquire write 5 block");
    a.assert_blocked();
    assert_eq!(b.ask("release 5"), "ok");
    assert_eq!(a.reply(), "ok");
    assert!(!b.can_take("read", "5"));

    // A downgrade is immediate and lets readers in.
    assert_eq!(a.ask("acquire read 1..6 block"), "ok");
    assert_eq!(a.ask("held"), "held 1..6:read");
    assert!(b.can_take("read", "1..6"));
    assert!(!b.can_take("write", "3"));
}

#[test]
fn release_all_and_close_free_everything() {
    let (path, mut a, mut b) = pair("release-all", Scope::OpenFile);
    assert_eq!(a.ask("acquire write 0..3 block"), "ok");
    assert_eq!(a.ask("acquire read 10 block"), "ok");
    assert_eq!(a.ask("acquire write 1000.. block"), "ok");
    assert!(!b.can_take("write", "5000"));
    assert_eq!(a.ask("release-all"), "ok");
    assert_eq!(a.ask("held"), "held");
    assert!(b.can_take("write", "0.."));

    assert_eq!(a.ask("acquire write 7 block"), "ok");
    assert_eq!(a.ask("close"), "ok");
    assert!(b.can_take("write", "7"));
    drop(path);
}

#[test]
fn timed_acquire_gives_up_at_the_deadline_and_takes_a_lock_freed_before_it() {
    let (_path, mut a, mut b) = pair("timeout", Scope::OpenFile);
    assert_eq!(a.ask("acquire write 7 block"), "ok");
    let reply = b.ask("acquire write 7 timeout=300");
    let waited: u64 = reply.strip_prefix("timeout ").expect(&reply).parse().unwrap();
    assert!((300..2_000).contains(&waited), "gave up after {waited} ms");
    assert_eq!(b.ask("held"), "held");

    b.send("acquire write 7 timeout=10000");
    b.assert_blocked();
    assert_eq!(a.ask("release 7"), "ok");
    assert_eq!(b.reply(), "ok");
    assert!(!a.can_take("read", "7"));
}

#[test]
fn process_scope_reports_a_deadlock_instead_of_hanging() {
    let (_path, mut a, mut b) = pair("deadlock", Scope::Process);
    assert_eq!(a.ask("acquire write 1 block"), "ok");
    assert_eq!(b.ask("acquire write 2 block"), "ok");
    a.send("acquire write 2 block");
    a.assert_blocked();
    let reply = b.ask("acquire write 1 block");
    assert!(reply.starts_with("err Deadlock"), "{reply}");
    assert_eq!(b.ask("held"), "held 2:write", "the failed request changed nothing");
    assert_eq!(b.ask("release-all"), "ok");
    assert_eq!(a.reply(), "ok");
}

#[test]
fn killing_a_holder_frees_a_blocked_waiter() {
    let (_path, mut a, mut b) = pair("kill", Scope::OpenFile);
    assert_eq!(a.ask("acquire write 4 block"), "ok");
    b.send("acquire write 4 block");
    b.assert_blocked();
    let killed = Instant::now();
    a.kill();
    assert_eq!(b.reply(), "ok");
    eprintln!("waiter woke {:?} after the holder was killed", killed.elapsed());
}

#[test]
fn a_signal_interrupts_a_wait_leaving_nothing_held() {
    let (_path, mut a, mut b) = pair("eintr", Scope::OpenFile);
    assert_eq!(a.ask("acquire write 0..3 block"), "ok");
    let tid: libc::pid_t = b.ask("tid").parse().unwrap();
    for wait in ["block", "timeout=20000"] {
        b.send(&format!("acquire write 2..6 {wait}"));
        b.assert_blocked();
        b.signal_thread(tid, libc::SIGUSR1);
        let reply = b.reply();
        assert!(reply.starts_with("err Interrupted"), "{wait}: {reply}");
        assert_eq!(b.ask("held"), "held");
        assert!(a.can_take("write", "3..6"), "{wait}: nothing half-held");
    }
}

#[test]
fn open_file_handles_in_one_process_exclude_each_other_across_threads() {
    let path = temp_dir("ofd-threads").join("test.lock");
    let first = LocksFile::open(&path).unwrap();
    let second = LocksFile::open(&path).unwrap();
    first.acquire(1, LockMode::Write).unwrap();
    assert!(!second.try_acquire(1, LockMode::Read).unwrap());
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            second.acquire(1, LockMode::Write).unwrap();
            Instant::now()
        });
        common::wait_until("the waiter is queued in the kernel", || common::waiting_requests(&path) == 1);
        let released = Instant::now();
        first.release(1).unwrap();
        assert!(waiter.join().unwrap() >= released);
    });
    assert!(!first.try_acquire(1, LockMode::Read).unwrap());
}

#[test]
fn process_scope_views_keep_each_others_locks() {
    let path = temp_dir("views").join("test.lock");
    let mut outside = Worker::start(&path, Scope::OpenFile);
    let first = LocksFile::options().scope(Scope::Process).open(&path).unwrap();
    let second = LocksFile::options().scope(Scope::Process).open(&path).unwrap();
    first.acquire(1..3, LockMode::Write).unwrap();
    assert!(second.try_acquire(1, LockMode::Read).unwrap(), "views of one process never conflict");
    assert!(second.try_acquire(5, LockMode::Write).unwrap());
    assert!(!outside.can_take("read", "1"), "the write of the first view still holds");
    assert_eq!(second.held(), [(locksfile::LockRange::index(1).unwrap(), LockMode::Read), (5.try_into_range(), LockMode::Write)]);

    // Releasing through one view keeps what the other holds: 1 drops to read, 2 is free.
    first.release(1..3).unwrap();
    assert!(outside.can_take("read", "1"));
    assert!(!outside.can_take("write", "1"));
    assert!(outside.can_take("write", "2"));

    // Dropping a view keeps the other's locks (closing its descriptor would drop them all).
    first.acquire(5..7, LockMode::Read).unwrap();
    drop(first);
    assert!(!outside.can_take("read", "5"), "second still writes 5");
    assert!(outside.can_take("write", "6"));
    assert!(!outside.can_take("write", "1"));
    drop(second);
    assert!(outside.can_take("write", "0.."));
}

trait TryIntoRange {
    fn try_into_range(self) -> locksfile::LockRange;
}
impl TryIntoRange for u64 {
    fn try_into_range(self) -> locksfile::LockRange {
        locksfile::LockRange::index(self).unwrap()
    }
}

#[test]
fn holders_names_other_processes_of_both_scopes() {
    let path = temp_dir("holders").join("test.lock");
    let mut ofd = Worker::start(&path, Scope::OpenFile);
    let mut classic = Worker::start(&path, Scope::Process);
    assert_eq!(ofd.ask("acquire write 5 block"), "ok");
    assert_eq!(classic.ask("acquire read 8..10 block"), "ok");
    let mine = LocksFile::open(&path).unwrap();
    mine.acquire(20, LockMode::Write).unwrap();
    let mut holders = mine.holders(0..).unwrap();
    holders.sort_by_key(|holder| holder.range.start());
    assert_eq!(holders.len(), 2, "{holders:?}");
    assert_eq!((holders[0].range.start(), holders[0].mode, holders[0].class), (5, LockMode::Write, LockClass::OpenFile));
    assert_eq!(holders[0].pid, Some(ofd.pid()));
    assert_eq!((holders[1].range.count(), holders[1].mode, holders[1].class), (Some(2), LockMode::Read, LockClass::Process));
    assert_eq!(holders[1].pid, Some(classic.pid()));
    assert!(mine.holders(11..20).unwrap().is_empty());
}

#[test]
fn locks_on_names_the_processes_behind_held_locks_and_waiting_requests() {
    use std::os::unix::fs::MetadataExt;
    let path = temp_dir("locks-on").join("test.lock");
    let mut holder = Worker::start(&path, Scope::OpenFile);
    let mut waiter = Worker::start(&path, Scope::OpenFile);
    let mut classic = Worker::start(&path, Scope::Process);
    assert_eq!(holder.ask("acquire write 0..4 block"), "ok");
    waiter.send("acquire read 2..6 block");
    waiter.assert_blocked();
    classic.send("acquire write 3 block");
    classic.assert_blocked();
    let metadata = std::fs::metadata(&path).unwrap();
    let mut found: Vec<_> = locksfile::proc_locks::locks_on(metadata.dev(), metadata.ino())
        .unwrap()
        .into_iter()
        .map(|f| (f.lock.range.to_string(), f.lock.mode, f.lock.class, f.lock.waiting, f.pid))
        .collect();
    found.sort_by_key(|f| (f.3, f.0.clone()));
    assert_eq!(
        found,
        [
            ("0..4".into(), LockMode::Write, LockClass::OpenFile, false, Some(holder.pid())),
            ("2..6".into(), LockMode::Read, LockClass::OpenFile, true, Some(waiter.pid())),
            ("3".into(), LockMode::Write, LockClass::Process, true, Some(classic.pid())),
        ]
    );
    assert_eq!(holder.ask("release-all"), "ok");
    assert_eq!(waiter.reply(), "ok");
    classic.assert_blocked(); // now behind the waiter's read of 2..6
    assert_eq!(waiter.ask("release-all"), "ok");
    assert_eq!(classic.reply(), "ok");
}

#[test]
fn a_forked_child_neither_releases_nor_keeps_its_parents_locks() {
    let path = temp_dir("fork").join("test.lock");
    let mut holder = Worker::start(&path, Scope::OpenFile);
    let mut outside = Worker::start(&path, Scope::OpenFile);
    assert_eq!(holder.ask("acquire write 3 block"), "ok");
    let child: i32 = holder.ask("fork-sleep 5000").parse().unwrap();
    assert!(child > 0);
    assert!(!outside.can_take("write", "3"));
    // The parent dies; its child, which inherited the handle, must not keep the lock alive.
    holder.kill();
    assert!(outside.can_take("write", "3"), "the forked child kept its dead parent's lock");
    // SAFETY: kill(2) on the sleeping child's pid.
    unsafe { libc::kill(child, libc::SIGKILL) };
}

#[test]
fn a_forked_child_is_a_fresh_owner_holding_nothing() {
    for scope in [Scope::OpenFile, Scope::Process] {
        let path = temp_dir("fork-child").join("test.lock");
        let mut outside = Worker::start(&path, Scope::OpenFile);
        let parent = LocksFile::options().scope(scope).open(&path).unwrap();
        parent.acquire(1, LockMode::Write).unwrap();
        // SAFETY: the child only uses the handle (no locks shared with other test threads are
        // taken) and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let fresh = parent.held().is_empty();
            let released = parent.release_all().is_ok();
            let excluded = matches!(parent.try_acquire(1, LockMode::Read), Ok(false));
            let code = if fresh && released && excluded { 0 } else { 1 + fresh as i32 * 2 + excluded as i32 * 4 };
            // SAFETY: leaves the child without running the test harness's atexit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{scope:?}: child status {status}");
        assert!(!outside.can_take("read", "1"), "{scope:?}: the child released its parent's lock");
        assert_eq!(parent.held().len(), 1);
    }
}
