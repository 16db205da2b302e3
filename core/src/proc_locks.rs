//! Reading the kernel's lock tables: `/proc/locks` (every lock on the system) and
//! `/proc/PID/fdinfo/FD` (the locks of one open file, which names the process holding an
//! open-file-description lock; `/proc/locks` reports those with pid -1).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::mode::LockMode;
use crate::range::{LockRange, MAX_INDEX};

/// The family of a kernel lock (ordered, so that locks can be sorted by owner).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockClass {
    /// Classic POSIX record lock, owned by a process (`POSIX`).
    Process,
    /// Open-file-description lock (`OFDLCK`).
    OpenFile,
    /// Whole-file `flock(2)` lock (`FLOCK`).
    Flock,
}

impl LockClass {
    /// `process`, `open-file` or `flock`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::OpenFile => "open-file",
            Self::Flock => "flock",
        }
    }
}

/// One line of `/proc/locks` or of an fdinfo file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLock {
    /// The lock's family.
    pub class: LockClass,
    /// Read or write.
    pub mode: LockMode,
    /// The process id as the kernel reports it: `None` for OFD locks (reported as -1).
    pub pid: Option<u32>,
    /// Device major number of the file.
    pub major: u32,
    /// Device minor number of the file.
    pub minor: u32,
    /// Inode number of the file.
    pub inode: u64,
    /// The locked range.
    pub range: LockRange,
    /// Whether this line is a request waiting for the lock before it (`->`), not a held lock.
    pub waiting: bool,
}

impl KernelLock {
    /// Parses a line such as `1: OFDLCK ADVISORY  WRITE -1 fe:00:9977867 3 4`, with or without
    /// fdinfo's `lock:` prefix. Leases, mandatory locks and malformed lines give `None`.
    #[must_use]
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim_start().strip_prefix("lock:").unwrap_or(line);
        let mut fields = line.split_whitespace();
        fields.next()?; // "N:"
        let mut class = fields.next()?;
        let waiting = class == "->";
        if waiting {
            class = fields.next()?;
        }
        let class = match class {
            "POSIX" => LockClass::Process,
            "OFDLCK" => LockClass::OpenFile,
            "FLOCK" => LockClass::Flock,
            _ => return None,
        };
        if fields.next()? != "ADVISORY" {
            return None;
        }
        let mode = match fields.next()? {
            "READ" => LockMode::Read,
            "WRITE" => LockMode::Write,
            _ => return None,
        };
        let pid = fields.next()?.parse::<i64>().ok()?;
        let mut device = fields.next()?.split(':');
        let major = u32::from_str_radix(device.next()?, 16).ok()?;
        let minor = u32::from_str_radix(device.next()?, 16).ok()?;
        let inode = device.next()?.parse().ok()?;
        let start: u64 = fields.next()?.parse().ok()?;
        let range = match fields.next()? {
            "EOF" => LockRange::from_start(start).ok()?,
            last => {
                let last: u64 = last.parse().ok()?;
                if last < start || last > MAX_INDEX {
                    return None;
                }
                LockRange::new(start, last - start + 1).ok()?
            }
        };
        Some(Self { class, mode, pid: u32::try_from(pid).ok(), major, minor, inode, range, waiting })
    }

    /// Whether this lock is on the file with device `dev` (as in `st_dev`) and inode `inode`.
    #[must_use]
    pub fn is_on(&self, dev: u64, inode: u64) -> bool {
        self.inode == inode && self.major == libc::major(dev) && self.minor == libc::minor(dev)
    }
}

/// Every lock and waiting request in the system, from `/proc/locks`.
///
/// # Errors
/// When `/proc/locks` cannot be read.
pub fn system_locks() -> io::Result<Vec<KernelLock>> {
    Ok(fs::read_to_string("/proc/locks")?.lines().filter_map(KernelLock::parse).collect())
}

/// The locks held through one open file (`/proc/PID/fdinfo/FD`).
///
/// # Errors
/// When the fdinfo file cannot be read (the process or descriptor is gone, or not ours to read).
pub fn open_file_locks(pid: u32, fd: i32) -> io::Result<Vec<KernelLock>> {
    let text = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))?;
    Ok(text.lines().filter(|line| line.starts_with("lock:")).filter_map(KernelLock::parse).collect())
}

/// A lock or a waiting request on one file, with the process and descriptor behind it where they
/// can be found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLock {
    /// The kernel's record.
    pub lock: KernelLock,
    /// The process: as the kernel reports it for classic and `flock` locks; for a held
    /// open-file-description lock, a process whose descriptor of the file holds it (fdinfo); for a
    /// waiting one, a process with a thread blocked in `fcntl(F_OFD_SETLKW)` for it.
    pub pid: Option<u32>,
    /// The descriptor in `pid` through which an open-file-description lock is held or awaited.
    pub fd: Option<i32>,
}

/// Every lock and waiting request on the file with device `dev` (as in `st_dev`) and inode
/// `inode`, in `/proc/locks` order, each with its process where it can be found (processes this
/// one may not inspect leave `pid` empty for their open-file-description locks).
///
/// # Errors
/// When `/proc/locks` cannot be read.
pub fn locks_on(dev: u64, inode: u64) -> io::Result<Vec<FileLock>> {
    let locks: Vec<KernelLock> = system_locks()?.into_iter().filter(|lock| lock.is_on(dev, inode)).collect();
    let descriptors = if locks.iter().any(|lock| lock.class == LockClass::OpenFile) {
        descriptors_of(dev, inode)
    } else {
        Vec::new()
    };
    // What each descriptor holds (fdinfo) and awaits (its blocked threads), each attributed once.
    let mut held: Vec<(u32, i32, KernelLock)> = Vec::new();
    let mut awaited: Vec<(u32, i32, LockMode, LockRange)> = Vec::new();
    for &(pid, fd) in &descriptors {
        for lock in open_file_locks(pid, fd).unwrap_or_default() {
            if lock.class == LockClass::OpenFile {
                held.push((pid, fd, lock));
            }
        }
        awaited.extend(blocked_requests(pid, fd).into_iter().map(|(mode, range)| (pid, fd, mode, range)));
    }
    Ok(locks
        .into_iter()
        .map(|lock| {
            let found = match (lock.class, lock.waiting) {
                (LockClass::OpenFile, false) => take(&mut held, |(_, _, h)| h.mode == lock.mode && h.range == lock.range)
                    .map(|(pid, fd, _)| (Some(pid), Some(fd))),
                (LockClass::OpenFile, true) => take(&mut awaited, |&(_, _, mode, range)| mode == lock.mode && range == lock.range)
                    .map(|(pid, fd, _, _)| (Some(pid), Some(fd))),
                _ => Some((lock.pid, None)),
            };
            let (pid, fd) = found.unwrap_or((None, None));
            FileLock { lock, pid, fd }
        })
        .collect())
}

fn take<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool) -> Option<T> {
    let position = items.iter().position(matches)?;
    Some(items.swap_remove(position))
}

/// Every `(pid, fd)` of an inspectable process whose descriptor is open on the file `dev`/`inode`.
fn descriptors_of(dev: u64, inode: u64) -> Vec<(u32, i32)> {
    let mut found = Vec::new();
    let Ok(processes) = fs::read_dir("/proc") else { return found };
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(Path::new("/proc").join(pid.to_string()).join("fd")) else { continue };
        for fd_entry in fds.flatten() {
            let Some(fd) = fd_entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
                continue;
            };
            // stat() follows the magic link to the open file itself.
            let Ok(metadata) = fs::metadata(fd_entry.path()) else { continue };
            if metadata.ino() == inode && metadata.dev() == dev {
                found.push((pid, fd));
            }
        }
    }
    found
}

/// The open-file-description lock requests that threads of `pid` are blocked in through `fd`:
/// `/proc/PID/task/TID/syscall` names the call and its arguments, `/proc/PID/mem` holds the
/// `struct flock` it points to. Needs the right to trace the process; otherwise nothing is found.
fn blocked_requests(pid: u32, fd: i32) -> Vec<(LockMode, LockRange)> {
    let mut found = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return found };
    for task in tasks.flatten() {
        let Ok(call) = fs::read_to_string(task.path().join("syscall")) else { continue };
        let mut fields = call.split_whitespace();
        if fields.next().and_then(|nr| nr.parse::<i64>().ok()) != Some(libc::SYS_fcntl) {
            continue;
        }
        let mut argument = || fields.next().and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
        let (Some(on_fd), Some(command), Some(address)) = (argument(), argument(), argument()) else { continue };
        if on_fd != fd as u64 || command != libc::F_OFD_SETLKW as u64 {
            continue;
        }
        if let Some(request) = read_flock(pid, address) {
            found.push(request);
        }
    }
    found
}

/// The mode and range of the `struct flock` at `address` in process `pid`.
fn read_flock(pid: u32, address: u64) -> Option<(LockMode, LockRange)> {
    use std::os::unix::fs::FileExt;
    let mut bytes = [0u8; std::mem::size_of::<libc::flock>()];
    fs::File::open(format!("/proc/{pid}/mem")).ok()?.read_exact_at(&mut bytes, address).ok()?;
    let field = |offset: usize, size: usize| &bytes[offset..offset + size];
    let kind = i16::from_ne_bytes(field(std::mem::offset_of!(libc::flock, l_type), 2).try_into().ok()?);
    let whence = i16::from_ne_bytes(field(std::mem::offset_of!(libc::flock, l_whence), 2).try_into().ok()?);
    let start = i64::from_ne_bytes(field(std::mem::offset_of!(libc::flock, l_start), 8).try_into().ok()?);
    let len = i64::from_ne_bytes(field(std::mem::offset_of!(libc::flock, l_len), 8).try_into().ok()?);
    let mode = match i32::from(kind) {
        libc::F_RDLCK => LockMode::Read,
        libc::F_WRLCK => LockMode::Write,
        _ => return None,
    };
    if i32::from(whence) != libc::SEEK_SET || start < 0 || len < 0 {
        return None; // a request this crate would not make: left unattributed
    }
    let range = if len == 0 {
        LockRange::from_start(start as u64)
    } else {
        LockRange::new(start as u64, len as u64)
    };
    Some((mode, range.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_locks_and_fdinfo_lines() {
        let ofd = KernelLock::parse("2: OFDLCK ADVISORY  WRITE -1 fe:00:9977867 3 4").unwrap();
        assert_eq!(ofd.class, LockClass::OpenFile);
        assert_eq!(ofd.mode, LockMode::Write);
        assert_eq!(ofd.pid, None);
        assert_eq!((ofd.major, ofd.minor, ofd.inode), (0xfe, 0, 9_977_867));
        assert_eq!(ofd.range, LockRange::new(3, 2).unwrap());
        assert!(!ofd.waiting);

        let waiter = KernelLock::parse("1: -> POSIX  ADVISORY  READ 4568 fe:00:9977867 10 EOF").unwrap();
        assert!(waiter.waiting);
        assert_eq!(waiter.pid, Some(4568));
        assert_eq!(waiter.range, LockRange::from_start(10).unwrap());

        let fdinfo = KernelLock::parse("lock:\t1: POSIX  ADVISORY  READ 4568 fe:00:9977867 10 10").unwrap();
        assert_eq!(fdinfo.range, LockRange::index(10).unwrap());
    }

    #[test]
    fn ignores_leases_and_garbage() {
        assert_eq!(KernelLock::parse("3: LEASE  ACTIVE    READ 123 fe:00:1 0 EOF"), None);
        assert_eq!(KernelLock::parse(""), None);
        assert_eq!(KernelLock::parse("1: POSIX ADVISORY WRITE 1 zz:00:1 0 EOF"), None);
        assert_eq!(KernelLock::parse("1: POSIX ADVISORY WRITE 1 fe:00:1 5 4"), None);
    }
}
