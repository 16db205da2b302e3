//! The memory every process of a run shares (a file in the run's directory, mapped `MAP_SHARED`):
//! the orchestrator's pause and stop control, the counters, and the occupancy table.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};

use locksfile::{LockMode, LockRange, Scope};

pub const MAX_WORKERS: usize = 8;
pub const MAX_SLOTS: usize = 8;
/// Ranges start below this index; the table has a cell for each of these indices (open-ended
/// ranges reach past it, and also cover the last cell, so their conflicts show there too).
pub const INDICES: u64 = 16;

/// What the workers do, counted per outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Acquire,
    TryAcquire,
    Timed,
    Convert,
    Release,
    ReleaseAll,
    Close,
    Fork,
    Hold,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::Acquire,
        Op::TryAcquire,
        Op::Timed,
        Op::Convert,
        Op::Release,
        Op::ReleaseAll,
        Op::Close,
        Op::Fork,
        Op::Hold,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Acquire => "acquire",
            Op::TryAcquire => "try_acquire",
            Op::Timed => "acquire_timeout",
            Op::Convert => "convert",
            Op::Release => "release",
            Op::ReleaseAll => "release_all",
            Op::Close => "close+reopen",
            Op::Fork => "fork",
            Op::Hold => "hold",
        }
    }
}

/// How an op ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done (an acquire took its range).
    Done,
    /// `try_acquire` found a conflict, or a timed wait ran out.
    NotTaken,
    /// A blocking wait was interrupted by the nudge signal (`Error::Interrupted`).
    Interrupted,
    /// The kernel refused a classic wait as a deadlock (`Error::Deadlock`).
    Deadlock,
    /// Another thread closed the handle before or during the call (`Error::Closed`).
    Closed,
    /// An error no op should give, or a fork child that failed its checks.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 6] =
        [Outcome::Done, Outcome::NotTaken, Outcome::Interrupted, Outcome::Deadlock, Outcome::Closed, Outcome::Failed];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::NotTaken => "not taken",
            Outcome::Interrupted => "interrupted",
            Outcome::Deadlock => "deadlock",
            Outcome::Closed => "closed",
            Outcome::Failed => "failed",
        }
    }
}

/// The kinds of violation; any one fails the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two owners' records claimed conflicting locks on one index at the same time.
    Exclusion,
    /// At quiescence, an owner's record differed from what the kernel holds for it.
    Kernel,
    /// A record lost a lock that no call on its handle gave up.
    Record,
    /// A fork child saw its parent's locks, or could release or share them.
    Fork,
    /// No progress: a call, a pause, or a fork child that never ended.
    Hang,
    /// A call failed with an error that no op should give, or a worker died.
    Error,
}

impl Violation {
    pub const ALL: [Violation; 6] = [
        Violation::Exclusion,
        Violation::Kernel,
        Violation::Record,
        Violation::Fork,
        Violation::Hang,
        Violation::Error,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Violation::Exclusion => "exclusion",
            Violation::Kernel => "record-vs-kernel",
            Violation::Record => "lost-record",
            Violation::Fork => "fork-child",
            Violation::Hang => "hang",
            Violation::Error => "unexpected-error",
        }
    }
}

/// Things counted that are neither ops nor violations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// Cells compared against other owners' cells after a claim.
    ExclusionChecks,
    /// Of those, write claims.
    WriteClaims,
    /// Owners (handles, and each process's classic owner) compared with the kernel at quiescence.
    KernelComparisons,
    /// Pauses a worker took part in.
    Pauses,
    /// Fork children made at quiescence (besides the fork ops that race other threads).
    QuiescentForks,
    /// Nudge signals sent to end blocking waits.
    Nudges,
}

impl Stat {
    pub const ALL: [Stat; 6] = [
        Stat::ExclusionChecks,
        Stat::WriteClaims,
        Stat::KernelComparisons,
        Stat::Pauses,
        Stat::QuiescentForks,
        Stat::Nudges,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stat::ExclusionChecks => "exclusion checks",
            Stat::WriteClaims => "  of write claims",
            Stat::KernelComparisons => "owner-vs-kernel comparisons",
            Stat::Pauses => "worker pauses",
            Stat::QuiescentForks => "forks at quiescence",
            Stat::Nudges => "nudge signals",
        }
    }
}

/// A cell: what one handle slot's record claims on one index (`0` nothing, then read, write).
pub const NONE: u8 = 0;
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

pub fn code(mode: Option<LockMode>) -> u8 {
    match mode {
        None => NONE,
        Some(LockMode::Read) => READ,
        Some(LockMode::Write) => WRITE,
    }
}

pub fn code_name(code: u8) -> &'static str {
    match code {
        NONE => "nothing",
        READ => "read",
        _ => "write",
    }
}

/// The handle slots of every worker (all workers have the same) and who owns them in the kernel.
#[derive(Clone, Debug)]
pub struct Layout {
    pub workers: usize,
    pub scopes: Vec<Scope>,
}

impl Layout {
    /// The kernel owner of a slot's handle: each `OpenFile` handle is its own; all `Process`-scope
    /// views of one worker are that process's one owner (they never exclude each other, but they
    /// do conflict with the same process's `OpenFile` handles).
    pub fn owner(&self, worker: usize, slot: usize) -> (usize, Option<usize>) {
        match self.scopes[slot] {
            Scope::OpenFile => (worker, Some(slot)),
            Scope::Process => (worker, None),
        }
    }
}

/// Zeroed bytes are a valid value of every field (atomics), so a fresh file is a fresh state.
#[repr(C)]
pub struct Shared {
    /// Monotonic-clock microseconds at the run's start: histories of all processes share a clock.
    pub clock_base_us: AtomicU64,
    /// The orchestrator asks for pause `n` by storing `n`.
    pub pause_epoch: AtomicU64,
    /// A worker stores `n` once it is paused and has checked itself for pause `n`.
    pub acked: [AtomicU64; MAX_WORKERS],
    /// The orchestrator ends pause `n` by storing `n`.
    pub resume_epoch: AtomicU64,
    /// Non-zero: the pause being resumed is the last; workers exit.
    pub stop: AtomicU64,
    /// Bumped by another worker that found an exclusion violation involving this one: dump history.
    pub dump_requests: [AtomicU64; MAX_WORKERS],
    /// Non-zero: the worker left or was killed; its claims are void (its locks go with it).
    pub dead: [AtomicU64; MAX_WORKERS],
    ops: [[AtomicU64; Outcome::ALL.len()]; Op::ALL.len()],
    violations: [AtomicU64; Violation::ALL.len()],
    stats: [AtomicU64; Stat::ALL.len()],
    cells: [[[AtomicU8; INDICES as usize]; MAX_SLOTS]; MAX_WORKERS],
}

impl Shared {
    /// Creates the file (zeroed) and maps it.
    pub fn create(path: &Path) -> &'static Shared {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path).expect("create shared file");
        file.set_len(std::mem::size_of::<Shared>() as u64).expect("size shared file");
        Self::map(&file)
    }

    /// Maps the file the orchestrator created.
    pub fn open(path: &Path) -> &'static Shared {
        let file = OpenOptions::new().read(true).write(true).open(path).expect("open shared file");
        Self::map(&file)
    }

    fn map(file: &std::fs::File) -> &'static Shared {
        let size = std::mem::size_of::<Shared>();
        // SAFETY: a fresh shared mapping of `size` bytes of an open file; the kernel picks the
        // (page-aligned) address. The mapping outlives the descriptor, which may close.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(address, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        // SAFETY: the mapping is `size` bytes, page-aligned (more than `Shared` needs), and never
        // unmapped, so it lives for 'static. Its bytes start zeroed, a valid `Shared`; every field
        // is an atomic, so concurrent access from any process or thread is sound.
        unsafe { &*address.cast::<Shared>() }
    }

    pub fn now_us(&self) -> u64 {
        monotonic_us().saturating_sub(self.clock_base_us.load(SeqCst))
    }

    pub fn count_op(&self, op: Op, outcome: Outcome) {
        self.ops[op as usize][outcome as usize].fetch_add(1, SeqCst);
    }

    pub fn ops(&self, op: Op, outcome: Outcome) -> u64 {
        self.ops[op as usize][outcome as usize].load(SeqCst)
    }

    pub fn count_violation(&self, kind: Violation) -> u64 {
        self.violations[kind as usize].fetch_add(1, SeqCst) + 1
    }

    pub fn violations(&self, kind: Violation) -> u64 {
        self.violations[kind as usize].load(SeqCst)
    }

    pub fn count(&self, stat: Stat, n: u64) {
        self.stats[stat as usize].fetch_add(n, SeqCst);
    }

    pub fn stat(&self, stat: Stat) -> u64 {
        self.stats[stat as usize].load(SeqCst)
    }

    pub fn cell(&self, worker: usize, slot: usize, index: u64) -> u8 {
        self.cells[worker][slot][index as usize].load(SeqCst)
    }

    pub fn set_cell(&self, worker: usize, slot: usize, index: u64, code: u8) {
        self.cells[worker][slot][index as usize].store(code, SeqCst);
    }

    /// Lowers the slot's cells in `range` to at most `ceiling`.
    pub fn lower(&self, worker: usize, slot: usize, range: LockRange, ceiling: u8) {
        for index in cells_of(range) {
            self.cells[worker][slot][index as usize].fetch_min(ceiling, SeqCst);
        }
    }

    /// Lowers every cell of the slot to nothing.
    pub fn clear_row(&self, worker: usize, slot: usize) {
        for cell in &self.cells[worker][slot] {
            cell.store(NONE, SeqCst);
        }
    }

    /// The first cell of another kernel owner that conflicts with `code` at `index`, as
    /// `(worker, slot, its code)`. Called after raising one's own cell (both sides store, then
    /// load, all `SeqCst`: of two owners claiming at once, at least one sees the other). A dead
    /// worker's cells do not count; `dead` is read after the cell, and is set before its locks go.
    pub fn conflict(
        &self,
        layout: &Layout,
        worker: usize,
        slot: usize,
        index: u64,
        code: u8,
    ) -> Option<(usize, usize, u8)> {
        let own = layout.owner(worker, slot);
        for other_worker in 0..layout.workers {
            for other_slot in 0..layout.scopes.len() {
                if layout.owner(other_worker, other_slot) == own {
                    continue;
                }
                let other = self.cell(other_worker, other_slot, index);
                if conflicts(code, other) && self.dead[other_worker].load(SeqCst) == 0 {
                    return Some((other_worker, other_slot, other));
                }
            }
        }
        None
    }
}

/// Whether two different owners' claims on one index exclude each other.
pub fn conflicts(a: u8, b: u8) -> bool {
    (a == WRITE && b != NONE) || (b == WRITE && a != NONE)
}

/// The indices of `range` that have a cell.
pub fn cells_of(range: LockRange) -> std::ops::Range<u64> {
    let end = range.end().unwrap_or(u64::MAX).min(INDICES);
    range.start().min(end)..end
}

fn monotonic_us() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `now`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

/// Starts the shared clock (orchestrator).
pub fn start_clock(shared: &Shared) {
    shared.clock_base_us.store(monotonic_us(), SeqCst);
}
