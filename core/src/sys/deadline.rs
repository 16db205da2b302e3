//! Cutting a waiting lock request off at a deadline.
//!
//! Linux has no timed `F_SETLKW`. Instead of polling, the waiting thread arms a per-thread POSIX
//! timer (`SIGEV_THREAD_ID`) that sends it the wake signal (see `wake`) at the deadline, so the
//! kernel wait ends with `EINTR`. The timer repeats every millisecond after the deadline, so a
//! signal that lands just before the thread enters the kernel cannot leave it waiting. The timer is
//! deleted before the request returns.

use std::ptr;
use std::time::{Duration, Instant};

use super::wake;

/// A per-thread timer that interrupts this thread's blocking system calls from its deadline on.
/// Deleted on drop.
pub(crate) struct DeadlineTimer {
    id: libc::timer_t,
}

impl DeadlineTimer {
    /// Arms a timer that sends `signal` (see `wake::arm_for_wait`) to this thread from `deadline`
    /// on, or `None` when the system refuses one (the caller then polls).
    pub(crate) fn arm(deadline: Instant, signal: libc::c_int) -> Option<Self> {
        let first = deadline.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        // SAFETY: `event` is a zeroed sigevent with the fields SIGEV_THREAD_ID reads set; the
        // thread id is the calling thread's. `timer_create` writes `id` on success only, and the
        // id is deleted exactly once, by `Drop`.
        unsafe {
            let mut event: libc::sigevent = std::mem::zeroed();
            event.sigev_notify = libc::SIGEV_THREAD_ID;
            event.sigev_signo = signal;
            event.sigev_value = wake::timer_value();
            event.sigev_notify_thread_id = wake::current_thread();
            let mut id: libc::timer_t = ptr::null_mut();
            if libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut id) != 0 {
                return None;
            }
            let timer = Self { id };
            let spec = libc::itimerspec {
                it_interval: timespec(Duration::from_millis(1)),
                it_value: timespec(first),
            };
            if libc::timer_settime(timer.id, 0, &spec, ptr::null_mut()) != 0 {
                return None;
            }
            Some(timer)
        }
    }
}

impl Drop for DeadlineTimer {
    fn drop(&mut self) {
        // SAFETY: `id` came from a successful `timer_create` and is deleted only here.
        unsafe {
            libc::timer_delete(self.id);
        }
    }
}

pub(crate) fn timespec(duration: Duration) -> libc::timespec {
    libc::timespec {
        // Durations here are timeouts given by callers; saturate absurd ones.
        tv_sec: libc::time_t::try_from(duration.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(duration.subsec_nanos() as i32),
    }
}
