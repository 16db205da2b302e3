//! Fair (writer-preferring) acquires: a waiting writer holds back new readers at a gate.
//!
//! Linux grants a read lock whenever it fits the current holders, even while a writer waits, so a
//! steady stream of overlapping readers starves a writer. As SQLite's PENDING byte does per
//! database, index `i` has a gate byte at `GATE_FIRST + i` (2^62 + `i`, see `crate::fair`): a fair
//! writer waits for write on the gates of its range, then for its range, then drops the gates; a
//! fair reader waits for read on the gates, takes its range, then drops the gates. A writer that
//! holds the gates while it waits keeps new fair readers out; readers already in finish.
//!
//! Gates only order waits: exclusion is the range's own lock. So a gate lost (another view of a
//! `Process`-scope owner lowering gate-region bytes it holds itself) costs fairness, never
//! exclusion, and a handle that already holds locks skips the gate (see [`Owner::acquire_fair`]).

use super::{MutexGuard, Owner, State, ViewId, Wait};
use crate::error::{Error, Result};
use crate::fair::gates;
use crate::mode::LockMode;
use crate::range::LockRange;
use crate::sys::fcntl::SetError;
use crate::sys::wake;
use std::os::fd::AsRawFd;

impl Owner {
    /// [`Owner::acquire`] through the gates of `range` (a fair handle's range: below the gates).
    ///
    /// An owner that holds any lock already skips the gates: queued there behind a writer that
    /// waits for one of its locks (a conversion, or another index of the writer's range), it would
    /// wait for that writer while the writer waits for it, and nothing would end the wait.
    ///
    /// # Errors
    /// As [`Owner::acquire`]; no gate is held afterwards, whatever the outcome.
    pub(crate) fn acquire_fair(&self, view: ViewId, range: LockRange, mode: LockMode, wait: Wait) -> Result<bool> {
        let (start, end) = (range.start(), range.raw_end());
        let gate = gates(start, end);
        let Some(state) = self.wait_in_process(self.state(), view, &[(start, end), gate], range, mode, wait)? else {
            return Ok(false);
        };
        if state.holds_any() {
            return self.acquire_from(state, view, range, mode, wait);
        }
        if mode == LockMode::Write && !self.writable {
            return Err(Error::NotWritable { path: self.path.clone() });
        }
        let Some(mut state) = self.pass_gate(state, view, gate, range, mode, wait)? else {
            return Ok(false);
        };
        // Holding the gates: marked as in flight, so this owner's other requests over them wait
        // in-process instead of converting them. Not kickable: the range's wait is, and `close`
        // waits for this mark to go, which it does as soon as that wait ends.
        let _held = HeldGate { owner: self, gate, token: state.begin_wait(view, gate.0, gate.1, false) };
        self.acquire_from(state, view, range, mode, wait)
    }

    /// Takes the gates `gate` in `mode`, waiting as `wait` allows: `None` when it runs out (no
    /// gate held then).
    fn pass_gate<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        view: ViewId,
        gate: (u64, u64),
        range: LockRange,
        mode: LockMode,
        wait: Wait,
    ) -> Result<Option<MutexGuard<'a, State>>> {
        match self.set_now(&mut state, gate.0, gate.1, mode) {
            Ok(()) => return Ok(Some(state)),
            Err(SetError::Conflict) if matches!(wait, Wait::Try) => return Ok(None),
            Err(SetError::Conflict) => {}
            Err(error) => return Err(self.error(&state, error, range, mode)),
        }
        let pieces = state.pieces(gate.0, gate.1, mode);
        let fd = state.fd().as_raw_fd();
        let armed = wake::arm_for_wait();
        let token = state.begin_wait(view, gate.0, gate.1, armed.is_some());
        drop(state);
        let outcome = self.wait_pieces(fd, view, pieces.as_slice(), mode, wait, armed);
        let mut state = self.state();
        state.end_wait(token);
        self.settled.notify_all();
        if state.position(view).is_none() {
            self.drop_gate(&mut state, gate);
            return Err(self.closed());
        }
        match outcome {
            Ok(()) => Ok(Some(state)),
            Err(error) => {
                self.drop_gate(&mut state, gate);
                state.close_parked_if_idle();
                match error {
                    SetError::Interrupted | SetError::Conflict if wait.expired() => Ok(None),
                    // A polled wait ran out.
                    SetError::Conflict => Ok(None),
                    error => Err(self.error(&state, error, range, mode)),
                }
            }
        }
    }

    /// Lets go of the gates: the kernel is brought back to what the views hold there (normally
    /// nothing). The unlock may split a kernel lock (the kernel merges this owner's adjacent gates,
    /// of other threads' requests), so it can fail for want of memory (`ENOLCK`); a gate left held
    /// then costs fairness only (it never excludes a range), until the owner's next release there
    /// or its close.
    fn drop_gate(&self, state: &mut State, gate: (u64, u64)) {
        if state.file.is_some() {
            let _ = self.reconcile(state, gate.0, gate.1);
        }
    }
}

/// The gates an acquire holds while it waits for its range: let go, and the mark removed, however
/// the acquire ends (a panic included).
struct HeldGate<'a> {
    owner: &'a Owner,
    gate: (u64, u64),
    token: u64,
}

impl Drop for HeldGate<'_> {
    fn drop(&mut self) {
        let mut state = self.owner.state();
        self.owner.drop_gate(&mut state, self.gate);
        state.end_wait(self.token);
        state.close_parked_if_idle();
        drop(state);
        self.owner.settled.notify_all();
    }
}

impl State {
    /// Whether any view holds any lock.
    fn holds_any(&self) -> bool {
        self.views.iter().any(|view| view.record.span().is_some())
    }
}
