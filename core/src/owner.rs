//! A lock owner: one open lock file as the kernel sees it, shared by one or more views (handles).
//!
//! In `OpenFile` scope every handle has its own owner (its own open file description). In `Process`
//! scope the kernel has one owner per process, so all handles of one file in a process are views of
//! one `Owner` (see `registry`). Each view keeps its own record; the kernel holds, byte by byte, the
//! strongest mode any view holds. Invariant: outside ranges with a kernel wait in flight, the kernel
//! holds exactly that combination; inside them it holds at least that much.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::mode::LockMode;
use crate::range::{LockRange, OPEN_END};
use crate::record::{LockRecord, Run};
use crate::registry::FileId;
use crate::sys::deadline::{sleep_interruptibly, DeadlineTimer};
use crate::sys::fcntl::{set_lock, LockKind, LockOp, SetError};
use crate::sys::fork;

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

/// Polling intervals when a timed wait cannot use a timer signal: short first, then capped so a
/// signal handler in the caller's language still runs promptly.
const POLL_FIRST: Duration = Duration::from_micros(500);
const POLL_MAX: Duration = Duration::from_millis(20);

pub(crate) struct Owner {
    /// `None` only while dropping (the descriptor is closed under the registry lock).
    file: Option<File>,
    path: PathBuf,
    kind: LockKind,
    writable: bool,
    id: FileId,
    state: Mutex<State>,
    /// Signalled whenever a kernel wait ends.
    settled: Condvar,
    /// Descriptors of the same file opened by a racing `open` in `Process` scope: closing one would
    /// drop the process's classic locks, so they live as long as the owner.
    spare: Mutex<Vec<File>>,
}

#[derive(Default)]
struct State {
    views: Vec<(ViewId, LockRecord)>,
    /// Ranges with a kernel wait in flight: `(token, start, end)`.
    pending: Vec<(u64, u64, u64)>,
    next_token: u64,
    next_view: ViewId,
    /// The fork generation the records belong to.
    generation: u64,
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

/// A kernel request that did not go through, and how many pieces had been set before it.
struct Failed {
    error: SetError,
    done: usize,
}

impl Owner {
    pub(crate) fn new(file: File, path: PathBuf, kind: LockKind, writable: bool, id: FileId) -> Self {
        Self {
            file: Some(file),
            path,
            kind,
            writable,
            id,
            state: Mutex::new(State { generation: fork::generation(), ..State::default() }),
            settled: Condvar::new(),
            spare: Mutex::new(Vec::new()),
        }
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

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match &self.file {
            Some(file) => file.as_fd(),
            None => unreachable!("an owner's file is only taken by its Drop"),
        }
    }

    /// Keeps a second descriptor of this file open for the owner's lifetime.
    pub(crate) fn adopt_spare(&self, file: File) {
        lock(&self.spare).push(file);
    }

    /// Takes the descriptor out for closing (Drop only).
    pub(crate) fn take_files(&mut self) -> (Option<File>, Vec<File>) {
        let spare = std::mem::take(self.spare.get_mut().unwrap_or_else(PoisonError::into_inner));
        (self.file.take(), spare)
    }

    /// The state, with records forgotten if this process is a fork child of the one that made them
    /// (a child holds none of its parent's locks).
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = lock(&self.state);
        let generation = fork::generation();
        if state.generation != generation {
            state.generation = generation;
            state.pending.clear();
            for (_, record) in &mut state.views {
                record.clear();
            }
        }
        state
    }

    pub(crate) fn add_view(&self) -> ViewId {
        let mut state = self.state();
        let view = state.next_view;
        state.next_view += 1;
        state.views.push((view, LockRecord::default()));
        view
    }

    /// Removes a view, releasing what only it held.
    ///
    /// # Errors
    /// As [`Self::release`].
    pub(crate) fn remove_view(&self, view: ViewId) -> Result<()> {
        let mut state = self.state();
        let Some(position) = state.views.iter().position(|(id, _)| *id == view) else { return Ok(()) };
        let (_, record) = state.views.swap_remove(position);
        match record.span() {
            Some((start, end)) => self.reconcile(&state, start, end),
            None => Ok(()),
        }
    }

    /// Takes `range` in `mode` for `view`, converting what it already holds there.
    ///
    /// Returns `Ok(false)` when `wait` ran out (`Try`: a conflict; `Until`: the deadline), holding
    /// nothing new.
    ///
    /// # Errors
    /// `NotWritable`, `Deadlock`, `Interrupted` (a signal; nothing new held), `NoLocksAvailable`, `Io`.
    pub(crate) fn acquire(&self, view: ViewId, range: LockRange, mode: LockMode, wait: Wait) -> Result<bool> {
        if mode == LockMode::Write && !self.writable {
            return Err(Error::NotWritable { path: self.path.clone() });
        }
        let (start, end) = (range.start(), range.raw_end());
        let mut state = self.state();
        // Two requests over the same bytes must not interleave their kernel calls: wait for the
        // one in flight (in-process, so never a conflict between owners).
        while state.pending_overlaps(start, end) {
            state = match wait {
                Wait::Try => return Ok(false),
                Wait::Block => self.settled.wait(state).unwrap_or_else(PoisonError::into_inner),
                Wait::Until(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    self.settled.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
        let pieces = state.pieces(start, end, mode);

        // First without waiting, under the state lock.
        let failed = match self.set_pieces(pieces.as_slice(), mode) {
            Ok(()) => return self.commit(&mut state, view, start, end, mode).map(|()| true),
            Err(failed) => failed,
        };
        if failed.done > 0 {
            self.reconcile(&state, start, end)?;
        }
        match (failed.error, wait) {
            (SetError::Conflict, Wait::Try) => return Ok(false),
            (SetError::Conflict, _) => {}
            (error, _) => return Err(self.error(error, range, mode)),
        }

        // Then wait in the kernel, without the state lock, the range marked as in flight.
        let token = state.begin_pending(start, end);
        drop(state);
        let outcome = self.wait_pieces(pieces.as_slice(), mode, wait);
        let mut state = self.state();
        state.pending.retain(|&(t, _, _)| t != token);
        self.settled.notify_all();
        match outcome {
            Ok(()) => self.commit(&mut state, view, start, end, mode).map(|()| true),
            Err(failed) => {
                if failed.done > 0 || pieces.as_slice().len() > 1 {
                    self.reconcile(&state, start, end)?;
                }
                match failed.error {
                    SetError::Interrupted if matches!(wait, Wait::Until(deadline) if Instant::now() >= deadline) => {
                        Ok(false)
                    }
                    SetError::Conflict => Ok(false), // A polled timed wait ran out.
                    error => Err(self.error(error, range, mode)),
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
    /// `NoLocksAvailable` when the kernel cannot split a lock to release part of it; nothing is
    /// released then.
    pub(crate) fn release(&self, view: ViewId, range: LockRange) -> Result<()> {
        let (start, end) = (range.start(), range.raw_end());
        let mut state = self.state();
        let record = state.record_mut(view);
        if record.overlapping(start, end).next().is_none() {
            return Ok(()); // Holds nothing there: nothing to tell the kernel.
        }
        if state.views.len() == 1 && !state.pending_overlaps(start, end) {
            self.set(LockOp::Unlock, start, end, false).map_err(|e| self.error(e, range, LockMode::Read))?;
            state.record_mut(view).set(start, end, None);
            return Ok(());
        }
        let record = state.record_mut(view);
        let before: Vec<Run> = record.overlapping(start, end).collect();
        record.set(start, end, None);
        if let Err(error) = self.reconcile(&state, start, end) {
            state.record_mut(view).restore(start, end, &before);
            let _ = self.reconcile(&state, start, end);
            return Err(error);
        }
        Ok(())
    }

    /// Releases everything `view` holds.
    ///
    /// # Errors
    /// As [`Self::release`].
    pub(crate) fn release_all(&self, view: ViewId) -> Result<()> {
        let span = self.state().record_mut(view).span();
        match span {
            Some((start, end)) => self.release(view, LockRange::from_bounds(start, end)),
            None => Ok(()),
        }
    }

    /// What `view` holds, as coalesced runs.
    pub(crate) fn held(&self, view: ViewId) -> Vec<(LockRange, LockMode)> {
        self.state().record_mut(view).runs().collect()
    }

    /// The mode `view` holds `index` in.
    pub(crate) fn mode_of(&self, view: ViewId, index: u64) -> Option<LockMode> {
        self.state().record_mut(view).mode_at(index)
    }

    /// Sets each piece to `mode` without waiting.
    fn set_pieces(&self, pieces: &[(u64, u64)], mode: LockMode) -> Result<(), Failed> {
        for (done, &(start, end)) in pieces.iter().enumerate() {
            self.set(op(mode), start, end, false).map_err(|error| Failed { error, done })?;
        }
        Ok(())
    }

    /// Sets each piece to `mode`, waiting in the kernel as `wait` allows.
    fn wait_pieces(&self, pieces: &[(u64, u64)], mode: LockMode, wait: Wait) -> Result<(), Failed> {
        let deadline = match wait {
            Wait::Try => return self.set_pieces(pieces, mode),
            Wait::Block => None,
            Wait::Until(deadline) => Some(deadline),
        };
        let timer = deadline.and_then(DeadlineTimer::arm);
        if deadline.is_some() && timer.is_none() {
            return self.poll_pieces(pieces, mode, deadline.unwrap_or_else(Instant::now));
        }
        for (done, &(start, end)) in pieces.iter().enumerate() {
            self.set(op(mode), start, end, true).map_err(|error| Failed { error, done })?;
        }
        Ok(())
    }

    /// The fallback timed wait: retries without waiting, sleeping in between.
    fn poll_pieces(&self, pieces: &[(u64, u64)], mode: LockMode, deadline: Instant) -> Result<(), Failed> {
        let mut pause = POLL_FIRST;
        for (done, &(start, end)) in pieces.iter().enumerate() {
            loop {
                match self.set(op(mode), start, end, false) {
                    Ok(()) => break,
                    Err(SetError::Conflict) => {}
                    Err(error) => return Err(Failed { error, done }),
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Failed { error: SetError::Conflict, done });
                }
                if sleep_interruptibly(pause.min(left)).is_err() {
                    return Err(Failed { error: SetError::Interrupted, done });
                }
                pause = (pause * 2).min(POLL_MAX);
            }
        }
        Ok(())
    }

    /// Makes the kernel hold exactly the views' combination on `[start, end)`, outside ranges with
    /// a wait in flight. Only ever lowers (unlock, or write to read), so it never waits.
    fn reconcile(&self, state: &State, start: u64, end: u64) -> Result<()> {
        for (s, e, mode) in state.combined(start, end) {
            let op = match mode {
                None => LockOp::Unlock,
                Some(LockMode::Read) => LockOp::Read,
                Some(LockMode::Write) => continue, // Already held in write by the invariant.
            };
            for (s, e) in state.outside_pending(s, e) {
                self.set(op, s, e, false)
                    .map_err(|error| self.error(error, LockRange::from_bounds(s, e), LockMode::Read))?;
            }
        }
        Ok(())
    }

    fn set(&self, op: LockOp, start: u64, end: u64, wait: bool) -> Result<(), SetError> {
        let (l_start, l_len) = LockRange::from_bounds(start, end).to_fcntl();
        set_lock(self.fd(), self.kind, op, l_start, l_len, wait)
    }

    /// Releases every lock of this owner (on close; never waits).
    pub(crate) fn unlock_everything(&self) {
        let _ = self.set(LockOp::Unlock, 0, OPEN_END, false);
    }

    fn error(&self, error: SetError, range: LockRange, mode: LockMode) -> Error {
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
            SetError::Other(source) if source.raw_os_error() == Some(libc::EBADF) && mode == LockMode::Write => {
                Error::NotWritable { path }
            }
            SetError::Other(source) => Error::Io { operation: "lock", path, source },
        }
    }
}

fn op(mode: LockMode) -> LockOp {
    match mode {
        LockMode::Read => LockOp::Read,
        LockMode::Write => LockOp::Write,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave the records half-updated in a way that matters more than
    // losing every lock would: keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn record_mut(&mut self, view: ViewId) -> &mut LockRecord {
        match self.views.iter().position(|(id, _)| *id == view) {
            Some(position) => &mut self.views[position].1,
            None => {
                // A view is only removed when its handle drops: cannot happen while it is used.
                self.views.push((view, LockRecord::default()));
                let last = self.views.len() - 1;
                &mut self.views[last].1
            }
        }
    }

    fn pending_overlaps(&self, start: u64, end: u64) -> bool {
        self.pending.iter().any(|&(_, s, e)| s < end && start < e)
    }

    fn begin_pending(&mut self, start: u64, end: u64) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.pending.push((token, start, end));
        token
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
        let mut cuts = vec![start, end];
        for (_, record) in &self.views {
            for (s, e, _) in record.overlapping(start, end) {
                cuts.push(s);
                cuts.push(e);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut runs: Vec<(u64, u64, Option<LockMode>)> = Vec::new();
        for pair in cuts.windows(2) {
            let (s, e) = (pair[0], pair[1]);
            let mode = self.views.iter().filter_map(|(_, record)| record.mode_at(s)).max();
            match runs.last_mut() {
                Some(last) if last.1 == s && last.2 == mode => last.1 = e,
                _ => runs.push((s, e, mode)),
            }
        }
        runs
    }

    /// `[start, end)` minus the ranges with a wait in flight.
    fn outside_pending(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut parts = vec![(start, end)];
        for &(_, ps, pe) in &self.pending {
            parts = parts
                .into_iter()
                .flat_map(|(s, e)| {
                    if pe <= s || e <= ps {
                        vec![(s, e)]
                    } else {
                        [(s, ps.max(s)), (pe.min(e), e)].into_iter().filter(|(a, b)| a < b).collect()
                    }
                })
                .collect();
        }
        parts
    }
}
