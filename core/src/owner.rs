//! A lock owner: one open lock file as the kernel sees it, shared by one or more views (handles).
//!
//! In `OpenFile` scope every handle has its own owner (its own open file description). In `Process`
//! scope the kernel has one owner per process, so all handles of one file in a process are views of
//! one `Owner` (see `registry`). Each view keeps its own record; the kernel should hold, byte by
//! byte, the strongest mode any view holds (the records' combination).
//!
//! Invariants, all kept under the state lock:
//! - Outside the ranges of kernel waits in flight, the kernel holds exactly the combination.
//!   Inside them it holds at least that much: the wait may have been granted already.
//! - At most one kernel wait per byte per owner: a second request over the same bytes waits
//!   in-process (interruptibly) for the first to settle, so that the kernel grants and the records
//!   change in the same order.
//! - Only lowering calls (unlock, write to read) are made on bytes with a wait in flight, and they
//!   mark that wait *disturbed*: what it was granted may have been lowered again, so it takes its
//!   range once more, without waiting, before it reports success (waiting again on conflict).
//! - After every kernel wait, granted or not, the kernel is brought back to exactly the
//!   combination over the requested range.
//! - A view that is closed (its handle's `close()`) is gone from `views`: every later call of it is
//!   `Closed`. Its kernel waits are interrupted (the wake signal, see `sys::wake`) and end with
//!   `Closed` holding nothing; `close()` returns after they have settled.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::mode::LockMode;
use crate::range::LockRange;
use crate::record::{LockRecord, Run};
use crate::registry::{self, FileId};
use crate::sys::deadline::DeadlineTimer;
use crate::sys::fcntl::{set_lock, set_lock_waiting, LockKind, LockOp, SetError};
use crate::sys::fork;
use crate::sys::futex::{Event, Mutex, MutexGuard, Woken};
use crate::sys::wake;

mod fair;

/// Identifies a view (handle) of an owner.
pub(crate) type ViewId = u64;

/// How long an acquire may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all.
    Try,
    /// As long as it takes.
    Block,
    /// Until the deadline.
    Until(Instant),
}

impl Wait {
    fn expired(self) -> bool {
        matches!(self, Self::Until(deadline) if Instant::now() >= deadline)
    }

    /// What is left of the wait: `None` for no limit.
    fn left(self) -> Option<Duration> {
        match self {
            Self::Try => Some(Duration::ZERO),
            Self::Block => None,
            Self::Until(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
        }
    }
}

/// Polling intervals when a wait cannot be ended by the wake signal: short first, then capped so
/// that a signal handler in the caller's language still runs promptly.
const POLL_FIRST: Duration = Duration::from_micros(500);
const POLL_MAX: Duration = Duration::from_millis(20);
/// How often `close` kicks a wait again that has not settled yet (a kick landing just before the
/// thread entered the kernel is lost).
const KICK_AGAIN: Duration = Duration::from_millis(1);

pub(crate) struct Owner {
    path: PathBuf,
    kind: LockKind,
    writable: bool,
    id: FileId,
    state: Mutex<State>,
    /// Notified whenever a kernel wait ends or a view closes.
    settled: Event,
}

struct State {
    /// The descriptor; `None` once the owner is retired (every view closed). Kernel waits use its
    /// number without this lock: it stays open while they run (a view's waits end before it closes).
    file: Option<File>,
    views: Vec<View>,
    /// Views whose `close` is under way (gone from `views`): a second `close` waits for the first.
    closing: Vec<ViewId>,
    waits: Vec<InFlight>,
    /// Other descriptors of the file (classic owners only), whose close would drop the process's
    /// classic locks: closed as soon as the owner holds none (see `registry`).
    parked: Vec<File>,
    next_token: u64,
    next_view: ViewId,
    /// The fork generation the records belong to.
    generation: u64,
}

struct View {
    id: ViewId,
    record: LockRecord,
}

/// A kernel wait in progress (outside the state lock).
struct InFlight {
    token: u64,
    view: ViewId,
    start: u64,
    end: u64,
    /// The waiting thread, kicked when its view closes.
    thread: libc::pid_t,
    /// Whether the thread waits in the kernel for the wake signal to end its wait (else it polls:
    /// kicking it would send a signal that is not ours any more).
    kickable: bool,
    /// Another thread lowered the kernel's locks in the range meanwhile.
    disturbed: bool,
}

/// The kernel requests one acquire makes, all in the requested mode.
enum Pieces {
    One([(u64, u64); 1]),
    Many(Vec<(u64, u64)>),
}

impl Pieces {
    fn as_slice(&self) -> &[(u64, u64)] {
        match self {
            Self::One(piece) => piece,
            Self::Many(pieces) => pieces,
        }
    }
}

impl Owner {
    pub(crate) fn new(file: File, path: PathBuf, kind: LockKind, writable: bool, id: FileId) -> Arc<Self> {
        let state = State {
            file: Some(file),
            views: Vec::new(),
            closing: Vec::new(),
            waits: Vec::new(),
            parked: Vec::new(),
            next_token: 0,
            next_view: 0,
            generation: fork::generation(),
        };
        let owner = Arc::new(Self { path, kind, writable, id, state: Mutex::new(state), settled: Event::new() });
        fork::register_lock(owner.state.raw());
        owner
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn kind(&self) -> LockKind {
        self.kind
    }

    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    pub(crate) fn id(&self) -> FileId {
        self.id
    }

    /// The descriptor's number, or -1 once the owner is retired.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.state().file.as_ref().map_or(-1, |file| file.as_raw_fd())
    }

    /// The state, with records and waits forgotten if this process is a fork child of the one that
    /// made them (a child holds none of its parent's locks, and its parent's threads are gone).
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock();
        let generation = fork::generation();
        if state.generation != generation {
            state.generation = generation;
            state.waits.clear();
            // Closes under way belong to the parent's threads, which the child does not have.
            state.closing.clear();
            for view in &mut state.views {
                view.record.clear();
            }
        }
        state
    }

    pub(crate) fn add_view(&self) -> ViewId {
        let mut state = self.state();
        let view = state.next_view;
        state.next_view += 1;
        state.views.push(View { id: view, record: LockRecord::default() });
        view
    }

    pub(crate) fn is_open(&self, view: ViewId) -> bool {
        self.state().position(view).is_some()
    }

    /// Runs `f` with the descriptor, under the state lock (so `close` cannot close it meanwhile).
    ///
    /// # Errors
    /// `Closed` when the view is.
    pub(crate) fn with_fd<R>(&self, view: ViewId, f: impl FnOnce(BorrowedFd<'_>) -> R) -> Result<R> {
        let state = self.state();
        self.check_open(&state, view)?;
        Ok(f(state.fd()))
    }

    /// Keeps another descriptor of the file open until the owner holds no lock (its close would
    /// drop the process's classic locks); closes it at once when the owner holds none.
    pub(crate) fn park(&self, file: File) {
        let mut state = self.state();
        state.parked.push(file);
        state.close_parked_if_idle();
    }

    /// Takes `range` in `mode` for `view`, converting what it already holds there.
    ///
    /// Returns `Ok(false)` when `wait` ran out (`Try`: a conflict; `Until`: the deadline), holding
    /// nothing new.
    ///
    /// # Errors
    /// `Closed` (before or during the wait; nothing new held), `NotWritable`, `Deadlock`,
    /// `Interrupted` (a signal; nothing new held), `NoLocksAvailable`, `Io`.
    pub(crate) fn acquire(&self, view: ViewId, range: LockRange, mode: LockMode, wait: Wait) -> Result<bool> {
        self.acquire_from(self.state(), view, range, mode, wait)
    }

    /// [`Self::acquire`], from the state lock held.
    fn acquire_from<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        view: ViewId,
        range: LockRange,
        mode: LockMode,
        wait: Wait,
    ) -> Result<bool> {
        let (start, end) = (range.start(), range.raw_end());
        if state.sole_view(view).is_some() && state.waits.is_empty() {
            // The common case: one view, no wait in flight. One request, converting in place, and
            // the record follows it exactly.
            if mode == LockMode::Write && !self.writable {
                return Err(Error::NotWritable { path: self.path.clone() });
            }
            match self.set(state.fd(), op(mode), start, end, false) {
                Ok(()) => {
                    state.views[0].record.set(start, end, Some(mode));
                    return Ok(true);
                }
                Err(SetError::Conflict) if matches!(wait, Wait::Try) => return Ok(false),
                Err(SetError::Conflict) => return self.wait_then_commit(state, view, range, mode, wait),
                Err(error) => return Err(self.error(&state, error, range, mode)),
            }
        }
        // Two requests over the same bytes must not interleave their kernel calls: wait for the
        // one in flight (in-process, so never a conflict between owners).
        let Some(mut state) = self.wait_in_process(state, view, &[(start, end)], range, mode, wait)? else {
            return Ok(false);
        };
        if mode == LockMode::Write && !self.writable {
            return Err(Error::NotWritable { path: self.path.clone() });
        }

        // First without waiting, under the state lock.
        match self.set_now(&mut state, start, end, mode) {
            Ok(()) => return self.commit(&mut state, view, start, end, mode).map(|()| true),
            Err(SetError::Conflict) if matches!(wait, Wait::Try) => return Ok(false),
            Err(SetError::Conflict) => {}
            Err(error) => return Err(self.error(&state, error, range, mode)),
        }
        self.wait_then_commit(state, view, range, mode, wait)
    }

    /// Waits in-process until no kernel wait of this owner is in flight over any of `spans`:
    /// `None` when `wait` runs out first.
    ///
    /// # Errors
    /// `Closed`, `Interrupted` (a signal handler ran).
    fn wait_in_process<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        view: ViewId,
        spans: &[(u64, u64)],
        range: LockRange,
        mode: LockMode,
        wait: Wait,
    ) -> Result<Option<MutexGuard<'a, State>>> {
        loop {
            self.check_open(&state, view)?;
            if !spans.iter().any(|&(start, end)| state.waits_overlap(start, end)) {
                return Ok(Some(state));
            }
            if matches!(wait, Wait::Try) {
                return Ok(None);
            }
            let seen = self.settled.current();
            drop(state);
            match self.settled.wait(seen, wait.left()) {
                Woken::Notified => {}
                Woken::Interrupted => return Err(Error::Interrupted { path: self.path.clone(), range, mode }),
                Woken::TimedOut => return Ok(None),
            }
            state = self.state();
        }
    }

    /// After a conflict: waits in the kernel, without the state lock, the range marked as in
    /// flight, until the range is taken (and recorded) or `wait` runs out.
    fn wait_then_commit<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        view: ViewId,
        range: LockRange,
        mode: LockMode,
        wait: Wait,
    ) -> Result<bool> {
        let (start, end) = (range.start(), range.raw_end());
        loop {
            let pieces = state.pieces(start, end, mode);
            let fd = state.fd().as_raw_fd();
            let armed = wake::arm_for_wait();
            let token = state.begin_wait(view, start, end, armed.is_some());
            drop(state);
            let outcome = self.wait_pieces(fd, view, pieces.as_slice(), mode, wait, armed);
            state = self.state();
            let disturbed = state.end_wait(token).map_or(true, |wait| wait.disturbed);
            self.settled.notify_all();
            if state.position(view).is_none() {
                // Closed during the wait: undo whatever the wait took.
                let _ = self.reconcile(&mut state, start, end);
                return Err(self.closed());
            }
            let outcome = match outcome {
                // Something was lowered in the range meanwhile: take it again, without waiting.
                Ok(()) if disturbed => self.set_now(&mut state, start, end, mode),
                other => other,
            };
            match outcome {
                Ok(()) => return self.commit(&mut state, view, start, end, mode).map(|()| true),
                Err(SetError::Conflict) if disturbed && !wait.expired() => {
                    self.reconcile(&mut state, start, end)?; // and wait again
                }
                Err(error) => {
                    self.reconcile(&mut state, start, end)?;
                    state.close_parked_if_idle();
                    return match error {
                        SetError::Interrupted | SetError::Conflict if wait.expired() => Ok(false),
                        // A polled wait ran out.
                        SetError::Conflict => Ok(false),
                        error => Err(self.error(&state, error, range, mode)),
                    };
                }
            }
        }
    }

    /// Records a granted request, then lowers what the kernel holds where the request downgraded
    /// bytes that no other view holds in write mode.
    fn commit(&self, state: &mut State, view: ViewId, start: u64, end: u64, mode: LockMode) -> Result<()> {
        let shared = state.views.len() > 1;
        let record = state.record_mut(view);
        let before: Vec<Run> = if shared { record.overlapping(start, end).collect() } else { Vec::new() };
        record.set(start, end, Some(mode));
        if shared {
            if let Err(error) = self.reconcile(state, start, end) {
                state.record_mut(view).restore(start, end, &before);
                let _ = self.reconcile(state, start, end);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Releases `range` for `view`.
    ///
    /// # Errors
    /// `Closed`; `NoLocksAvailable` when the kernel cannot split a lock to release part of it
    /// (nothing is released then).
    pub(crate) fn release(&self, view: ViewId, range: LockRange) -> Result<()> {
        let mut state = self.state();
        self.check_open(&state, view)?;
        self.release_locked(&mut state, view, range.start(), range.raw_end())
    }

    /// Releases `[start, end)` for the open `view`, under the state lock. (Inline into its two
    /// callers: `release` is a hot path.)
    #[inline(always)]
    fn release_locked(&self, state: &mut State, view: ViewId, start: u64, end: u64) -> Result<()> {
        if let Some(only) = state.sole_view(view) {
            if !only.record.holds_any(start, end) {
                return Ok(()); // Holds nothing there: nothing to tell the kernel.
            }
            if state.parked.is_empty() && !state.waits_overlap(start, end) {
                // The common case, inline: the kernel holds exactly this record, so one unlock
                // makes it so.
                self.set(state.fd(), LockOp::Unlock, start, end, false)
                    .map_err(|error| self.error(state, error, LockRange::from_bounds(start, end), LockMode::Read))?;
                state.views[0].record.set(start, end, None);
                return Ok(());
            }
        }
        self.release_by_records(state, view, start, end)
    }

    /// [`Self::release_locked`] in every case: the record changes, then the kernel is brought to
    /// the views' combination.
    #[inline(never)]
    fn release_by_records(&self, state: &mut State, view: ViewId, start: u64, end: u64) -> Result<()> {
        let at = state.position(view).expect("the view was checked to be open under this lock");
        if !state.views[at].record.holds_any(start, end) {
            return Ok(()); // Holds nothing there: nothing to tell the kernel.
        }
        let record = &mut state.views[at].record;
        let before: Vec<Run> = record.overlapping(start, end).collect();
        record.set(start, end, None);
        if let Err(error) = self.reconcile(state, start, end) {
            state.record_mut(view).restore(start, end, &before);
            let _ = self.reconcile(state, start, end);
            return Err(error);
        }
        state.close_parked_if_idle();
        Ok(())
    }

    /// Releases everything `view` holds.
    ///
    /// # Errors
    /// As [`Self::release`].
    pub(crate) fn release_all(&self, view: ViewId) -> Result<()> {
        let mut state = self.state();
        self.check_open(&state, view)?;
        match state.record_mut(view).span() {
            Some((start, end)) => self.release_locked(&mut state, view, start, end),
            None => Ok(()),
        }
    }

    /// What `view` holds, as coalesced runs (nothing once closed).
    pub(crate) fn held(&self, view: ViewId) -> Vec<(LockRange, LockMode)> {
        let state = self.state();
        state.position(view).map_or_else(Vec::new, |at| state.views[at].record.runs().collect())
    }

    /// The mode `view` holds `index` in.
    pub(crate) fn mode_of(&self, view: ViewId, index: u64) -> Option<LockMode> {
        let state = self.state();
        state.position(view).and_then(|at| state.views[at].record.mode_at(index))
    }

    /// Closes `view`: its waits end with `Closed`, what only it held is released, and once no view
    /// is left the owner is retired (its locks released, its descriptor closed). Idempotent.
    ///
    /// # Errors
    /// `NoLocksAvailable` when the kernel cannot split a lock to release what only this view held
    /// (it is released when the owner retires).
    pub(crate) fn close_view(&self, view: ViewId) -> Result<()> {
        let mut state = self.state();
        let Some(at) = state.position(view) else {
            // Closed already, or closing in another thread: return once that close is done.
            while state.closing.contains(&view) {
                let seen = self.settled.current();
                drop(state);
                self.settled.wait(seen, None);
                state = self.state();
            }
            // A fork child whose parent was closing the view: nobody retires the owner here.
            let orphaned = state.views.is_empty() && state.closing.is_empty() && state.file.is_some();
            drop(state);
            if orphaned {
                self.retire();
            }
            return Ok(());
        };
        let record = state.views.swap_remove(at).record;
        state.closing.push(view);
        // Waiters of this view inside the process look again and leave; those in the kernel are
        // kicked out and undo what they took. Then what the view held is released.
        self.settled.notify_all();
        while let Some(threads) = state.threads_waiting(view) {
            for thread in threads {
                wake::kick(thread);
            }
            let seen = self.settled.current();
            drop(state);
            self.settled.wait(seen, Some(KICK_AGAIN));
            state = self.state();
        }
        let released = match record.span() {
            Some((start, end)) => self.reconcile(&mut state, start, end),
            None => Ok(()),
        };
        state.close_parked_if_idle();
        // The last close to get here retires the owner: another one still waiting for its view's
        // waits needs the descriptor until they end. (A close that retires leaves `closing` only
        // afterwards, so that a second `close` of its view returns once everything is released.)
        let unused = state.views.is_empty() && state.closing.as_slice() == [view];
        if !unused {
            state.closing.retain(|&closing| closing != view);
        }
        drop(state);
        if unused {
            self.retire();
            let mut state = self.state();
            state.closing.retain(|&closing| closing != view);
            // A view opened while this close retired (so it did not), and closed again before this
            // close was done (so that close did not either): retire now.
            let again = state.views.is_empty() && state.closing.is_empty() && state.file.is_some();
            drop(state);
            if again {
                self.retire();
            }
        }
        self.settled.notify_all();
        released
    }

    /// Retires the owner once no view is left.
    fn retire(&self) {
        match self.kind {
            LockKind::Classic => registry::retire_classic(self),
            LockKind::Ofd => {
                if let Some(file) = self.retire_if_unused() {
                    fork::untrack_ofd(file.as_raw_fd());
                    registry::retire_descriptor(self.id, file);
                }
            }
        }
    }

    /// Releases every lock and gives up the descriptor, unless a view was opened meanwhile (or the
    /// owner is retired already).
    pub(crate) fn retire_if_unused(&self) -> Option<File> {
        let mut state = self.state();
        if !state.views.is_empty() {
            return None;
        }
        let file = state.file.take()?;
        // Unlocked explicitly: a forked child or a passed descriptor may keep the open file alive.
        let _ = set_lock(file.as_fd(), self.kind, LockOp::Unlock, 0, 0, false);
        state.parked.clear(); // Nothing is held any more.
        Some(file)
    }

    /// Sets `[start, end)` to `mode` without waiting, in one request or (around other views'
    /// write locks) several; on failure the kernel is brought back to the records.
    fn set_now(&self, state: &mut State, start: u64, end: u64, mode: LockMode) -> Result<(), SetError> {
        let pieces = state.pieces(start, end, mode);
        for (done, &(s, e)) in pieces.as_slice().iter().enumerate() {
            if let Err(error) = self.set(state.fd(), op(mode), s, e, false) {
                if done > 0 {
                    let _ = self.reconcile(state, start, end);
                }
                return Err(error);
            }
        }
        Ok(())
    }

    /// Sets each piece to `mode`, waiting as `wait` allows: in the kernel's queue, cut off by the
    /// wake signal (`armed`: deadline, or `close`), or polling when that signal is not ours any more.
    fn wait_pieces(
        &self,
        fd: RawFd,
        view: ViewId,
        pieces: &[(u64, u64)],
        mode: LockMode,
        wait: Wait,
        armed: Option<wake::Armed>,
    ) -> Result<(), SetError> {
        let deadline = match wait {
            Wait::Try => return Err(SetError::Conflict), // Never waits: `acquire` answered already.
            Wait::Block => None,
            Wait::Until(deadline) => Some(deadline),
        };
        let Some(armed) = armed else { return self.poll_pieces(fd, view, pieces, mode, wait) };
        let timer = match deadline.map(|deadline| DeadlineTimer::arm(deadline, armed.signal())) {
            Some(None) => return self.poll_pieces(fd, view, pieces, mode, wait),
            Some(timer) => timer,
            None => None,
        };
        let result = pieces.iter().try_for_each(|&(start, end)| self.set_waiting(fd, op(mode), start, end, true));
        drop(timer); // Before the signal is blocked again: a last expiry is delivered, not left pending.
        drop(armed);
        result
    }

    /// The fallback wait: retries without waiting, sleeping in between on the `settled` event (so
    /// that `close` and signal handlers end it promptly).
    fn poll_pieces(&self, fd: RawFd, view: ViewId, pieces: &[(u64, u64)], mode: LockMode, wait: Wait) -> Result<(), SetError> {
        let mut pause = POLL_FIRST;
        for &(start, end) in pieces {
            loop {
                match self.set_waiting(fd, op(mode), start, end, false) {
                    Ok(()) => break,
                    Err(SetError::Conflict) => {}
                    Err(error) => return Err(error),
                }
                let nap = match wait.left() {
                    Some(left) if left.is_zero() => return Err(SetError::Conflict),
                    Some(left) => pause.min(left),
                    None => pause,
                };
                let seen = self.settled.current();
                if !self.is_open(view) {
                    return Err(SetError::Interrupted);
                }
                if self.settled.wait(seen, Some(nap)) == Woken::Interrupted {
                    return Err(SetError::Interrupted);
                }
                pause = (pause * 2).min(POLL_MAX);
            }
        }
        Ok(())
    }

    /// Makes the kernel hold exactly the views' combination on `[start, end)`. Only ever lowers
    /// (unlock, or write to read), so it never waits; waits in flight there are marked disturbed.
    fn reconcile(&self, state: &mut State, start: u64, end: u64) -> Result<()> {
        for (s, e, mode) in state.combined(start, end) {
            let op = match mode {
                None => LockOp::Unlock,
                Some(LockMode::Read) => LockOp::Read,
                Some(LockMode::Write) => continue, // Held in write already (the kernel holds at least the combination).
            };
            state.disturb(s, e);
            self.set(state.fd(), op, s, e, false)
                .map_err(|error| self.error(state, error, LockRange::from_bounds(s, e), LockMode::Read))?;
        }
        Ok(())
    }

    fn set(&self, fd: BorrowedFd<'_>, op: LockOp, start: u64, end: u64, wait: bool) -> Result<(), SetError> {
        let (l_start, l_len) = LockRange::from_bounds(start, end).to_fcntl();
        set_lock(fd, self.kind, op, l_start, l_len, wait)
    }

    /// [`Self::set`] outside the state lock, during a registered wait (the descriptor stays open).
    fn set_waiting(&self, fd: RawFd, op: LockOp, start: u64, end: u64, wait: bool) -> Result<(), SetError> {
        let (l_start, l_len) = LockRange::from_bounds(start, end).to_fcntl();
        set_lock_waiting(fd, self.kind, op, l_start, l_len, wait)
    }

    fn check_open(&self, state: &State, view: ViewId) -> Result<()> {
        match state.position(view) {
            Some(_) => Ok(()),
            None => Err(self.closed()),
        }
    }

    fn closed(&self) -> Error {
        Error::Closed { path: self.path.clone() }
    }

    fn error(&self, state: &State, error: SetError, range: LockRange, mode: LockMode) -> Error {
        let path = self.path.clone();
        match error {
            SetError::Conflict => Error::io(
                "lock",
                &self.path,
                std::io::Error::new(std::io::ErrorKind::WouldBlock, "unexpected lock conflict"),
            ),
            SetError::Interrupted => Error::Interrupted { path, range, mode },
            SetError::Deadlock => Error::Deadlock { path, range, mode },
            SetError::NoLocks => Error::NoLocksAvailable { path },
            SetError::Other(source) if source.raw_os_error() == Some(libc::EBADF) => {
                if state.file.as_ref().is_some_and(|file| fork::is_placeholder(file.as_raw_fd())) {
                    Error::io("lock (the lock file could not be reopened in this forked child)", &self.path, source)
                } else if mode == LockMode::Write && !self.writable {
                    Error::NotWritable { path }
                } else {
                    Error::Io { operation: "lock", path, source }
                }
            }
            SetError::Other(source) => Error::Io { operation: "lock", path, source },
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        fork::unregister_lock(self.state.raw());
        // Only an owner that never had a view is still holding its descriptor here.
        if let Some(file) = self.state.get_mut().file.take() {
            let _ = set_lock(file.as_fd(), self.kind, LockOp::Unlock, 0, 0, false);
            if self.kind == LockKind::Ofd {
                fork::untrack_ofd(file.as_raw_fd());
            }
            registry::retire_descriptor(self.id, file);
        }
    }
}

fn op(mode: LockMode) -> LockOp {
    match mode {
        LockMode::Read => LockOp::Read,
        LockMode::Write => LockOp::Write,
    }
}

impl State {
    /// `view`, when it is the owner's only one (the common case, which the hot paths take).
    fn sole_view(&self, view: ViewId) -> Option<&View> {
        match self.views.as_slice() {
            [only] if only.id == view => Some(only),
            _ => None,
        }
    }

    fn position(&self, view: ViewId) -> Option<usize> {
        self.views.iter().position(|v| v.id == view)
    }

    /// The record of an open view (callers check that it is open first).
    fn record_mut(&mut self, view: ViewId) -> &mut LockRecord {
        let at = self.position(view).expect("the view was checked to be open under this lock");
        &mut self.views[at].record
    }

    /// The descriptor of a live owner (one with an open view).
    fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_ref().expect("an owner with an open view is not retired").as_fd()
    }

    /// Closes the parked descriptors once the owner holds nothing and waits for nothing: no
    /// classic lock of this owner exists then, and none can be taken without this lock.
    fn close_parked_if_idle(&mut self) {
        if !self.parked.is_empty() && self.waits.is_empty() && self.views.iter().all(|view| view.record.span().is_none()) {
            self.parked.clear();
        }
    }

    fn waits_overlap(&self, start: u64, end: u64) -> bool {
        self.waits.iter().any(|w| w.start < end && start < w.end)
    }

    fn begin_wait(&mut self, view: ViewId, start: u64, end: u64, kickable: bool) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        let thread = wake::current_thread();
        self.waits.push(InFlight { token, view, start, end, thread, kickable, disturbed: false });
        token
    }

    /// Removes a wait; `None` when a fork forgot it.
    fn end_wait(&mut self, token: u64) -> Option<InFlight> {
        let at = self.waits.iter().position(|w| w.token == token)?;
        Some(self.waits.swap_remove(at))
    }

    fn disturb(&mut self, start: u64, end: u64) {
        for wait in self.waits.iter_mut().filter(|w| w.start < end && start < w.end) {
            wait.disturbed = true;
        }
    }

    /// While `view` has waits in flight: the threads to kick out of the kernel (those polling are
    /// woken by the `settled` event).
    fn threads_waiting(&self, view: ViewId) -> Option<Vec<libc::pid_t>> {
        let mut waits = self.waits.iter().filter(|w| w.view == view).peekable();
        waits.peek()?;
        Some(waits.filter(|w| w.kickable).map(|w| w.thread).collect())
    }

    /// The kernel requests for taking `[start, end)` in `mode`. One request (atomic, converting
    /// in place) unless other views hold write locks inside a read request: a read lock over those
    /// bytes would downgrade them, so the request takes only the bytes no view holds yet.
    fn pieces(&self, start: u64, end: u64, mode: LockMode) -> Pieces {
        if self.views.len() == 1 || mode == LockMode::Write {
            return Pieces::One([(start, end)]);
        }
        let free: Vec<(u64, u64)> =
            self.combined(start, end).into_iter().filter(|(_, _, m)| m.is_none()).map(|(s, e, _)| (s, e)).collect();
        match free.as_slice() {
            [one] => Pieces::One([*one]),
            _ => Pieces::Many(free),
        }
    }

    /// The strongest mode any view holds, run by run over `[start, end)` (coalesced).
    fn combined(&self, start: u64, end: u64) -> Vec<(u64, u64, Option<LockMode>)> {
        if let [only] = self.views.as_slice() {
            let mut runs: Vec<(u64, u64, Option<LockMode>)> = Vec::new();
            let mut at = start;
            for (s, e, mode) in only.record.overlapping(start, end) {
                if at < s {
                    runs.push((at, s, None));
                }
                runs.push((s, e, Some(mode)));
                at = e;
            }
            if at < end {
                runs.push((at, end, None));
            }
            return runs;
        }
        let mut cuts = vec![start, end];
        for view in &self.views {
            for (s, e, _) in view.record.overlapping(start, end) {
                cuts.push(s);
                cuts.push(e);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut runs: Vec<(u64, u64, Option<LockMode>)> = Vec::new();
        for pair in cuts.windows(2) {
            let (s, e) = (pair[0], pair[1]);
            let mode = self.views.iter().filter_map(|view| view.record.mode_at(s)).max();
            match runs.last_mut() {
                Some(last) if last.1 == s && last.2 == mode => last.1 = e,
                _ => runs.push((s, e, mode)),
            }
        }
        runs
    }
}
