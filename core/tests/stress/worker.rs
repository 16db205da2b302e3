//! A worker process: threads doing random operations on handles they share, claiming what their
//! handles' records hold in the occupancy table, and comparing records with the kernel whenever
//! the orchestrator pauses the run. See the top of `stress.rs` for the rules.

use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use locksfile::{Error, LockMode, LockRange, LocksFile, Scope};

use crate::history::{format_merged, Entry, History, Rng};
use crate::kernel::{classic_locks, format_runs, held_runs, open_file_locks, process_locks, strongest};
use crate::settings::Settings;
use crate::shared::{
    cells_of, code, code_name, Layout, Op, Outcome, Shared, Stat, Violation, INDICES, NONE, READ, WRITE,
};

pub const WORKER_ENV: &str = "LOCKSFILE_STRESS_WORKER";
pub const DIR_ENV: &str = "LOCKSFILE_STRESS_DIR";
/// The exit code of a worker that reported a hang and left (its stuck threads cannot be joined).
pub const HANG_EXIT: i32 = 3;
/// The exit code of a worker that panicked (reported as an unexpected error).
pub const PANIC_EXIT: i32 = 101;

/// A blocking `acquire` still waiting after this long is ended by a signal (`Error::Interrupted`):
/// open-file-description waits in a cycle are never detected by the kernel.
const BLOCK_LIMIT_US: u64 = 100_000;
/// A call still running after this long is a hang.
const HANG_LIMIT_US: u64 = 20_000_000;
/// A fork child that has not exited after this long is deadlocked.
const FORK_CHILD_LIMIT: Duration = Duration::from_secs(3);
/// The longest timed wait.
const MAX_TIMEOUT_MS: u64 = 50;
/// One-line reports per kind of violation and worker; the rest are only counted.
const PRINT_LIMIT: u64 = 8;
/// History dumps per worker asked for by other workers (besides one for the first violation of
/// each kind it finds itself).
const REQUESTED_DUMPS: u64 = 1;
/// Lines of merged history in a dump.
const DUMP_LINES: usize = 200;
/// How often the control thread looks at everything.
const TICK: Duration = Duration::from_millis(5);

/// What a fork child found wrong, as bits of its exit code.
const CHILD_HELD_SOMETHING: i32 = 1;
const CHILD_SHARES_DESCRIPTION: i32 = 2;
const CHILD_NOT_EXCLUDED: i32 = 4;
const CHILD_CALL_FAILED: i32 = 8;

/// Runs this process as a worker and exits, when it was started as one.
pub fn run_if_worker() {
    let Some(index) = std::env::var(WORKER_ENV).ok().and_then(|text| text.parse::<usize>().ok()) else { return };
    // A worker never outlives the orchestrator (killed with the test, say), which would leave it
    // waiting for a resume forever.
    // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid have no memory-safety preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() == 1 {
            libc::_exit(1);
        }
    }
    let settings = Settings::from_env();
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("the run's directory"));
    let shared = Shared::open(&dir.join("shared"));
    let layout = settings.layout();
    install_panic_hook();
    install_nudge_handler();
    let worker: &'static Worker =
        Box::leak(Box::new(Worker::new(index, settings, layout, shared, dir.join("stress.lock"))));
    let _ = WORKER.set(worker);
    worker.run();
    std::process::exit(0);
}

/// This process's worker, for the panic hook.
static WORKER: OnceLock<&'static Worker> = OnceLock::new();

/// A panic anywhere (a harness bug, or a panic inside the crate) is an unexpected error: counted,
/// with the history, and the worker leaves (its locks go with it, its claims are void).
fn install_panic_hook() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        // (Not in a fork child: it exits with the panic's code, which its parent reports.)
        if let Some(worker) = WORKER.get().filter(|worker| worker.pid == std::process::id()) {
            if !worker.violation(Violation::Error, format!("a panic (above): {info}")) {
                worker.dump("a panic");
            }
            worker.leave(PANIC_EXIT);
        }
        // SAFETY: ends the process at once; other threads may hold locks that exit handlers need.
        unsafe { libc::_exit(PANIC_EXIT) };
    }));
}

extern "C" fn nudged(_: libc::c_int) {}

/// SIGUSR1 runs a handler that returns, without `SA_RESTART`: it ends a blocking wait with EINTR.
fn install_nudge_handler() {
    // SAFETY: a zeroed sigaction with an empty mask and a no-op extern "C" handler is valid.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = nudged as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic ends the whole worker (see the hook): poisoning never matters.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long an acquire may wait.
#[derive(Clone, Copy, Debug)]
enum Wait {
    Try,
    Timed(Duration),
    Block,
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wait::Try => f.write_str("try"),
            Wait::Timed(timeout) => write!(f, "timeout {}ms", timeout.as_millis()),
            Wait::Block => f.write_str("block"),
        }
    }
}

/// A handle the threads share, and what the test knows of it.
struct HandleSlot {
    index: usize,
    scope: Scope,
    /// The claim lock: held while the slot's cells change, and across every call that may lower
    /// what its handle holds (release, release_all, close), so that no claim is raised in between.
    claims: Mutex<Claims>,
    current: Mutex<Current>,
}

#[derive(Default)]
struct Claims {
    /// Read requests in flight on the slot's handle, per index: each may downgrade a write there
    /// at any moment, so no write claim is raised where one is in flight.
    reads_in_flight: [u32; INDICES as usize],
}

struct Current {
    /// `None` only inside `close_handle`'s callers, under this lock.
    handle: Option<Arc<LocksFile>>,
    /// How many times the slot was reopened: names the handle in histories.
    generation: u64,
}

impl HandleSlot {
    fn current(&self) -> (Arc<LocksFile>, u64) {
        let current = lock(&self.current);
        (current.handle.clone().expect("a slot is reopened before its lock is let go"), current.generation)
    }

    fn is_current(&self, handle: &Arc<LocksFile>) -> bool {
        lock(&self.current).handle.as_ref().is_some_and(|current| Arc::ptr_eq(current, handle))
    }
}

/// One thread's bookkeeping (op threads, then the control thread).
#[derive(Default)]
struct ThreadState {
    history: Mutex<History>,
    tid: AtomicI32,
    /// Shared-clock microseconds + 1 when a blocking `acquire` began; 0 when none is in progress.
    blocking_since: AtomicU64,
    /// Shared-clock microseconds + 1 when the current operation began; 0 between operations.
    op_since: AtomicU64,
}

#[derive(Default)]
struct Pause {
    arrived: usize,
    generation: u64,
    stop: bool,
}

struct Worker {
    index: usize,
    settings: Settings,
    layout: Layout,
    shared: &'static Shared,
    path: PathBuf,
    /// Device and inode of the lock file, for `/proc/locks`.
    file: (u64, u64),
    pid: u32,
    slots: Vec<HandleSlot>,
    /// The op threads', then the control thread's.
    threads: Vec<ThreadState>,
    pausing: AtomicBool,
    /// See `write_percent`.
    write_percent: AtomicU64,
    pause: Mutex<Pause>,
    pause_changed: Condvar,
    printed: [AtomicU64; Violation::ALL.len()],
}

impl Worker {
    fn new(index: usize, settings: Settings, layout: Layout, shared: &'static Shared, path: PathBuf) -> Worker {
        let threads = (0..=settings.threads).map(|_| ThreadState::default()).collect();
        let mut worker = Worker {
            index,
            layout: layout.clone(),
            shared,
            file: (0, 0),
            pid: std::process::id(),
            slots: Vec::new(),
            threads,
            pausing: AtomicBool::new(false),
            write_percent: AtomicU64::new(write_percent(settings.seed, 0)),
            pause: Mutex::default(),
            pause_changed: Condvar::new(),
            printed: Default::default(),
            path,
            settings,
        };
        worker.slots = layout
            .scopes
            .iter()
            .enumerate()
            .map(|(index, &scope)| HandleSlot {
                index,
                scope,
                claims: Mutex::default(),
                current: Mutex::new(Current { handle: Some(worker.open(index, scope)), generation: 0 }),
            })
            .collect();
        let metadata = std::fs::metadata(&worker.path).expect("the lock file");
        worker.file = (metadata.dev(), metadata.ino());
        worker
    }

    /// Opens slot `index`'s handle: odd slots are fair (writer preference, through the gates).
    fn open(&self, index: usize, scope: Scope) -> Arc<LocksFile> {
        let fair = index % 2 == 1;
        Arc::new(LocksFile::options().scope(scope).fair(fair).open(&self.path).expect("open the lock file"))
    }

    fn control_thread(&self) -> usize {
        self.settings.threads
    }

    fn run(&self) {
        std::thread::scope(|scope| {
            for thread in 0..self.settings.threads {
                scope.spawn(move || self.op_thread(thread));
            }
            self.control();
        });
        for slot in 0..self.slots.len() {
            self.shared.clear_row(self.index, slot);
        }
    }

    // ---- the control thread: pauses, nudges, watchdog ----

    fn control(&self) {
        let mut rng = Rng::new(self.settings.seed, 1 + 64 * self.index as u64 + 63);
        let mut epoch_done = 0;
        let mut dump_requests_seen = 0;
        let mut requested_dumps = 0;
        loop {
            std::thread::sleep(TICK);
            self.nudge_and_watch();
            let requests = self.shared.dump_requests[self.index].load(SeqCst);
            if requests != dump_requests_seen {
                dump_requests_seen = requests;
                if requested_dumps < REQUESTED_DUMPS {
                    requested_dumps += 1;
                    self.dump("another worker found an exclusion violation involving this one");
                }
            }
            let epoch = self.shared.pause_epoch.load(SeqCst);
            if epoch <= epoch_done {
                continue;
            }
            epoch_done = epoch;
            self.park_op_threads();
            self.quiescent_checks(&mut rng);
            self.shared.acked[self.index].store(epoch, SeqCst);
            while self.shared.resume_epoch.load(SeqCst) < epoch {
                std::thread::sleep(Duration::from_millis(1));
            }
            let stop = self.shared.stop.load(SeqCst) != 0;
            self.write_percent.store(write_percent(self.settings.seed, epoch), SeqCst);
            self.resume_op_threads(stop);
            if stop {
                return;
            }
        }
    }

    /// Ends blocking waits that took too long (or that a pause waits for) with a signal; fails the
    /// run when a call takes forever.
    fn nudge_and_watch(&self) {
        let now = self.shared.now_us() + 1;
        let pausing = self.pausing.load(SeqCst);
        for (thread, state) in self.threads[..self.settings.threads].iter().enumerate() {
            let since = state.blocking_since.load(SeqCst);
            if since != 0 && (pausing || now.saturating_sub(since) > BLOCK_LIMIT_US) {
                // SAFETY: tgkill(2) signals one of this process's own threads; the handler is a no-op.
                unsafe {
                    libc::syscall(libc::SYS_tgkill, self.pid as libc::pid_t, state.tid.load(SeqCst), libc::SIGUSR1)
                };
                self.shared.count(Stat::Nudges, 1);
            }
            let since = state.op_since.load(SeqCst);
            if since != 0 && now.saturating_sub(since) > HANG_LIMIT_US {
                self.hang(thread);
            }
        }
    }

    fn hang(&self, thread: usize) -> ! {
        let call = lock(&self.threads[thread].history).entries().last().map(|entry| entry.text.clone());
        let message = format!(
            "thread {thread} has been inside one call for over {} s: {}",
            HANG_LIMIT_US / 1_000_000,
            call.unwrap_or_default()
        );
        if !self.violation(Violation::Hang, message) {
            self.dump("hang");
        }
        self.leave(HANG_EXIT);
    }

    /// Ends the process at once: the worker is marked dead first (other workers then ignore its
    /// claims: its threads may raise some until the end, and the kernel drops its locks at exit).
    fn leave(&self, code: i32) -> ! {
        self.shared.dead[self.index].store(1, SeqCst);
        // SAFETY: ends the process at once: a stuck thread cannot be joined, and exit handlers
        // might wait for locks other threads hold.
        unsafe { libc::_exit(code) };
    }

    fn park_op_threads(&self) {
        self.pausing.store(true, SeqCst);
        while lock(&self.pause).arrived < self.settings.threads {
            std::thread::sleep(Duration::from_millis(1));
            self.nudge_and_watch();
        }
    }

    fn resume_op_threads(&self, stop: bool) {
        let mut pause = lock(&self.pause);
        pause.arrived = 0;
        pause.generation += 1;
        pause.stop = stop;
        self.pausing.store(false, SeqCst);
        self.pause_changed.notify_all();
    }

    /// Waits out a pause (an op thread, between operations, holding nothing of the test's). False
    /// when the run is over.
    fn park(&self) -> bool {
        let mut pause = lock(&self.pause);
        pause.arrived += 1;
        let generation = pause.generation;
        while pause.generation == generation {
            pause = self.pause_changed.wait(pause).unwrap_or_else(PoisonError::into_inner);
        }
        !pause.stop
    }

    // ---- at quiescence: no call in flight, every handle's only reference in its slot ----

    fn quiescent_checks(&self, rng: &mut Rng) {
        self.shared.count(Stat::Pauses, 1);
        let mut failed = self.claims_exceeding_records();
        failed |= self.records_against_kernel("at quiescence");
        if !failed && self.settings.mix.forks() && rng.chance(50) {
            self.shared.count(Stat::QuiescentForks, 1);
            let handles: Vec<(Arc<LocksFile>, Scope)> =
                self.slots.iter().map(|slot| (slot.current().0, slot.scope)).collect();
            // Every index a handle holds in write: the children must be unable to read any of them.
            let written: Vec<u64> = (0..INDICES)
                .filter(|&index| handles.iter().any(|(handle, _)| handle.mode_of(index) == Some(LockMode::Write)))
                .collect();
            let thread = self.control_thread();
            self.begin(thread, format!("fork at quiescence (the parent writes {written:?})"));
            let ended = self.fork_child(&handles, &written);
            drop(handles);
            let (outcome, text) = self.child_ended(ended, "");
            self.end(thread, text);
            failed |= outcome != Outcome::Done;
            failed |= self.records_against_kernel("after a fork child touched the inherited handles");
        }
        if failed {
            self.reset();
        }
        // Claims restart from the records, which now equal the kernel.
        for slot in &self.slots {
            let (handle, _) = slot.current();
            for index in 0..INDICES {
                self.shared.set_cell(self.index, slot.index, index, code(handle.mode_of(index)));
            }
        }
    }

    /// A claim above its record means the record lost a lock that no call on its handle gave up.
    fn claims_exceeding_records(&self) -> bool {
        let mut failed = false;
        for slot in &self.slots {
            let (handle, generation) = slot.current();
            for index in 0..INDICES {
                let (claimed, held) = (self.shared.cell(self.index, slot.index, index), code(handle.mode_of(index)));
                if claimed > held {
                    failed = true;
                    self.violation(
                        Violation::Record,
                        format!(
                            "at quiescence, slot {} ({} #{generation}) claims {} on {index}, but its record holds {}",
                            slot.index,
                            scope_name(slot.scope),
                            code_name(claimed),
                            code_name(held)
                        ),
                    );
                }
            }
        }
        failed
    }

    /// Every live owner's record against the kernel: each `OpenFile` handle's `held()` against its
    /// descriptor's fdinfo; for the process's classic owner, the strongest mode any view holds
    /// against `/proc/locks`.
    fn records_against_kernel(&self, when: &str) -> bool {
        let mut mismatches = Vec::new();
        let mut views = Vec::new();
        let mut view_records = String::new();
        for slot in &self.slots {
            let (handle, generation) = slot.current();
            let record = held_runs(&handle.held());
            match slot.scope {
                Scope::OpenFile => {
                    self.shared.count(Stat::KernelComparisons, 1);
                    match open_file_locks(handle.as_raw_fd()) {
                        Ok(kernel) if kernel == record => {}
                        Ok(kernel) => mismatches.push(format!(
                            "slot {} (open-file #{generation}): its record holds {}, the kernel (fdinfo) {}",
                            slot.index,
                            format_runs(&record),
                            format_runs(&kernel)
                        )),
                        Err(error) => mismatches.push(format!("slot {}: fdinfo unreadable: {error}", slot.index)),
                    }
                }
                Scope::Process => {
                    let _ = write!(view_records, " slot {} #{generation}: {};", slot.index, format_runs(&record));
                    views.push(record);
                }
            }
        }
        self.shared.count(Stat::KernelComparisons, 1);
        let expected = strongest(&views);
        // The kernel's word: the owner's descriptor's fdinfo (one consistent look), and the POSIX
        // lines of /proc/locks with this pid, which must agree with it (see `process_locks`);
        // without views, /proc/locks alone (it must list nothing).
        let owner_fd = self
            .slots
            .iter()
            .find(|slot| slot.scope == Scope::Process)
            .map(|slot| slot.current().0.as_raw_fd());
        let listed = process_locks(self.file.0, self.file.1, self.pid);
        let described = owner_fd.map(classic_locks).transpose();
        match (described, listed) {
            (Ok(described), Ok(listed)) => {
                let kernel = described.clone().unwrap_or_else(|| listed.clone());
                if kernel != expected || listed != kernel {
                    let fdinfo = described.as_deref().map_or_else(|| "no descriptor".to_owned(), format_runs);
                    mismatches.push(format!(
                        "the process's classic owner (views:{view_records} strongest {}): the kernel holds {} \
                         (fdinfo), {} (/proc/locks)",
                        format_runs(&expected),
                        fdinfo,
                        format_runs(&listed)
                    ));
                }
            }
            (Err(error), _) | (_, Err(error)) => mismatches.push(format!("the kernel's locks unreadable: {error}")),
        }
        for mismatch in &mismatches {
            self.violation(Violation::Kernel, format!("{when}: {mismatch}"));
        }
        !mismatches.is_empty()
    }

    /// After a violation at quiescence: every claim withdrawn, every handle closed before any is
    /// reopened (so that the classic owner closes too), so the next pause judges fresh records.
    fn reset(&self) {
        let thread = self.control_thread();
        self.begin(thread, "reset: close every handle, then reopen".into());
        let mut guards: Vec<_> = self.slots.iter().map(|slot| (lock(&slot.claims), lock(&slot.current))).collect();
        for slot in &self.slots {
            self.shared.clear_row(self.index, slot.index);
        }
        for (slot, (_, current)) in self.slots.iter().zip(&mut guards) {
            self.close_handle(slot, current);
        }
        for (slot, (_, current)) in self.slots.iter().zip(&mut guards) {
            current.handle = Some(self.open(slot.index, slot.scope));
            current.generation += 1;
        }
        drop(guards);
        self.end(thread, "ok".into());
    }

    // ---- op threads ----

    fn op_thread(&self, thread: usize) {
        // SAFETY: gettid has no preconditions.
        self.threads[thread].tid.store(unsafe { libc::gettid() }, SeqCst);
        let mut rng = Rng::new(self.settings.seed, 1 + 64 * self.index as u64 + thread as u64);
        let slots = self.settings.mix.slots_of_thread(thread, self.slots.len());
        let weights = self.settings.mix.weights();
        loop {
            if self.pausing.load(SeqCst) && !self.park() {
                return;
            }
            let op = Op::ALL[rng.weighted(&weights)];
            let slot = &self.slots[slots.start + rng.below(slots.len() as u64) as usize];
            self.threads[thread].op_since.store(self.shared.now_us() + 1, SeqCst);
            self.op(thread, op, slot, &mut rng);
            self.threads[thread].op_since.store(0, SeqCst);
        }
    }

    fn op(&self, thread: usize, op: Op, slot: &HandleSlot, rng: &mut Rng) {
        match op {
            Op::Acquire => self.acquire(thread, op, slot, random_range(rng), self.random_mode(rng), Wait::Block),
            Op::TryAcquire => self.acquire(thread, op, slot, random_range(rng), self.random_mode(rng), Wait::Try),
            Op::Timed => {
                let wait = Wait::Timed(Duration::from_millis(rng.below(MAX_TIMEOUT_MS + 1)));
                self.acquire(thread, op, slot, random_range(rng), self.random_mode(rng), wait);
            }
            Op::Convert => {
                let held = slot.current().0.held();
                match part_of_held(&held, rng) {
                    Some((range, mode)) => {
                        let other = if mode == LockMode::Read { LockMode::Write } else { LockMode::Read };
                        let wait = random_wait(rng);
                        self.acquire(thread, op, slot, range, other, wait);
                    }
                    // Nothing to convert: an ordinary try instead.
                    None => {
                        self.acquire(thread, Op::TryAcquire, slot, random_range(rng), self.random_mode(rng), Wait::Try)
                    }
                }
            }
            Op::Release => {
                let range = match rng.chance(75) {
                    true => part_of_held(&slot.current().0.held(), rng)
                        .map_or_else(|| random_range(rng), |(range, _)| range),
                    false => random_range(rng),
                };
                self.release(thread, slot, Some(range));
            }
            Op::ReleaseAll => self.release(thread, slot, None),
            Op::Close => self.close_and_reopen(thread, slot, rng),
            Op::Fork => self.fork_op(thread),
            Op::Hold => {
                let pause = Duration::from_millis(rng.below(4));
                self.begin(thread, format!("hold {}ms", pause.as_millis()));
                std::thread::sleep(pause);
                self.end(thread, "ok".into());
                self.shared.count_op(op, Outcome::Done);
            }
        }
    }

    fn random_mode(&self, rng: &mut Rng) -> LockMode {
        LockMode::from_write(rng.chance(self.write_percent.load(SeqCst)))
    }

    fn acquire(&self, thread: usize, op: Op, slot: &HandleSlot, range: LockRange, mode: LockMode, wait: Wait) {
        let (handle, generation) = slot.current();
        self.begin(thread, format!("{} slot{}#{generation} {mode} {range} {wait}", op.name(), slot.index));
        if mode == LockMode::Read {
            // A read request may downgrade writes the handle holds there, at any moment of the
            // call: those claims drop to read now, and no write claim is raised there meanwhile.
            let mut claims = lock(&slot.claims);
            if slot.is_current(&handle) {
                self.shared.lower(self.index, slot.index, range, READ);
            }
            for index in cells_of(range) {
                claims.reads_in_flight[index as usize] += 1;
            }
        }
        let state = &self.threads[thread];
        if let Wait::Block = wait {
            state.blocking_since.store(self.shared.now_us() + 1, SeqCst);
        }
        let result = match wait {
            Wait::Try => handle.try_acquire(range, mode),
            Wait::Timed(timeout) => handle.acquire_timeout(range, mode, timeout),
            Wait::Block => handle.acquire(range, mode).map(|()| true),
        };
        state.blocking_since.store(0, SeqCst);
        let mut claims = lock(&slot.claims);
        if mode == LockMode::Read {
            for index in cells_of(range) {
                claims.reads_in_flight[index as usize] -= 1;
            }
        }
        let mut text =
            self.outcome(op, &result, &format!("{} slot{}#{generation} {mode} {range}", op.name(), slot.index));
        if let Ok(true) = result {
            text.push_str(&self.claim(slot, &claims, &handle, generation, range, mode));
        }
        drop(claims);
        if let_go(handle) {
            text.push_str(CLOSED_HERE);
        }
        self.end(thread, text);
    }

    /// Raises the slot's cells in `range` after its handle took it in `mode`, as far as the record
    /// confirms, then looks for another owner claiming a conflicting lock there. Under the claim lock.
    fn claim(
        &self,
        slot: &HandleSlot,
        claims: &Claims,
        handle: &Arc<LocksFile>,
        generation: u64,
        range: LockRange,
        mode: LockMode,
    ) -> String {
        if !slot.is_current(handle) {
            return " (closed meanwhile: not claimed)".into();
        }
        for index in cells_of(range) {
            let held = code(handle.mode_of(index));
            let claimed = self.shared.cell(self.index, slot.index, index);
            if held < claimed {
                self.violation(
                    Violation::Record,
                    format!(
                        "slot {} ({} #{generation}) claimed {} on {index}, but its record now holds {}, \
                         and no call on it gave that up",
                        slot.index,
                        scope_name(slot.scope),
                        code_name(claimed),
                        code_name(held)
                    ),
                );
            }
            let ceiling = if claims.reads_in_flight[index as usize] > 0 { READ } else { WRITE };
            let raised = claimed.max(code(Some(mode))).min(held).min(ceiling);
            self.shared.set_cell(self.index, slot.index, index, raised);
            if raised == NONE {
                continue;
            }
            self.shared.count(Stat::ExclusionChecks, 1);
            if raised == WRITE {
                self.shared.count(Stat::WriteClaims, 1);
            }
            if let Some((other_worker, other_slot, other)) =
                self.shared.conflict(&self.layout, self.index, slot.index, index, raised)
            {
                if other_worker != self.index {
                    self.shared.dump_requests[other_worker].fetch_add(1, SeqCst);
                }
                self.violation(
                    Violation::Exclusion,
                    format!(
                        "worker {} slot {} ({} #{generation}) holds {} on {index} after taking {range} in {mode}, \
                         while worker {other_worker} slot {other_slot} ({}) claims {} there",
                        self.index,
                        slot.index,
                        scope_name(slot.scope),
                        code_name(raised),
                        scope_name(self.layout.scopes[other_slot]),
                        code_name(other)
                    ),
                );
                return format!(" EXCLUSION VIOLATION on {index}");
            }
        }
        String::new()
    }

    /// Releases `range` (`None`: everything). The claim lock is held across the call.
    fn release(&self, thread: usize, slot: &HandleSlot, range: Option<LockRange>) {
        let claims = lock(&slot.claims);
        let (handle, generation) = slot.current();
        let (op, what) = match range {
            Some(range) => (Op::Release, format!("release slot{}#{generation} {range}", slot.index)),
            None => (Op::ReleaseAll, format!("release_all slot{}#{generation}", slot.index)),
        };
        self.begin(thread, what.clone());
        self.shared.lower(self.index, slot.index, range.unwrap_or(LockRange::all()), NONE);
        let result = match range {
            Some(range) => handle.release(range),
            None => handle.release_all(),
        };
        drop(claims);
        let text = self.outcome(op, &result.map(|()| true), &what);
        self.end(thread, text);
    }

    /// Closes the slot's handle and opens another in its place, in either order (in `Process`
    /// scope, reopening first keeps the classic owner open; closing first may close it).
    fn close_and_reopen(&self, thread: usize, slot: &HandleSlot, rng: &mut Rng) {
        let _claims = lock(&slot.claims);
        let mut current = lock(&slot.current);
        let reopen_first = rng.chance(50);
        self.begin(
            thread,
            format!(
                "close slot{}#{} ({}), reopen {}",
                slot.index,
                current.generation,
                scope_name(slot.scope),
                if reopen_first { "first" } else { "after" }
            ),
        );
        let fresh = reopen_first.then(|| self.open(slot.index, slot.scope));
        let closed = self.close_handle(slot, &mut current);
        current.handle = Some(fresh.unwrap_or_else(|| self.open(slot.index, slot.scope)));
        current.generation += 1;
        drop(current);
        self.end(thread, closed.into());
        self.shared.count_op(Op::Close, Outcome::Done);
    }

    /// Every close in the test goes through here, under the slot's claim lock and current lock:
    /// the slot's claims are withdrawn first, then the handle is closed. Threads inside a call on
    /// it end with `Error::Closed`, holding nothing (see `expected_error`); `close` returns once
    /// they have. Returns what happened, for the history.
    fn close_handle(&self, slot: &HandleSlot, current: &mut Current) -> &'static str {
        self.shared.clear_row(self.index, slot.index);
        let Some(closing) = current.handle.take() else { return "not open" };
        if let Err(error) = closing.close() {
            eprintln!("[worker {}] close of slot {} failed: {error:?}", self.index, slot.index);
            self.shared.count_op(Op::Close, Outcome::Failed);
            return "close failed";
        }
        match let_go(closing) {
            true => "ok (closed; the last reference)",
            false => "ok (closed; threads that were inside calls on it still have it)",
        }
    }

    // ---- fork children ----

    /// Forks while the other threads are inside their calls; the child checks the handles it
    /// inherits. Whatever the child does must not touch the parent's locks: the next pause checks
    /// the parent's records against the kernel.
    fn fork_op(&self, thread: usize) {
        let handles: Vec<(Arc<LocksFile>, Scope)> =
            self.slots.iter().map(|slot| (slot.current().0, slot.scope)).collect();
        self.begin(thread, "fork while the other threads are inside calls".into());
        let in_flight = self.calls_in_flight(thread);
        let ended = self.fork_child(&handles, &[]);
        let (outcome, mut text) =
            self.child_ended(ended, &format!("; calls in flight just before the fork: {in_flight}"));
        for (handle, _) in handles {
            if let_go(handle) {
                text.push_str(CLOSED_HERE);
            }
        }
        self.shared.count_op(Op::Fork, outcome);
        self.end(thread, text);
    }

    /// Forks a child that checks `handles` (see `child_checks`) and exits; waits for it.
    fn fork_child(&self, handles: &[(Arc<LocksFile>, Scope)], written: &[u64]) -> ChildEnd {
        // SAFETY: the child runs only `child_checks` (calls on the inherited handles, reading its
        // own fdinfo, allocation: glibc's malloc is fork-safe) and leaves with _exit; it takes
        // none of the test's locks, which other threads may have held at the fork.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let found = child_checks(handles, written);
            // SAFETY: leaves the child at once, running none of the parent's exit handlers.
            unsafe { libc::_exit(found) };
        }
        assert!(pid > 0, "fork: {}", std::io::Error::last_os_error());
        let started = std::time::Instant::now();
        loop {
            let mut status = 0;
            // SAFETY: waits (without blocking) for our own child.
            let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if waited == pid {
                return match libc::WIFEXITED(status) {
                    true => ChildEnd::Exited(libc::WEXITSTATUS(status)),
                    false => ChildEnd::Killed(status),
                };
            }
            if started.elapsed() > FORK_CHILD_LIMIT {
                // Where it is stuck, for the report: the kernel function it sleeps in, its system call.
                let read = |what: &str| std::fs::read_to_string(format!("/proc/{pid}/{what}")).unwrap_or_default();
                let syscall = read("syscall");
                let stuck =
                    format!("wchan {}, syscall {}", read("wchan"), syscall.split_whitespace().next().unwrap_or("?"));
                // SAFETY: kill(2) and waitpid(2) on our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                return ChildEnd::Hung(pid, stuck);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Reports how a fork child ended (`context` goes with a violation).
    fn child_ended(&self, ended: ChildEnd, context: &str) -> (Outcome, String) {
        let failure = match ended {
            ChildEnd::Exited(0) => return (Outcome::Done, "child ok".into()),
            ChildEnd::Exited(PANIC_EXIT) => (Violation::Fork, "fork child panicked (above)".to_owned()),
            ChildEnd::Exited(found) => {
                let mut what = Vec::new();
                for (bit, meaning) in [
                    (CHILD_HELD_SOMETHING, "an inherited handle's held() was not empty"),
                    (
                        CHILD_SHARES_DESCRIPTION,
                        "an inherited OpenFile handle had its parent's open file description (locks in its fdinfo)",
                    ),
                    (CHILD_NOT_EXCLUDED, "the child could read-lock an index its parent holds in write"),
                    (CHILD_CALL_FAILED, "a call on an inherited handle failed"),
                ] {
                    if found & bit != 0 {
                        what.push(meaning);
                    }
                }
                (Violation::Fork, format!("fork child: {}", what.join("; ")))
            }
            ChildEnd::Killed(status) => (Violation::Fork, format!("fork child died (wait status {status:#x})")),
            ChildEnd::Hung(pid, stuck) => (
                Violation::Hang,
                format!(
                    "fork child {pid} had not exited after {} s ({stuck}; killed): \
                     stuck in a call on an inherited handle",
                    FORK_CHILD_LIMIT.as_secs()
                ),
            ),
        };
        self.violation(failure.0, format!("{}{context}", failure.1));
        (Outcome::Failed, failure.1)
    }

    // ---- outcomes, violations, histories ----

    /// What the other op threads are inside of, from their histories.
    fn calls_in_flight(&self, except: usize) -> String {
        let calls: Vec<String> = (0..self.settings.threads)
            .filter(|&thread| thread != except)
            .filter_map(|thread| {
                let history = lock(&self.threads[thread].history);
                let last = history.entries().last().filter(|entry| entry.end_us.is_none())?;
                Some(format!("t{thread} {}", last.text))
            })
            .collect();
        if calls.is_empty() {
            "none".into()
        } else {
            calls.join(", ")
        }
    }

    /// Counts the op's outcome; an error no op should give is a violation.
    fn outcome(&self, op: Op, result: &locksfile::Result<bool>, what: &str) -> String {
        let (outcome, text) = match result {
            Ok(true) => (Outcome::Done, "ok".to_owned()),
            Ok(false) => (Outcome::NotTaken, if op == Op::TryAcquire { "busy" } else { "not taken" }.to_owned()),
            Err(error) => match expected_error(error) {
                Some(outcome) => (outcome, outcome.name().to_owned()),
                None => {
                    self.violation(Violation::Error, format!("{what}: {error} ({error:?})"));
                    (Outcome::Failed, format!("ERROR {error}"))
                }
            },
        };
        self.shared.count_op(op, outcome);
        text
    }

    /// Counts and reports a violation; true when the history was dumped with it (the first of its
    /// kind in this worker).
    fn violation(&self, kind: Violation, message: String) -> bool {
        let count = self.shared.count_violation(kind);
        let printed = self.printed[kind as usize].fetch_add(1, SeqCst);
        if printed < PRINT_LIMIT {
            eprintln!(
                "[worker {}] VIOLATION {} #{count} (seed {}) at {:.3} ms: {message}",
                self.index,
                kind.name(),
                self.settings.seed,
                self.shared.now_us() as f64 / 1000.0
            );
        }
        if printed == 0 {
            self.dump(&format!("first {} violation", kind.name()));
        }
        printed == 0
    }

    /// Prints the last operations of every thread of this worker, merged in time order.
    fn dump(&self, why: &str) {
        let mut entries: Vec<Entry> = Vec::new();
        for state in &self.threads {
            entries.extend(lock(&state.history).entries().cloned());
        }
        entries.sort_by_key(|entry| entry.start_us);
        // The last operations, and any older one still in its call.
        let skip = entries.len().saturating_sub(DUMP_LINES);
        let shown: Vec<&Entry> = entries
            .iter()
            .enumerate()
            .filter(|&(n, entry)| n >= skip || entry.end_us.is_none())
            .map(|(_, e)| e)
            .collect();
        eprint!(
            "[worker {}] history ({why}; seed {}; last {} operations; start and end, ms of the run's clock):\n{}",
            self.index,
            self.settings.seed,
            shown.len(),
            format_merged(self.index, self.control_thread(), shown.into_iter())
        );
    }

    fn begin(&self, thread: usize, text: String) {
        lock(&self.threads[thread].history).begin(self.shared.now_us(), thread, text);
    }

    fn end(&self, thread: usize, result: String) {
        lock(&self.threads[thread].history).end(self.shared.now_us(), result);
    }
}

/// The errors an op may end with in this test, and how they count.
fn expected_error(error: &Error) -> Option<Outcome> {
    match error {
        // The nudge signal ended a blocking wait (or landed in a timed one).
        Error::Interrupted { .. } => Some(Outcome::Interrupted),
        // Classic (`Process`-scope) waits in a cycle between processes.
        Error::Deadlock { .. } => Some(Outcome::Deadlock),
        // A call on a handle that another thread closed, holding nothing.
        Error::Closed { .. } => Some(Outcome::Closed),
        _ => None,
    }
}

enum ChildEnd {
    Exited(i32),
    Killed(i32),
    /// Still running at the limit: its pid, and where it was stuck.
    Hung(libc::pid_t, String),
}

/// In a fork child: every inherited handle must hold nothing, `OpenFile` ones must have a fresh
/// open file description (no locks in the child's fdinfo), none may read-lock an index the parent
/// holds in write (`written`, when the parent is quiescent), and `release_all` must work. Each
/// also takes an index of its own far above the test's and releases everything from 0 on: a real
/// unlock of every index through the inherited descriptor, which must leave the parent's locks
/// alone (the parent compares its records with the kernel after the child is gone). Returns the
/// exit code: the `CHILD_*` bits found.
fn child_checks(handles: &[(Arc<LocksFile>, Scope)], written: &[u64]) -> i32 {
    let mut found = 0;
    for (number, (handle, scope)) in handles.iter().enumerate() {
        if handle.is_closed() {
            continue; // Another thread of the parent closed it between the snapshot and the fork.
        }
        if !handle.held().is_empty() {
            found |= CHILD_HELD_SOMETHING;
        }
        if *scope == Scope::OpenFile
            && open_file_locks(handle.as_raw_fd()).map_or(true, |locks| !locks.is_empty())
        {
            found |= CHILD_SHARES_DESCRIPTION;
        }
        for &index in written {
            match handle.try_acquire(index, LockMode::Read) {
                Ok(false) => {}
                Ok(true) => {
                    found |= CHILD_NOT_EXCLUDED;
                    let _ = handle.release(index);
                }
                Err(error) => found |= child_call_failed(&error),
            }
        }
        // (The test's open-ended ranges reach up there too: a conflict is no failure.)
        if let Err(error) = handle.try_acquire(1_000 + number as u64, LockMode::Write) {
            found |= child_call_failed(&error);
        }
        if let Err(error) = handle.release(LockRange::all()).and_then(|()| handle.release_all()) {
            found |= child_call_failed(&error);
        }
        if !handle.held().is_empty() {
            found |= CHILD_HELD_SOMETHING;
        }
    }
    found
}

/// Says on stderr which call failed in a fork child (with write(2): another thread of the parent
/// may have held std's stderr lock at the fork), and returns the flag.
fn child_call_failed(error: &Error) -> i32 {
    let text = format!("fork child: a call on an inherited handle failed: {error:?}\n");
    // SAFETY: writes a valid buffer to standard error.
    unsafe { libc::write(2, text.as_ptr().cast(), text.len()) };
    CHILD_CALL_FAILED
}

/// Drops a reference to a handle: true when it was the last, and the handle closed (the slot let
/// go of it in a close while this thread was inside a call on it).
fn let_go(handle: Arc<LocksFile>) -> bool {
    Arc::into_inner(handle).map(drop).is_some()
}

/// The history's note on a call after which its thread let go of a handle closed meanwhile.
const CLOSED_HERE: &str = " [the handle was closed meanwhile; this was its last reference: it closes now]";

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::OpenFile => "open-file",
        Scope::Process => "process",
    }
}

/// 1 to 4 indices starting below `INDICES`, or (one time in ten) everything from a start in the
/// upper part on (not lower: that would hold most indices).
fn random_range(rng: &mut Rng) -> LockRange {
    if rng.below(10) == 0 {
        return LockRange::from_start(INDICES / 3 + rng.below(INDICES - INDICES / 3)).expect("small start");
    }
    let start = rng.below(INDICES);
    let count = (1 + rng.below(4)).min(INDICES - start);
    LockRange::new(start, count).expect("small range")
}

/// How often requests are for writing, from one pause to the next: the same in every worker.
/// Readers share, so with a steady mix they pile up and starve writers; phases in which reads are
/// rare drain them, and writes get held and checked.
fn write_percent(seed: u64, epoch: u64) -> u64 {
    [25, 60, 90][Rng::new(seed, 1 << 32 | epoch).below(3) as usize]
}

fn random_wait(rng: &mut Rng) -> Wait {
    match rng.below(5) {
        0 | 1 => Wait::Try,
        2 | 3 => Wait::Timed(Duration::from_millis(rng.below(MAX_TIMEOUT_MS + 1))),
        _ => Wait::Block,
    }
}

/// Part of one of the held runs (up to 4 indices, or open-ended inside an open-ended run), with the
/// run's mode.
fn part_of_held(held: &[(LockRange, LockMode)], rng: &mut Rng) -> Option<(LockRange, LockMode)> {
    if held.is_empty() {
        return None;
    }
    let (run, mode) = held[rng.below(held.len() as u64) as usize];
    let span = run.count().unwrap_or(4).min(4);
    let start = run.start() + rng.below(span);
    let range = match run.end() {
        None if rng.chance(50) => LockRange::from_start(start),
        None => LockRange::new(start, 1 + rng.below(3)),
        Some(end) => LockRange::new(start, 1 + rng.below((end - start).min(4))),
    };
    Some((range.expect("inside a held run"), mode))
}
