//! Futex-based primitives: a mutex that the fork handlers can take and release without a guard,
//! and an event whose wait a signal handler interrupts (a `Condvar` wait cannot be interrupted,
//! so a thread parked on one would ignore Ctrl-C).

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::deadline::timespec;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and a thread may be asleep waiting for it.
const CONTENDED: u32 = 2;

/// A mutual-exclusion lock without a guard type of its own (the algorithm of std's futex mutex).
pub(crate) struct RawLock {
    state: AtomicU32,
}

impl RawLock {
    pub(crate) const fn new() -> Self {
        Self { state: AtomicU32::new(UNLOCKED) }
    }

    /// Takes the lock, sleeping while another thread has it. Signals do not end the wait.
    pub(crate) fn lock(&self) {
        if self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut state = self.spin();
        if state == UNLOCKED {
            match self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
        loop {
            if state != CONTENDED && self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                return;
            }
            futex_wait(&self.state, CONTENDED, None);
            state = self.spin();
        }
    }

    fn spin(&self) -> u32 {
        let mut spins = 100;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state != LOCKED || spins == 0 {
                return state;
            }
            std::hint::spin_loop();
            spins -= 1;
        }
    }

    /// Releases the lock. The caller must hold it.
    pub(crate) fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            futex_wake(&self.state, 1);
        }
    }
}

/// A value behind a [`RawLock`].
pub(crate) struct Mutex<T> {
    raw: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, which exists only while `raw` is held.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: as for std's Mutex: moving the lock moves the value.
unsafe impl<T: Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self { raw: RawLock::new(), value: UnsafeCell::new(value) }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard { mutex: self }
    }

    /// The lock itself, for the fork handlers (which take every lock before `fork()`).
    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

pub(crate) struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.raw.unlock();
    }
}

/// How an [`Event::wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The event was notified after the caller read it (or the wake-up was spurious: look again).
    Notified,
    /// A signal handler ran.
    Interrupted,
    /// The timeout passed.
    TimedOut,
}

/// A broadcast event: read [`Event::current`] under the lock that guards the condition, release the
/// lock, then [`Event::wait`] for a change. A notifier changes the condition under that lock, then
/// calls [`Event::notify_all`].
pub(crate) struct Event {
    sequence: AtomicU32,
    sleepers: AtomicU32,
}

impl Event {
    pub(crate) const fn new() -> Self {
        Self { sequence: AtomicU32::new(0), sleepers: AtomicU32::new(0) }
    }

    pub(crate) fn current(&self) -> u32 {
        self.sequence.load(Ordering::SeqCst)
    }

    /// Wakes every thread waiting on the event (a system call only when one may be asleep).
    pub(crate) fn notify_all(&self) {
        self.sequence.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            futex_wake(&self.sequence, i32::MAX);
        }
    }

    /// Sleeps until the event changes from `seen`, a signal handler runs, or `timeout` passes.
    pub(crate) fn wait(&self, seen: u32, timeout: Option<Duration>) -> Woken {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let woken = if self.sequence.load(Ordering::SeqCst) == seen {
            futex_wait(&self.sequence, seen, timeout)
        } else {
            Woken::Notified
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        woken
    }
}

fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Woken {
    let timeout = timeout.map(timespec);
    let timeout_ptr = timeout.as_ref().map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic; `timeout_ptr` is null or points to a
    // timespec that outlives the call (a relative timeout for FUTEX_WAIT).
    let result = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            timeout_ptr,
        )
    };
    if result == 0 {
        return Woken::Notified;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EINTR) => Woken::Interrupted,
        Some(libc::ETIMEDOUT) => Woken::TimedOut,
        _ => Woken::Notified, // EAGAIN: the word had already changed.
    }
}

fn futex_wake(word: &AtomicU32, count: i32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE only reads its address.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_mutex_excludes_and_the_event_wakes() {
        let counter = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *counter.lock() += 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*counter.lock(), 40_000);

        let event = Arc::new(Event::new());
        let seen = event.current();
        assert_eq!(event.wait(seen, Some(Duration::from_millis(1))), Woken::TimedOut);
        let notifier = {
            let event = Arc::clone(&event);
            std::thread::spawn(move || event.notify_all())
        };
        while event.wait(seen, Some(Duration::from_millis(100))) == Woken::TimedOut {}
        notifier.join().unwrap();
        assert_ne!(event.current(), seen);
    }
}
