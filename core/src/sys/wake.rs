//! The real-time signal that ends one thread's kernel wait early: at a deadline (a per-thread timer,
//! see `deadline`) or when another thread closes the handle the wait belongs to (a kick).
//!
//! The handler does nothing and is installed without `SA_RESTART`, so the interrupted `fcntl`
//! returns `EINTR`. It is installed with `SA_SIGINFO` and recognises our own signals by their value
//! (`MARK`); any other sender's signal goes on to the disposition that was there before ours. The
//! signal is one that nothing in the process handled when we chose it; since another library may
//! take it over later, [`usable`] checks before every wait that the disposition is still ours, and
//! the caller polls instead when it is not.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

use super::fork::ForkSafeOnce;

/// The first candidate, counted down from `SIGRTMAX`: SIGRTMAX - 2 belongs to the JDK (it
/// interrupts blocking I/O with it), and glibc and other runtimes take signals near SIGRTMIN.
const FIRST_CANDIDATE_BELOW_MAX: libc::c_int = 6;
/// How many signals below that are tried, down to the first one nothing else handles.
const CANDIDATES: libc::c_int = 16;

/// The environment variable naming the signal: a number from SIGRTMIN to SIGRTMAX, or `none` to
/// poll instead. Anything else is ignored (the automatic choice applies).
pub(crate) const SIGNAL_VARIABLE: &str = "LOCKSFILE_TIMER_SIGNAL";

/// The value our timers and kicks carry, so the handler tells them from anyone else's signal.
static MARK: u8 = 0;

fn mark() -> usize {
    ptr::addr_of!(MARK) as usize
}

/// The chosen signal (0: none; waits poll).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The disposition the chosen signal had before ours, written before our handler is installed
/// (so the handler can always forward), never after.
struct Previous(UnsafeCell<MaybeUninit<libc::sigaction>>);

// SAFETY: written only inside the one-time choice, before the handler that reads it is installed.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new(MaybeUninit::uninit()));

/// The signal number chosen for this process, once (`None`: there is none; waits poll).
fn chosen() -> Option<libc::c_int> {
    static ONCE: ForkSafeOnce = ForkSafeOnce::new();
    extern "C" fn choose_once() {
        if let Some(signal) = choose() {
            SIGNAL.store(signal, Ordering::Release);
        }
    }
    ONCE.call(choose_once);
    match SIGNAL.load(Ordering::Acquire) {
        0 => None,
        signal => Some(signal),
    }
}

fn choose() -> Option<libc::c_int> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let named = std::env::var(SIGNAL_VARIABLE).ok();
    let candidates: Vec<libc::c_int> = match named.as_deref().map(str::trim) {
        Some("none") => return None,
        Some(text) => match text.parse::<libc::c_int>() {
            Ok(signal) if (min..=max).contains(&signal) => vec![signal],
            _ => automatic_candidates(min, max),
        },
        None => automatic_candidates(min, max),
    };
    candidates.into_iter().find(|&signal| install(signal))
}

fn automatic_candidates(min: libc::c_int, max: libc::c_int) -> Vec<libc::c_int> {
    let first = max - FIRST_CANDIDATE_BELOW_MAX;
    (0..CANDIDATES).map(|n| first - n).filter(|&signal| signal > min).collect()
}

/// Installs our handler on `signal` if nothing handles it yet.
fn install(signal: libc::c_int) -> bool {
    // SAFETY: `previous` and `action` are fully initialised sigaction structures; `handler` has
    // the three-argument signature SA_SIGINFO calls, and is async-signal-safe. PREVIOUS is written
    // before the handler that reads it exists (this runs once, under pthread_once).
    unsafe {
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, ptr::null(), &mut previous) != 0 || previous.sa_sigaction != libc::SIG_DFL {
            return false; // Somebody else's: leave it alone.
        }
        (*PREVIOUS.0.get()).write(previous);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO; // No SA_RESTART: the wait must end with EINTR.
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, ptr::null_mut()) == 0
    }
}

/// The fields of a `siginfo_t` that a queued signal (`SI_QUEUE`) and a timer signal (`SI_TIMER`)
/// share: Linux puts the value at the same offset in both layouts.
#[repr(C)]
struct QueuedInfo {
    signo: libc::c_int,
    errno: libc::c_int,
    code: libc::c_int,
    _pad: libc::c_int,
    pid_or_timer: libc::c_int,
    uid_or_overrun: libc::c_int,
    value: usize,
    _rest: [u8; 128 - 32],
}

const _: () = assert!(std::mem::size_of::<QueuedInfo>() == std::mem::size_of::<libc::siginfo_t>());

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler; `QueuedInfo` has its
    // size and the layout of the fields read here.
    let ours = unsafe {
        let info = &*(info as *const QueuedInfo);
        (info.code == libc::SI_QUEUE || info.code == libc::SI_TIMER) && info.value == mark()
    };
    if !ours {
        forward(signal, info, context);
    }
}

/// Hands a signal that is not ours to the disposition that was there before ours.
fn forward(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: our handler is only installed after PREVIOUS was written, and PREVIOUS is not
    // written again; only async-signal-safe calls (sigaction, raise) and the previous handler,
    // called with the arguments its flags say it takes.
    unsafe {
        let previous = (*PREVIOUS.0.get()).assume_init_ref();
        let handler = previous.sa_sigaction;
        if handler == libc::SIG_IGN {
        } else if handler == libc::SIG_DFL {
            // The default action of a real-time signal ends the process: restore it, and let the
            // signal (pending while this handler runs) take it when the handler returns.
            libc::sigaction(signal, previous, ptr::null_mut());
            libc::raise(signal);
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) = std::mem::transmute(handler);
            handler(signal, info, context);
        } else {
            let handler: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            handler(signal);
        }
    }
}

/// The wake signal, ready to end this thread's next kernel wait, or `None` when the signal is not
/// ours any more (another library may have replaced it since) and the caller must poll. A thread
/// that blocks the signal (Swift's and Dispatch's pool threads block every signal) gets it
/// unblocked until the returned guard drops: only our timers and kicks, aimed at this very thread,
/// arrive on it then.
pub(crate) fn arm_for_wait() -> Option<Armed> {
    let signal = chosen()?;
    if !is_ours(signal) {
        return None;
    }
    let reblock = !deliverable(signal) && set_blocked(signal, false);
    Some(Armed { signal, reblock })
}

/// The wake signal armed for one wait (see [`arm_for_wait`]); restores the thread's mask on drop.
pub(crate) struct Armed {
    signal: libc::c_int,
    reblock: bool,
}

impl Armed {
    pub(crate) fn signal(&self) -> libc::c_int {
        self.signal
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        if self.reblock {
            set_blocked(self.signal, true);
        }
    }
}

/// Blocks or unblocks `signal` for this thread; whether it worked.
fn set_blocked(signal: libc::c_int, blocked: bool) -> bool {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises `set`, sigaddset and pthread_sigmask only read it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), signal);
        let how = if blocked { libc::SIG_BLOCK } else { libc::SIG_UNBLOCK };
        libc::pthread_sigmask(how, set.as_ptr(), ptr::null_mut()) == 0
    }
}

fn is_ours(signal: libc::c_int) -> bool {
    let mut current = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null `act` only reads the disposition into `current`, fully initialised on success.
    unsafe {
        if libc::sigaction(signal, ptr::null(), current.as_mut_ptr()) != 0 {
            return false;
        }
        let current = current.assume_init();
        current.sa_sigaction
            == handler as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) as libc::sighandler_t
            && current.sa_flags & libc::SA_SIGINFO != 0
            && current.sa_flags & libc::SA_RESTART == 0
    }
}

/// Whether this thread can receive `signal` (some threads block every signal).
fn deliverable(signal: libc::c_int) -> bool {
    let mut mask = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: a null `set` only reads the current mask into `mask`, which it fully initialises
    // on success; `sigismember` only reads it.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), mask.as_mut_ptr()) == 0
            && libc::sigismember(mask.as_ptr(), signal) == 0
    }
}

/// The `sigevent` value of a timer whose expiry our handler recognises.
pub(crate) fn timer_value() -> libc::sigval {
    libc::sigval { sival_ptr: mark() as *mut c_void }
}

/// This thread's id (for [`kick`] and timers). Not cached: a fork child's thread has another id
/// than the parent's thread it continues.
pub(crate) fn current_thread() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Interrupts thread `tid` of this process if it is inside a kernel wait (it then returns
/// `EINTR`); a thread elsewhere just runs the empty handler. Sends nothing when the signal is not
/// ours any more (its new disposition might end the process).
pub(crate) fn kick(tid: libc::pid_t) {
    let signal = SIGNAL.load(Ordering::Acquire);
    if signal == 0 || !is_ours(signal) {
        return;
    }
    // SAFETY: getpid and getuid have no preconditions; `info` is a fully initialised siginfo of
    // the size the kernel copies, sent to a thread of this very process.
    unsafe {
        let info = QueuedInfo {
            signo: signal,
            errno: 0,
            code: libc::SI_QUEUE,
            _pad: 0,
            pid_or_timer: libc::getpid(),
            uid_or_overrun: libc::getuid() as libc::c_int,
            value: mark(),
            _rest: [0; 128 - 32],
        };
        libc::syscall(libc::SYS_rt_tgsigqueueinfo, libc::getpid(), tid, signal, &info as *const QueuedInfo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_candidates_are_real_time_signals_clear_of_the_jdks() {
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let candidates = automatic_candidates(min, max);
        assert!(!candidates.is_empty());
        assert!(candidates.iter().all(|&s| s > min && s <= max - FIRST_CANDIDATE_BELOW_MAX), "{candidates:?}");
    }
}
