//! The lock-file handle and how to open one.

use std::fmt;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::fair::fair_range;
use crate::guard::LockGuard;
use crate::holders::{holders, Holder};
use crate::mode::LockMode;
use crate::open::names_file;
use crate::owner::{Owner, ViewId, Wait};
use crate::range::{IntoLockRange, LockRange};
use crate::registry::{open_private, open_shared};
use crate::sys::fcntl::LockKind;

/// Who owns the locks a handle takes, chosen when it is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Open-file-description locks (`F_OFD_*`): each handle is its own owner. Two handles in one
    /// process, or two threads with a handle each, exclude each other as two processes do. The
    /// kernel does not detect deadlocks between them.
    #[default]
    OpenFile,
    /// Classic POSIX record locks (`F_SETLK*`): the process is the owner. The kernel detects
    /// deadlocks between processes ([`Error::Deadlock`](crate::Error::Deadlock)). All handles of
    /// one file in one process, and all its threads, share the locks and never exclude each other.
    Process,
}

/// How to open a lock file: `LocksFile::options().scope(Scope::Process).open(path)`.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    scope: Scope,
    create: bool,
    mode: u32,
    fair: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self { scope: Scope::OpenFile, create: true, mode: 0o644, fair: false }
    }
}

impl OpenOptions {
    /// The defaults: `OpenFile` scope, create when missing, permissions `0o644` (less the umask).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Who owns the locks (default [`Scope::OpenFile`]).
    pub fn scope(&mut self, scope: Scope) -> &mut Self {
        self.scope = scope;
        self
    }

    /// Whether to create the file when it is missing (default `true`). It is never truncated.
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Permission bits for a newly created file (default `0o644`); the umask applies.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Whether the handle prefers writers (default `false`): a fair handle's waiting writer holds
    /// back new fair readers of its range, so that a stream of overlapping readers cannot starve
    /// it. Each fair acquire passes a gate byte first (three system calls instead of one);
    /// handles that are not fair, and other programs, never wait at the gates, so they still
    /// exclude correctly but are not held back. A handle that already holds a lock skips the gate
    /// (queued behind a writer waiting for that lock, it would deadlock with it). A fair handle's
    /// indices are below [`GATE_FIRST`](crate::GATE_FIRST) (2^62; names fit below it): larger ones
    /// are [`InvalidRange`](crate::Error::InvalidRange), and an open-ended range ends there. In
    /// `Process` scope the process is one owner: the gate holds back other processes' readers,
    /// not the writer's own threads.
    pub fn fair(&mut self, fair: bool) -> &mut Self {
        self.fair = fair;
        self
    }

    /// Opens (or creates) the lock file, read-write, or read-only when it is not writable (read
    /// locks then work and write locks fail with [`Error::NotWritable`](crate::Error::NotWritable)).
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) (without `create`),
    /// [`MissingDirectory`](crate::Error::MissingDirectory),
    /// [`IsDirectory`](crate::Error::IsDirectory), or [`Io`](crate::Error::Io) (e.g. permission).
    pub fn open(&self, path: impl AsRef<Path>) -> Result<LocksFile> {
        let path = path.as_ref();
        let (owner, view) = match self.scope {
            Scope::OpenFile => open_private(path, self.create, self.mode)?,
            Scope::Process => open_shared(path, self.create, self.mode)?,
        };
        Ok(LocksFile { owner, view, fair: self.fair })
    }
}

/// An open lock file: lock `i` is byte `i` of the file.
///
/// Thread-safe (`Send + Sync`): threads may share a handle; they then share its locks. Dropping the
/// handle releases every lock it holds.
pub struct LocksFile {
    owner: Arc<Owner>,
    view: ViewId,
    fair: bool,
}

impl LocksFile {
    /// Opens (or creates) `path` with the default options ([`Scope::OpenFile`]).
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        OpenOptions::new().open(path)
    }

    /// Options for opening: scope, create, permissions, fairness.
    #[must_use]
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The path the file was opened by.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.owner.path()
    }

    /// The scope the file was opened in.
    #[must_use]
    pub fn scope(&self) -> Scope {
        match self.owner.kind() {
            LockKind::Ofd => Scope::OpenFile,
            LockKind::Classic => Scope::Process,
        }
    }

    /// Whether the handle prefers writers ([`OpenOptions::fair`]).
    #[must_use]
    pub fn is_fair(&self) -> bool {
        self.fair
    }

    /// Whether the file is open for writing (write locks need it).
    #[must_use]
    pub fn is_writable(&self) -> bool {
        self.owner.writable()
    }

    /// Takes `range` in `mode`, waiting as long as it takes. A range already held in the other
    /// mode is converted in place (a downgrade is immediate; an upgrade waits for other readers).
    /// The whole range is taken at once or not at all.
    ///
    /// # Errors
    /// [`InvalidRange`](crate::Error::InvalidRange), [`NotWritable`](crate::Error::NotWritable),
    /// [`Deadlock`](crate::Error::Deadlock) (`Process` scope),
    /// [`Interrupted`](crate::Error::Interrupted) (a signal handler ran; nothing new is held),
    /// [`NoLocksAvailable`](crate::Error::NoLocksAvailable), [`Io`](crate::Error::Io).
    pub fn acquire(&self, range: impl IntoLockRange, mode: LockMode) -> Result<()> {
        self.take(range.into_lock_range()?, mode, Wait::Block).map(drop)
    }

    /// Takes `range` in `mode` if no other owner is in the way: `Ok(false)` on conflict.
    ///
    /// # Errors
    /// As [`Self::acquire`], less `Deadlock` and `Interrupted`.
    pub fn try_acquire(&self, range: impl IntoLockRange, mode: LockMode) -> Result<bool> {
        self.take(range.into_lock_range()?, mode, Wait::Try)
    }

    /// Takes `range` in `mode`, waiting at most `timeout`: `Ok(false)` at the deadline, holding
    /// nothing new. The wait is the kernel's own queue, cut off by a timer signal at the deadline.
    ///
    /// # Errors
    /// As [`Self::acquire`].
    pub fn acquire_timeout(&self, range: impl IntoLockRange, mode: LockMode, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now().checked_add(timeout);
        let range = range.into_lock_range()?;
        let wait = deadline.map_or(Wait::Block, Wait::Until);
        self.take(range, mode, wait)
    }

    /// Takes `range` in `mode`, waiting until `deadline` at most (see [`Self::acquire_timeout`]).
    ///
    /// # Errors
    /// As [`Self::acquire`].
    pub fn acquire_until(&self, range: impl IntoLockRange, mode: LockMode, deadline: Instant) -> Result<bool> {
        self.take(range.into_lock_range()?, mode, Wait::Until(deadline))
    }

    /// Releases whatever this handle holds in `range` (held or not: releasing is idempotent).
    ///
    /// # Errors
    /// [`InvalidRange`](crate::Error::InvalidRange);
    /// [`NoLocksAvailable`](crate::Error::NoLocksAvailable) when the kernel cannot split a lock to
    /// release its middle (nothing is released then).
    pub fn release(&self, range: impl IntoLockRange) -> Result<()> {
        let range = range.into_lock_range()?;
        self.owner.release(self.view, self.own(range)?)
    }

    /// Releases everything this handle holds.
    ///
    /// # Errors
    /// As [`Self::release`].
    pub fn release_all(&self) -> Result<()> {
        self.owner.release_all(self.view)
    }

    /// What this handle holds, as coalesced runs in index order.
    #[must_use]
    pub fn held(&self) -> Vec<(LockRange, LockMode)> {
        self.owner.held(self.view)
    }

    /// The mode this handle holds `index` in, if any.
    #[must_use]
    pub fn mode_of(&self, index: u64) -> Option<LockMode> {
        self.owner.mode_of(self.view, index)
    }

    /// The locks other owners hold that overlap `range`, with the holding process where Linux can
    /// tell: from `/proc/locks` and, for open-file-description locks, `/proc/PID/fdinfo`.
    /// `/proc/locks` leaves out the classic locks of processes outside the pid namespace of `/proc`
    /// (another container, say); the kernel still reports them to a lock query (`F_GETLK`,
    /// `F_OFD_GETLK`), so they are listed too, with `pid: None`: held by a process this one cannot
    /// see. A query reports one lock for each stretch other owners hold, so where hidden and listed
    /// locks overlap (several readers) only the listed ones may appear, but a range with any lock
    /// held is never reported free. Reads no other process's memory and `stat`s no descriptors.
    ///
    /// # Errors
    /// [`InvalidRange`](crate::Error::InvalidRange), [`Closed`](crate::Error::Closed), or
    /// [`Io`](crate::Error::Io) when `/proc/locks` cannot be read or the kernel refuses the query.
    pub fn holders(&self, range: impl IntoLockRange) -> Result<Vec<Holder>> {
        let range = range.into_lock_range()?;
        holders(&self.owner, self.view, self.own(range)?)
    }

    /// Whether the path no longer names the file this handle has open (deleted or replaced). Locks
    /// on a replaced file no longer exclude processes that open the path anew.
    ///
    /// # Errors
    /// [`Closed`](crate::Error::Closed), or [`Io`](crate::Error::Io) when the path cannot be
    /// examined (other than not existing).
    pub fn is_stale(&self) -> Result<bool> {
        if !self.owner.is_open(self.view) {
            return Err(crate::Error::Closed { path: self.path().to_owned() });
        }
        names_file(self.owner.path(), self.owner.id()).map(|names| !names)
    }

    /// Releases every lock this handle holds and closes it; every later call is
    /// [`Closed`](crate::Error::Closed) (`held()` is empty). A wait in progress on the handle in
    /// another thread ends promptly with `Closed`, holding nothing new; `close` returns once it has.
    /// An acquire that returned before `close` began keeps its result until `close` releases it.
    /// Idempotent; dropping the handle closes it too.
    ///
    /// In `Process` scope the handle is one view of the process's owner: its file descriptor is
    /// closed with the last view, and what other views hold stays held.
    ///
    /// # Errors
    /// [`NoLocksAvailable`](crate::Error::NoLocksAvailable) when the kernel cannot split a lock to
    /// release what only this view held (`Process` scope; it is released with the last view). The
    /// handle is closed all the same.
    pub fn close(&self) -> Result<()> {
        self.owner.close_view(self.view)
    }

    /// Whether [`Self::close`] was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        !self.owner.is_open(self.view)
    }

    /// Takes `range` for reading, blocking; released when the guard drops.
    ///
    /// # Errors
    /// As [`Self::acquire`].
    pub fn read(&self, range: impl IntoLockRange) -> Result<LockGuard<'_>> {
        self.guard(range, LockMode::Read)
    }

    /// Takes `range` for writing, blocking; released when the guard drops.
    ///
    /// # Errors
    /// As [`Self::acquire`].
    pub fn write(&self, range: impl IntoLockRange) -> Result<LockGuard<'_>> {
        self.guard(range, LockMode::Write)
    }

    /// Takes `range` in `mode` if free now: `Ok(None)` on conflict.
    ///
    /// # Errors
    /// As [`Self::try_acquire`].
    pub fn try_lock(&self, range: impl IntoLockRange, mode: LockMode) -> Result<Option<LockGuard<'_>>> {
        let range = range.into_lock_range()?;
        Ok(self.try_acquire(range, mode)?.then(|| LockGuard::new(self, range, mode)))
    }

    /// `range` as this handle locks it: below the gates for a fair handle.
    #[inline]
    fn own(&self, range: LockRange) -> Result<LockRange> {
        if self.fair {
            fair_range(range)
        } else {
            Ok(range)
        }
    }

    #[inline]
    fn take(&self, range: LockRange, mode: LockMode, wait: Wait) -> Result<bool> {
        if self.fair {
            self.owner.acquire_fair(self.view, fair_range(range)?, mode, wait)
        } else {
            self.owner.acquire(self.view, range, mode, wait)
        }
    }

    fn guard(&self, range: impl IntoLockRange, mode: LockMode) -> Result<LockGuard<'_>> {
        let range = range.into_lock_range()?;
        self.acquire(range, mode)?;
        Ok(LockGuard::new(self, range, mode))
    }
}

impl Drop for LocksFile {
    fn drop(&mut self) {
        // A failed release (ENOLCK) still ends when the owner retires, which unlocks everything.
        let _ = self.close();
    }
}

/// The number of the descriptor the handle locks through, for inspection (`/proc/self/fdinfo`), or
/// -1 once closed. Closing it or locking through it directly breaks the handle's records.
impl AsRawFd for LocksFile {
    fn as_raw_fd(&self) -> RawFd {
        self.owner.raw_fd()
    }
}

impl fmt::Debug for LocksFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocksFile").field("path", &self.path()).field("scope", &self.scope()).field("fair", &self.fair).finish_non_exhaustive()
    }
}
