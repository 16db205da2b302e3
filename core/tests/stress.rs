//! A seeded, randomized, concurrent stress test of the core (issue 11).
//!
//! This process orchestrates; it re-executes the test binary as worker processes (`worker_entry`),
//! each with several threads doing random operations on several handles of ONE lock file: acquire
//! (blocking), try_acquire, acquire_timeout (0–50 ms), convert (a held part in the other mode),
//! partial release, release_all, close + reopen, short holds, and forks. Indices are few (ranges of
//! 1–4 indices below 16, or open-ended), so contention is heavy; the share of write requests
//! changes at every pause (readers share, so a steady mix lets them starve writers).
//! `LOCKSFILE_STRESS_SEED` (else a fresh one, printed as `stress seed: N`) drives every thread's
//! random stream; `LOCKSFILE_STRESS_SECONDS` (default 60), `_PROCESSES` (4), `_THREADS` (3) and
//! `_MIX` shape the run. The mix `full` (default) has, in every worker, two `OpenFile` handles and
//! two `Process`-scope views (one of each fair: odd slots pass the gates), all shared by all threads, so releases and closes race other
//! threads' waits on the same handle, and fork children touch inherited handles; `open-file` and
//! `process` are `full` with one scope only and no forks (to tell defects apart); `calm` (the
//! harness's control) has only `OpenFile` handles, two per thread and private to it, and no forks:
//! none of the known triggers, so a violation there would be the harness's.
//!
//! Invariants, any breach of which fails the run:
//! - **Exclusion, continuously**: an occupancy table in shared memory (`stress/shared.rs`) has one
//!   cell per (worker, handle slot, index), written only by that worker and, under the slot's claim
//!   lock, only for that slot. Slots map to kernel owners: each `OpenFile` handle is its own owner;
//!   a worker's `Process`-scope views are one owner (never in conflict with each other), which does
//!   conflict with the same process's `OpenFile` handles. Cells may under-claim, never over-claim:
//!   a cell is raised only after an acquire returned true, and only as far as the handle's
//!   `mode_of` confirms, under the claim lock; every call that may lower a record lowers the cells
//!   first: release, release_all and close hold the claim lock across the call; a read request
//!   (which may downgrade a write at any moment of its call) lowers its cells to read and marks
//!   them, so that no write claim is raised there until it is over. After raising, the claimant
//!   reads every other owner's cells (all `SeqCst`): a write next to anything, or a read next to a
//!   write, means two records claim conflicting locks at once. So write waits, releases and closes
//!   of one handle race freely between threads, and a thread finishing a call on a handle that was
//!   closed meanwhile claims nothing.
//! - **Records equal the kernel, at quiescence**: every 1–2 s the orchestrator pauses all workers;
//!   each parks its threads between calls, then compares every `OpenFile` handle's `held()` with
//!   its descriptor's `/proc/self/fdinfo` locks, and the strongest mode its views hold with the
//!   process's `POSIX` locks in `/proc/locks` (coalesced runs both). A record that lost a claim
//!   no call gave up is also a violation. Then (mix `full`) it may fork a child that checks the
//!   inherited handles against the quiescent parent, and compares again. A worker that found
//!   anything closes and reopens all its handles, so one defect is counted once, not every pause.
//!   With every worker paused, the orchestrator also checks the whole table for conflicts.
//! - **Fork children** (racing other threads' calls, or at quiescence) must see `held()` empty,
//!   have a fresh open file description for `OpenFile` handles, be excluded from their parent's
//!   write locks, and `release_all` must work; releasing everything through the inherited handles
//!   must leave the parent's locks alone: its records must still equal the kernel.
//! - **No hang**: OFD waits are never checked for deadlock by the kernel, so the run is
//!   deadlock-free by construction: timed waits end by themselves, and a blocking `acquire` that
//!   waits over 100 ms (or while a pause waits for it) is ended by a signal (`Error::Interrupted`,
//!   an expected outcome, as classic `Error::Deadlock` is). Threads sharing a handle hold the
//!   test's locks only briefly, never across a wait. A call that still runs after 20 s, a pause not
//!   reached in 60 s, or a fork child alive after 3 s is a hang.
//!
//! Every close goes through one function, `close_handle` (worker.rs): today it drops the slot's
//! reference, and threads inside a call on the handle finish on it; when `LocksFile::close`
//! exists, the switch is one line there (and `Error::Closed` joins `expected_error`).
//!
//! A violation prints the seed and the worker's recent operations (each thread keeps its last
//! 200), merged in time order, and asks the other worker involved in an exclusion violation for
//! its own. The same seed gives the same configuration and random streams, but what a thread
//! holds, and so some of its choices, depends on the interleaving, which is the machine's: a seed
//! reproduces a defect statistically, not step by step.

#[path = "stress/history.rs"]
mod history;
#[path = "stress/kernel.rs"]
mod kernel;
#[path = "stress/settings.rs"]
mod settings;
#[path = "stress/shared.rs"]
mod shared;
#[path = "stress/worker.rs"]
mod worker;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use history::Rng;
use settings::Settings;
use shared::{code_name, conflicts, start_clock, Layout, Op, Outcome, Shared, Stat, Violation, INDICES};

/// A pause every 1 to 2 s.
const PAUSE_EVERY_MS: (u64, u64) = (1_000, 2_000);
/// A worker that has not paused after this long is hung (its own watchdog fires at 20 s).
const PAUSE_LIMIT: Duration = Duration::from_secs(60);
/// How long workers get to exit after the last pause.
const EXIT_LIMIT: Duration = Duration::from_secs(20);

#[test]
fn worker_entry() {
    worker::run_if_worker();
}

#[test]
fn stress() {
    let settings = Settings::from_env();
    eprintln!("stress seed: {}", settings.seed);
    eprintln!(
        "{} processes x {} threads, mix {}, {} s; again with: {}",
        settings.processes,
        settings.threads,
        settings.mix.name(),
        settings.seconds,
        settings.reproduce()
    );
    let dir = std::env::temp_dir().join(format!("locksfile-stress-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shared = Shared::create(&dir.join("shared"));
    start_clock(shared);
    let mut run = Run { settings: settings.clone(), layout: settings.layout(), shared, workers: Vec::new() };
    run.workers = (0..settings.processes).map(|index| WorkerProcess::start(index, &settings, &dir)).collect();
    run.drive();
    run.finish();
    let _ = std::fs::remove_dir_all(&dir);

    let total_violations: u64 = Violation::ALL.iter().map(|&kind| shared.violations(kind)).sum();
    eprintln!("{}", summary(&settings, shared));
    assert_eq!(
        total_violations,
        0,
        "stress seed {}: {total_violations} violations (see above); again with: {}",
        settings.seed,
        settings.reproduce()
    );
    // A run without contention proves nothing.
    assert!(shared.ops(Op::TryAcquire, Outcome::NotTaken) > 0, "no try_acquire ever found a conflict");
    assert!(shared.ops(Op::Timed, Outcome::NotTaken) > 0, "no timed wait ever timed out");
    assert!(shared.stat(Stat::WriteClaims) > 0, "no write lock was ever claimed and checked");
    assert!(shared.stat(Stat::KernelComparisons) > 0, "no record was ever compared with the kernel");
}

struct Run {
    settings: Settings,
    layout: Layout,
    shared: &'static Shared,
    workers: Vec<WorkerProcess>,
}

impl Run {
    /// Lets the workers run, pausing them every 1–2 s, until the time is up; the last pause stops them.
    fn drive(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(self.settings.seconds);
        let mut rng = Rng::new(self.settings.seed, 0);
        for epoch in 1.. {
            let pause_at = Instant::now()
                + Duration::from_millis(PAUSE_EVERY_MS.0 + rng.below(PAUSE_EVERY_MS.1 - PAUSE_EVERY_MS.0));
            while Instant::now() < pause_at.min(deadline) {
                std::thread::sleep(Duration::from_millis(20));
                self.reap();
            }
            let stop = Instant::now() >= deadline || self.workers.iter().all(|worker| worker.exited);
            if stop {
                self.shared.stop.store(1, SeqCst);
            }
            self.shared.pause_epoch.store(epoch, SeqCst);
            self.wait_for_pause(epoch);
            self.check_table();
            self.shared.resume_epoch.store(epoch, SeqCst);
            if stop {
                return;
            }
        }
    }

    /// Waits until every live worker has paused and checked itself.
    fn wait_for_pause(&mut self, epoch: u64) {
        let started = Instant::now();
        loop {
            self.reap();
            let waiting: Vec<usize> = self
                .workers
                .iter()
                .filter(|worker| !worker.exited && self.shared.acked[worker.index].load(SeqCst) < epoch)
                .map(|worker| worker.index)
                .collect();
            if waiting.is_empty() {
                return;
            }
            if started.elapsed() > PAUSE_LIMIT {
                for index in waiting {
                    self.shared.count_violation(Violation::Hang);
                    eprintln!(
                        "VIOLATION hang: worker {index} did not pause within {} s: killed",
                        PAUSE_LIMIT.as_secs()
                    );
                    self.withdraw(index);
                    self.workers[index].kill();
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// With every worker paused, cells equal records, which equal the kernel: no two owners may
    /// claim conflicting locks.
    fn check_table(&self) {
        for index in 0..INDICES {
            let mut claims = Vec::new();
            for worker in (0..self.layout.workers).filter(|&worker| self.shared.dead[worker].load(SeqCst) == 0) {
                for slot in 0..self.layout.scopes.len() {
                    claims.push((worker, slot, self.shared.cell(worker, slot, index)));
                }
            }
            for (position, &(worker, slot, claim)) in claims.iter().enumerate() {
                for &(other_worker, other_slot, other) in &claims[position + 1..] {
                    if self.layout.owner(worker, slot) != self.layout.owner(other_worker, other_slot)
                        && conflicts(claim, other)
                    {
                        let count = self.shared.count_violation(Violation::Exclusion);
                        eprintln!(
                            "VIOLATION exclusion #{count} at quiescence (seed {}): index {index}: \
                             worker {worker} slot {slot} claims {}, worker {other_worker} slot {other_slot} claims {}",
                            self.settings.seed,
                            code_name(claim),
                            code_name(other)
                        );
                    }
                }
            }
        }
    }

    /// Notices workers that exited; one that did not report its own end is an unexpected error.
    fn reap(&mut self) {
        for index in 0..self.workers.len() {
            let worker = &mut self.workers[index];
            if worker.exited {
                continue;
            }
            if let Ok(Some(status)) = worker.child.try_wait() {
                worker.exited = true;
                self.shared.dead[index].store(1, SeqCst);
                let stopping = self.shared.stop.load(SeqCst) != 0;
                let reported = matches!(status.code(), Some(worker::HANG_EXIT | worker::PANIC_EXIT));
                let expected = stopping && status.success();
                if !expected && !reported {
                    self.shared.count_violation(Violation::Error);
                    eprintln!("VIOLATION unexpected-error: worker {index} ended: {status}");
                }
                self.withdraw(index);
            }
        }
    }

    /// A dead (or doomed) worker's claims go: the kernel frees its locks.
    fn withdraw(&self, worker: usize) {
        self.shared.dead[worker].store(1, SeqCst);
        for slot in 0..self.layout.scopes.len() {
            self.shared.clear_row(worker, slot);
        }
    }

    fn finish(&mut self) {
        let started = Instant::now();
        while self.workers.iter().any(|worker| !worker.exited) && started.elapsed() < EXIT_LIMIT {
            self.reap();
            std::thread::sleep(Duration::from_millis(10));
        }
        for index in 0..self.workers.len() {
            if !self.workers[index].exited {
                self.shared.count_violation(Violation::Hang);
                eprintln!("VIOLATION hang: worker {index} did not exit within {} s: killed", EXIT_LIMIT.as_secs());
                self.withdraw(index);
                self.workers[index].kill();
            }
        }
        for worker in &mut self.workers {
            if let Some(forwarder) = worker.forwarder.take() {
                let _ = forwarder.join();
            }
        }
    }
}

/// A worker process; its stderr is forwarded line by line (so that the test's output capture
/// shows it on failure).
struct WorkerProcess {
    index: usize,
    child: Child,
    exited: bool,
    forwarder: Option<std::thread::JoinHandle<()>>,
}

impl WorkerProcess {
    fn start(index: usize, settings: &Settings, dir: &Path) -> WorkerProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "worker_entry", "--nocapture", "--test-threads=1"])
            .envs(settings.to_env())
            .env(worker::WORKER_ENV, index.to_string())
            .env(worker::DIR_ENV, dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a worker process");
        let stderr = child.stderr.take().unwrap();
        let forwarder = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
            }
        });
        WorkerProcess { index, child, exited: false, forwarder: Some(forwarder) }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exited = true;
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if !self.exited {
            self.kill();
        }
    }
}

fn summary(settings: &Settings, shared: &Shared) -> String {
    let mut text = format!(
        "stress seed {} ({} processes x {} threads, mix {}, {} s)\n",
        settings.seed,
        settings.processes,
        settings.threads,
        settings.mix.name(),
        settings.seconds
    );
    let mut total = 0;
    for op in Op::ALL {
        let counts: Vec<(Outcome, u64)> =
            Outcome::ALL.iter().map(|&outcome| (outcome, shared.ops(op, outcome))).collect();
        let sum: u64 = counts.iter().map(|(_, count)| count).sum();
        total += sum;
        let parts: Vec<String> = counts
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(outcome, count)| format!("{count} {}", outcome.name()))
            .collect();
        text.push_str(&format!("  {:<16} {sum:>9}  {}\n", op.name(), parts.join(", ")));
    }
    text.push_str(&format!("  {:<16} {total:>9}\n", "ops"));
    for stat in Stat::ALL {
        text.push_str(&format!("  {:<28} {}\n", stat.name(), shared.stat(stat)));
    }
    let violations: Vec<String> =
        Violation::ALL.iter().map(|&kind| format!("{} {}", kind.name(), shared.violations(kind))).collect();
    text.push_str(&format!("  violations: {}", violations.join(", ")));
    text
}
