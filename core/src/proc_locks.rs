//! Reading the kernel's lock tables: `/proc/locks` (every lock on the system) and
//! `/proc/PID/fdinfo/FD` (the locks of one open file, which names the process holding an
//! open-file-description lock; `/proc/locks` reports those with pid -1).

use std::fs;
use std::io;
use std::path::Path;

use crate::mode::LockMode;
use crate::range::{LockRange, MAX_INDEX};

/// The family of a kernel lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// For each process that can be inspected, its open descriptors of the file `dev`/`inode` and the
/// open-file-description locks held through each: `(pid, fd, locks)`.
#[must_use]
pub fn open_file_lock_holders(dev: u64, inode: u64) -> Vec<(u32, i32, Vec<KernelLock>)> {
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
            if std::os::unix::fs::MetadataExt::ino(&metadata) != inode
                || std::os::unix::fs::MetadataExt::dev(&metadata) != dev
            {
                continue;
            }
            if let Ok(locks) = open_file_locks(pid, fd) {
                let ofd: Vec<_> = locks.into_iter().filter(|l| l.class == LockClass::OpenFile).collect();
                if !ofd.is_empty() {
                    found.push((pid, fd, ofd));
                }
            }
        }
    }
    found
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
