//! Cutting a waiting lock request off at a deadline.
//!
//! Linux has no timed `F_SETLKW`. Instead of polling, the waiting thread arms a per-thread POSIX
//! timer (`SIGEV_THREAD_ID`) that sends it a real-time signal at the deadline; the signal's handler
//! does nothing and is installed without `SA_RESTART`, so the kernel wait ends with `EINTR`. The
//! timer repeats every millisecond after the deadline, so a signal that lands just before the thread
//! enters the kernel cannot leave it waiting. The timer is deleted before the request returns: a
//! signal can only arrive while the thread is inside the request.

use std::io;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The first real-time signal tried for the timer: SIGRTMAX - 2 belongs to the JDK (it interrupts
/// blocking I/O with it), and glibc and other runtimes take signals near SIGRTMIN.
const FIRST_CANDIDATE_BELOW_MAX: libc::c_int = 6;
/// How many signals below that are tried, down to the first one nothing else handles.
const CANDIDATES: libc::c_int = 16;

/// Which real-time signal the timer sends: the first of the candidates that nothing in the process
/// handles yet (then ours handles it), or the one `LOCKSFILE_TIMER_SIGNAL` names. `None` when all
/// are taken: timed waits then poll.
fn wake_signal() -> Option<libc::c_int> {
    static SIGNAL: OnceLock<Option<libc::c_int>> = OnceLock::new();
    *SIGNAL.get_or_init(|| {
        let named = std::env::var("LOCKSFILE_TIMER_SIGNAL").ok().and_then(|v| v.parse::<libc::c_int>().ok());
        let candidates: Vec<libc::c_int> = match named {
            Some(signal) => vec![signal],
            None => {
                let first = libc::SIGRTMAX() - FIRST_CANDIDATE_BELOW_MAX;
                (0..CANDIDATES).map(|n| first - n).filter(|&s| s > libc::SIGRTMIN()).collect()
            }
        };
        candidates.into_iter().find(|&signal| install_wake_handler(signal))
    })
}

/// Installs the no-op handler on `signal` if nothing handles it yet.
fn install_wake_handler(signal: libc::c_int) -> bool {
    // SAFETY: `old` and `action` are valid, fully initialised sigaction structures, and `wake` is
    // an `extern "C"` function that is async-signal-safe (it does nothing).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, ptr::null(), &mut old) != 0 || old.sa_sigaction != libc::SIG_DFL {
            return false; // Somebody else's: leave it alone.
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = wake as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0; // No SA_RESTART: the wait must end with EINTR.
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, ptr::null_mut()) == 0
    }
}

extern "C" fn wake(_signal: libc::c_int) {}

/// Whether this thread can receive the wake signal (some threads block every signal).
fn deliverable(signal: libc::c_int) -> bool {
    let mut mask = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: a null `set` only reads the current mask into `mask`, which it fully initialises
    // on success; `sigismember` only reads it.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), mask.as_mut_ptr()) == 0
            && libc::sigismember(mask.as_ptr(), signal) == 0
    }
}

/// A per-thread timer that interrupts this thread's blocking system calls from its deadline on.
/// Deleted on drop.
pub(crate) struct DeadlineTimer {
    id: libc::timer_t,
}

impl DeadlineTimer {
    /// Arms a timer for `deadline`, or `None` when this thread cannot be woken by one (the caller
    /// then polls).
    pub(crate) fn arm(deadline: Instant) -> Option<Self> {
        let signal = wake_signal()?;
        if !deliverable(signal) {
            return None;
        }
        let first = deadline.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        // SAFETY: `event` is a zeroed sigevent with the fields SIGEV_THREAD_ID reads set; the
        // thread id is the calling thread's. `timer_create` writes `id` on success only, and the
        // id is deleted exactly once, by `Drop`.
        unsafe {
            let mut event: libc::sigevent = std::mem::zeroed();
            event.sigev_notify = libc::SIGEV_THREAD_ID;
            event.sigev_signo = signal;
            event.sigev_notify_thread_id = libc::gettid();
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

fn timespec(duration: Duration) -> libc::timespec {
    libc::timespec {
        // Durations here are timeouts given by callers; saturate absurd ones.
        tv_sec: libc::time_t::try_from(duration.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(duration.subsec_nanos() as i32),
    }
}

/// Sleeps for `duration`; `Err` with `ErrorKind::Interrupted` when a signal handler ran first.
pub(crate) fn sleep_interruptibly(duration: Duration) -> io::Result<()> {
    let request = timespec(duration);
    // SAFETY: `request` is a valid timespec; the remainder pointer may be null.
    if unsafe { libc::nanosleep(&request, ptr::null_mut()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
