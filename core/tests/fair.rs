//! Fair handles (writer preference), observed from other processes: a waiting fair writer holds
//! back new fair readers, a conversion and a handle holding locks never queue at a gate, and no
//! outcome leaves a gate held.

mod common;

use std::time::{Duration, Instant};

use common::{kernel_locks, temp_dir, waiting_requests, wait_until, Worker};
use locksfile::{Error, LockMode, LockRange, LocksFile, Scope, FAIR_MAX_INDEX, GATE_FIRST};

#[test]
fn worker_entry() {
    common::serve_if_worker();
}

/// The seed of the randomized read cycles: `LOCKSFILE_FAIR_SEED`, else a fresh one (printed).
fn seed() -> u64 {
    let seed = std::env::var("LOCKSFILE_FAIR_SEED").map_or_else(
        |_| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
        |text| text.parse().expect("LOCKSFILE_FAIR_SEED: a u64"),
    );
    println!("fair seed: {seed} (LOCKSFILE_FAIR_SEED={seed} repeats it)");
    seed
}

/// How many processes hold read locks on `index` now.
fn readers_holding(path: &std::path::Path, index: u64) -> usize {
    kernel_locks(path).iter().filter(|lock| !lock.waiting && lock.mode == LockMode::Read && lock.range.contains(index)).count()
}

/// Whether the gate of `index` is free: a handle that is not fair takes it for writing and lets go.
fn gate_is_free(path: &std::path::Path, index: u64) -> bool {
    let probe = LocksFile::open(path).unwrap();
    probe.try_acquire(GATE_FIRST + index, LockMode::Write).unwrap()
}

#[test]
fn a_fair_writer_gets_through_readers_that_starve_a_plain_one() {
    let path = temp_dir("fair-starve").join("test.lock");
    let seed = seed();
    // Four reader processes, each holding index 0 for 2–12 ms at a time and taking it again at
    // once: with four overlapping, index 0 is never free.
    let mut readers: Vec<Worker> = (0..4).map(|_| Worker::start(&path, Scope::OpenFile)).collect();
    for (n, reader) in readers.iter_mut().enumerate() {
        let command = format!("keep-reading {} 0 {} 2 12", path.display(), seed.wrapping_add(n as u64));
        assert_eq!(reader.ask(&command), "ok");
    }
    wait_until("the four readers hold index 0", || readers_holding(&path, 0) >= 3);

    // The control: a writer that is not fair waits on and on.
    let plain = LocksFile::open(&path).unwrap();
    assert!(!plain.acquire_timeout(0, LockMode::Write, Duration::from_secs(2)).unwrap(), "the readers never starved a plain writer");

    // A fair writer gets in once the readers inside have finished.
    let fair = LocksFile::options().fair(true).open(&path).unwrap();
    let mut waits = Vec::new();
    for _ in 0..40 {
        wait_until("the readers hold index 0 again", || readers_holding(&path, 0) >= 3);
        let asked = Instant::now();
        fair.acquire(0, LockMode::Write).unwrap();
        waits.push(asked.elapsed());
        fair.release(0).unwrap();
    }
    waits.sort();
    let p99 = waits[(waits.len() * 99).div_ceil(100) - 1];
    println!("fair writer waits: median {:?}, p99 {p99:?}, max {:?}", waits[waits.len() / 2], waits[waits.len() - 1]);
    assert!(p99 <= Duration::from_millis(100), "p99 {p99:?} (seed {seed})");
    for reader in &mut readers {
        assert_eq!(reader.ask("stop-reading"), "ok");
    }
}

#[test]
fn new_fair_readers_wait_behind_a_waiting_writer_and_plain_ones_do_not() {
    let path = temp_dir("fair-order").join("test.lock");
    let mut inside = Worker::start_fair(&path, Scope::OpenFile);
    let mut writer = Worker::start_fair(&path, Scope::OpenFile);
    let mut late = Worker::start_fair(&path, Scope::OpenFile);
    let mut plain = Worker::start(&path, Scope::OpenFile);
    assert_eq!(inside.ask("acquire read 0 block"), "ok");
    writer.send("acquire write 0 block");
    wait_until("the writer waits", || waiting_requests(&path) == 1);
    assert!(!gate_is_free(&path, 0), "the waiting writer holds the gate");
    assert_eq!(late.ask("acquire read 0 try"), "busy");
    assert!(plain.can_take("read", "0"), "a plain reader does not wait at the gate");
    late.send("acquire read 0 block");
    late.assert_blocked();
    assert_eq!(inside.ask("release 0"), "ok");
    assert_eq!(writer.reply(), "ok");
    late.assert_blocked();
    assert_eq!(writer.ask("release 0"), "ok");
    assert_eq!(late.reply(), "ok");
}

#[test]
fn a_conversion_does_not_queue_at_the_gate() {
    let path = temp_dir("fair-convert").join("test.lock");
    let mut reader = Worker::start_fair(&path, Scope::OpenFile);
    let mut writer = Worker::start_fair(&path, Scope::OpenFile);
    assert_eq!(reader.ask("acquire read 0 block"), "ok");
    writer.send("acquire write 0 block");
    wait_until("the writer waits, holding the gate", || waiting_requests(&path) == 1 && !gate_is_free(&path, 0));
    // Queued at the gate, the upgrade would wait for the writer, which waits for it.
    assert_eq!(reader.ask("acquire write 0 timeout=10000"), "ok");
    writer.assert_blocked();
    assert_eq!(reader.ask("release 0"), "ok");
    assert_eq!(writer.reply(), "ok");
}

#[test]
fn a_handle_holding_a_lock_does_not_queue_at_the_gate() {
    let path = temp_dir("fair-holding").join("test.lock");
    let mut reader = Worker::start_fair(&path, Scope::OpenFile);
    let mut writer = Worker::start_fair(&path, Scope::OpenFile);
    assert_eq!(reader.ask("acquire read 1 block"), "ok");
    writer.send("acquire write 0..2 block");
    wait_until("the writer waits, holding the gates of 0..2", || waiting_requests(&path) == 1 && !gate_is_free(&path, 0));
    // The writer waits for index 1, which this reader holds: queued at gate 0, it would deadlock.
    assert_eq!(reader.ask("acquire read 0 timeout=10000"), "ok");
    assert_eq!(reader.ask("release-all"), "ok");
    assert_eq!(writer.reply(), "ok");
}

#[test]
fn no_outcome_leaves_a_gate_held() {
    let path = temp_dir("fair-gates-free").join("test.lock");
    let mut reader = Worker::start(&path, Scope::OpenFile);
    let mut writer = Worker::start_fair(&path, Scope::OpenFile);
    assert_eq!(reader.ask("acquire read 0 block"), "ok");

    // A timeout while waiting for the range (the gate held meanwhile).
    assert!(writer.ask("acquire write 0 timeout=200").starts_with("timeout"));
    assert!(gate_is_free(&path, 0), "after a timeout");

    // A refusal of a try.
    assert_eq!(writer.ask("acquire write 0 try"), "busy");
    assert!(gate_is_free(&path, 0), "after a refused try");

    // A signal interrupting the wait.
    let tid: libc::pid_t = writer.ask("tid").parse().unwrap();
    writer.send("acquire write 0 block");
    wait_until("the writer waits", || waiting_requests(&path) == 1);
    writer.signal_thread(tid, libc::SIGUSR1);
    assert!(writer.reply().contains("Interrupted"));
    assert!(gate_is_free(&path, 0), "after an interrupted wait");

    // A wait at the gate itself that times out leaves the gate to the writer holding it.
    let mut first = Worker::start_fair(&path, Scope::OpenFile);
    first.send("acquire write 0 block");
    wait_until("the first writer waits", || waiting_requests(&path) == 1);
    assert!(writer.ask("acquire write 0 timeout=200").starts_with("timeout"));
    assert!(!gate_is_free(&path, 0), "the first writer still holds its gate");
    assert_eq!(reader.ask("release 0"), "ok");
    assert_eq!(first.reply(), "ok");
    assert!(gate_is_free(&path, 0));
    assert_eq!(waiting_requests(&path), 0);
}

#[test]
fn close_during_a_fair_wait_leaves_no_gate() {
    let path = temp_dir("fair-close").join("test.lock");
    let mut reader = Worker::start(&path, Scope::OpenFile);
    assert_eq!(reader.ask("acquire read 0 block"), "ok");
    for scope in [Scope::OpenFile, Scope::Process] {
        let fair = LocksFile::options().scope(scope).fair(true).open(&path).unwrap();
        std::thread::scope(|threads| {
            let waiter = threads.spawn(|| fair.acquire(0, LockMode::Write));
            wait_until("the fair writer waits", || waiting_requests(&path) == 1);
            fair.close().unwrap();
            assert!(matches!(waiter.join().unwrap(), Err(Error::Closed { .. })), "{scope:?}");
        });
        let mut probe = Worker::start(&path, Scope::OpenFile);
        assert!(probe.can_take("write", &GATE_FIRST.to_string()), "{scope:?}: the gate is free after close");
        assert_eq!(waiting_requests(&path), 0);
    }
}

#[test]
fn fair_and_plain_handles_exclude_each_other() {
    let path = temp_dir("fair-exclude").join("test.lock");
    let mut plain = Worker::start(&path, Scope::OpenFile);
    let mut fair = Worker::start_fair(&path, Scope::OpenFile);
    assert_eq!(fair.ask("acquire write 3..6 block"), "ok");
    assert!(!plain.can_take("read", "5"));
    assert!(plain.can_take("read", "6"));
    assert_eq!(fair.ask("release 3..6"), "ok");
    assert_eq!(plain.ask("acquire write 4 block"), "ok");
    assert_eq!(fair.ask("acquire read 3..6 try"), "busy");
    assert!(gate_is_free(&path, 3) && gate_is_free(&path, 4));
}

#[test]
fn a_fair_handle_keeps_below_the_gates() {
    let path = temp_dir("fair-space").join("test.lock");
    let fair = LocksFile::options().fair(true).open(&path).unwrap();
    assert!(fair.is_fair());
    for refused in [LockRange::index(GATE_FIRST).unwrap(), LockRange::new(FAIR_MAX_INDEX, 2).unwrap()] {
        match fair.acquire(refused, LockMode::Read) {
            Err(Error::InvalidRange { reason, .. }) => assert!(reason.contains("2^62"), "{reason}"),
            other => panic!("{refused}: {other:?}"),
        }
        assert!(matches!(fair.release(refused), Err(Error::InvalidRange { .. })));
    }
    fair.acquire(FAIR_MAX_INDEX, LockMode::Write).unwrap();
    fair.acquire(LockRange::from_start(5).unwrap(), LockMode::Write).unwrap();
    assert_eq!(fair.held(), vec![(LockRange::new(5, GATE_FIRST - 5).unwrap(), LockMode::Write)]);
    let mut plain = Worker::start(&path, Scope::OpenFile);
    assert!(!plain.can_take("read", &FAIR_MAX_INDEX.to_string()));
    assert!(plain.can_take("write", &format!("{GATE_FIRST}..")), "an open-ended fair range ends below the gates");
    fair.release(LockRange::from_start(0).unwrap()).unwrap();
    assert!(plain.can_take("write", "0.."));
}
