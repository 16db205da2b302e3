//! `keep-reading`: a thread that keeps a lock read-held through a fair handle of its own, taking it
//! again as soon as it lets go, with seeded hold times (the formula is in `tests/README.md`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use locksfile::{Error, LockMode, LocksFile};

pub struct KeepReading {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), Error>>,
}

impl KeepReading {
    /// Starts the thread; returns once it holds `index` the first time.
    pub fn start(path: &Path, index: u64, seed: u64, min: u64, max: u64) -> Result<Self, Error> {
        let handle = LocksFile::options().fair(true).open(path)?;
        handle.acquire(index, LockMode::Read)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut state = seed;
            loop {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                std::thread::sleep(Duration::from_millis(min + (state >> 33) % (max - min + 1)));
                handle.release(index)?;
                if stopping.load(Ordering::SeqCst) {
                    return Ok(());
                }
                handle.acquire(index, LockMode::Read)?;
            }
        });
        Ok(Self { stop, thread })
    }

    /// Stops the thread once it has let go.
    pub fn stop(self) -> Result<(), Error> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the reading thread does not panic")
    }
}
