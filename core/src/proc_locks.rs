//! Reading the kernel's lock tables: `/proc/locks` (every lock on the system), `/proc/PID/fdinfo/FD`
//! (one descriptor: its mount and inode, and the locks held through it, which names the process
//! holding an open-file-description lock; `/proc/locks` reports those with pid -1) and
//! `/proc/PID/mountinfo` (the device that `/proc/locks` names a mount's files by).
//!
//! `/proc/locks` leaves out the classic locks of processes outside the pid namespace of the `/proc`
//! mount; only a lock request that conflicts with them ([`crate::LocksFile::holders`]) finds those.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::mode::LockMode;
use crate::range::{LockRange, MAX_INDEX};
use crate::sys::statx::path_identity;

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

    /// Whether this lock is on the file with device `dev` (as in `st_dev`) and inode `inode`: see
    /// [`KernelFileId`] for where `st_dev` is not the device `/proc/locks` shows.
    #[must_use]
    pub fn is_on(&self, dev: u64, inode: u64) -> bool {
        self.file() == KernelFileId::from_stat(dev, inode)
    }

    /// The file the lock is on.
    #[must_use]
    pub fn file(&self) -> KernelFileId {
        KernelFileId { major: self.major, minor: self.minor, inode: self.inode }
    }
}

/// A file as the kernel's lock tables name it: the device of its file system (the superblock's,
/// which `/proc/PID/mountinfo` shows for each mount) and its inode number.
///
/// That device is `st_dev` on most file systems, but not where `stat` reports another: each btrfs
/// subvolume has a `st_dev` of its own, and overlayfs reports a layer's device for files when its
/// layers are on different file systems (without `xino`). So the device is found as `lslocks`
/// finds a lock's mount: through the mount's entry in `/proc/self/mountinfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelFileId {
    /// Device major number of the file system.
    pub major: u32,
    /// Device minor number of the file system.
    pub minor: u32,
    /// Inode number of the file.
    pub inode: u64,
}

impl KernelFileId {
    /// From `stat`'s `st_dev` and `st_ino`: right where `st_dev` is the file system's device (see
    /// the type's documentation for where it is not).
    #[must_use]
    pub fn from_stat(dev: u64, inode: u64) -> Self {
        Self { major: libc::major(dev), minor: libc::minor(dev), inode }
    }

    /// The file `path` names (a final symlink followed), without opening it (closing a descriptor
    /// of a file drops this process's classic locks on it): `statx`'s mount id, looked up in
    /// `/proc/self/mountinfo`, and inode. Where the kernel has no mount id (before Linux 5.8) or
    /// the mount is not listed, `st_dev`.
    ///
    /// # Errors
    /// When `statx` fails: the path does not exist, or cannot be searched.
    pub fn of_path(path: &Path) -> io::Result<Self> {
        let found = path_identity(path)?;
        let (major, minor) = found.mount_id.and_then(own_mount_device).unwrap_or((found.dev_major, found.dev_minor));
        Ok(Self { major, minor, inode: found.inode })
    }

    /// The file open as `fd` in this process: `/proc/self/fdinfo/FD`'s mount id, looked up in
    /// `/proc/self/mountinfo`, and inode. Where fdinfo does not have them (before Linux 5.14 for the
    /// inode) or the mount is not listed (the descriptor came from another mount namespace), a
    /// `stat` of the descriptor.
    ///
    /// # Errors
    /// When neither fdinfo nor the descriptor's `stat` can be read.
    pub fn of_descriptor(fd: BorrowedFd<'_>) -> io::Result<Self> {
        let fd = fd.as_raw_fd();
        let info = read_fdinfo("self", fd).unwrap_or_default();
        if let (Some(inode), Some((major, minor))) = (info.inode, info.mount_id.and_then(own_mount_device)) {
            return Ok(Self { major, minor, inode });
        }
        // stat() follows the magic link to the open file itself.
        let metadata = fs::metadata(format!("/proc/self/fd/{fd}"))?;
        Ok(Self::from_stat(metadata.dev(), metadata.ino()))
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
    Ok(read_fdinfo(pid, fd)?.locks)
}

/// What `/proc/PID/fdinfo/FD` tells of one descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct DescriptorInfo {
    /// `mnt_id:` (Linux 3.15 on).
    mount_id: Option<u64>,
    /// `ino:` (Linux 5.14 on).
    inode: Option<u64>,
    /// `lock:` lines: the locks held through the descriptor's open file.
    locks: Vec<KernelLock>,
}

impl DescriptorInfo {
    fn parse(text: &str) -> Self {
        let mut info = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            match key {
                "mnt_id" => info.mount_id = value.trim().parse().ok(),
                "ino" => info.inode = value.trim().parse().ok(),
                "lock" => info.locks.extend(KernelLock::parse(line)),
                _ => {}
            }
        }
        info
    }
}

/// Reads `/proc/PROCESS/fdinfo/FD` (`PROCESS` a pid or `self`): only the kernel's own records of
/// the descriptor, never the file (a `stat` of it hangs on a dead network mount).
fn read_fdinfo(process: impl std::fmt::Display, fd: i32) -> io::Result<DescriptorInfo> {
    Ok(DescriptorInfo::parse(&fs::read_to_string(format!("/proc/{process}/fdinfo/{fd}"))?))
}

/// The device of each mount by mount id, from a `/proc/PID/mountinfo` text (`ID PARENT MAJOR:MINOR
/// ROOT MOUNTPOINT ...`): the superblock's device, which is also the one `/proc/locks` shows.
fn mount_devices(mountinfo: &str) -> HashMap<u64, (u32, u32)> {
    let mut devices = HashMap::new();
    for line in mountinfo.lines() {
        let mut fields = line.split_whitespace();
        let id = fields.next().and_then(|id| id.parse().ok());
        let device = fields.nth(1).and_then(|device| {
            let (major, minor) = device.split_once(':')?;
            Some((major.parse().ok()?, minor.parse().ok()?))
        });
        if let (Some(id), Some(device)) = (id, device) {
            devices.insert(id, device);
        }
    }
    devices
}

/// The device of mount `mount_id` in this process's mount namespace.
fn own_mount_device(mount_id: u64) -> Option<(u32, u32)> {
    mount_devices(&fs::read_to_string("/proc/self/mountinfo").ok()?).get(&mount_id).copied()
}

/// Mount devices by mount id, read as needed: this process's mountinfo first, then that of a
/// process with a mount it does not list (another mount namespace). Mount ids are unique
/// system-wide, so one table serves every namespace.
#[derive(Default)]
struct MountTable {
    devices: HashMap<u64, (u32, u32)>,
    read: HashSet<String>,
}

impl MountTable {
    fn device(&mut self, pid: u32, mount_id: u64) -> Option<(u32, u32)> {
        for process in ["self".to_owned(), pid.to_string()] {
            if let Some(&device) = self.devices.get(&mount_id) {
                return Some(device);
            }
            if self.read.insert(process.clone()) {
                if let Ok(text) = fs::read_to_string(format!("/proc/{process}/mountinfo")) {
                    self.devices.extend(mount_devices(&text));
                }
            }
        }
        self.devices.get(&mount_id).copied()
    }
}

/// This process's id as `/proc` numbers it (in the pid namespace of the `/proc` mount, which need
/// not be this process's): the pids in `/proc/locks` and those found through `/proc` are in it.
pub(crate) fn own_proc_pid() -> u32 {
    fs::read_link("/proc/self").ok().and_then(|link| link.to_str()?.parse().ok()).unwrap_or_else(std::process::id)
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

/// Whether [`file_locks`] lists the requests waiting for locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiters {
    /// Held locks only. Reads `/proc/locks` and, when open-file-description locks are held,
    /// the fdinfo of every descriptor of every process this one may inspect.
    Omit,
    /// Held locks and waiting requests. A waiting open-file-description request names no process;
    /// finding it means reading what the processes with the file open are blocked in:
    /// `/proc/PID/task/TID/syscall`, and the request itself from `/proc/PID/mem` (which needs the
    /// right to trace the process).
    Include,
}

/// Every lock (and, as `waiters` says, waiting request) on `file`, in `/proc/locks` order, each
/// with its process where it can be found (processes this one may not inspect leave `pid` empty
/// for their open-file-description locks). Classic locks of processes outside the pid namespace of
/// the `/proc` mount are missing: `/proc/locks` does not show them.
///
/// Descriptors are matched to the file by fdinfo alone (the device and inode of the locks held
/// through them; for waiters, their mount and inode, which fdinfo shows from Linux 5.14 on), never
/// by path, so processes in a chroot or another mount namespace are found too.
///
/// # Errors
/// When `/proc/locks` cannot be read.
pub fn file_locks(file: &KernelFileId, waiters: Waiters) -> io::Result<Vec<FileLock>> {
    let with_waiters = waiters == Waiters::Include;
    let locks: Vec<KernelLock> =
        system_locks()?.into_iter().filter(|lock| lock.file() == *file && (with_waiters || !lock.waiting)).collect();
    let open_file =
        |waiting: bool| locks.iter().any(|lock| lock.class == LockClass::OpenFile && lock.waiting == waiting);
    let (holding, awaiting) = (open_file(false), open_file(true));
    let descriptors = if holding || awaiting { descriptors_on(file, awaiting) } else { Vec::new() };
    // What each descriptor holds (fdinfo) and awaits (its blocked threads), each attributed once.
    let mut held: Vec<(u32, i32, KernelLock)> = Vec::new();
    let mut awaited: Vec<(u32, i32, LockMode, LockRange)> = Vec::new();
    for Descriptor { pid, fd, locks } in descriptors {
        held.extend(locks.into_iter().map(|lock| (pid, fd, lock)));
        if awaiting {
            awaited.extend(blocked_requests(pid, fd).into_iter().map(|(mode, range)| (pid, fd, mode, range)));
        }
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

/// Every lock and waiting request on the file with device `dev` (as in `st_dev`) and inode
/// `inode`: [`file_locks`] with [`Waiters::Include`] on [`KernelFileId::from_stat`]. Where `st_dev`
/// is not the file system's device (btrfs subvolumes, overlayfs), use [`KernelFileId::of_path`].
///
/// # Errors
/// When `/proc/locks` cannot be read.
pub fn locks_on(dev: u64, inode: u64) -> io::Result<Vec<FileLock>> {
    file_locks(&KernelFileId::from_stat(dev, inode), Waiters::Include)
}

fn take<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool) -> Option<T> {
    let position = items.iter().position(matches)?;
    Some(items.swap_remove(position))
}

/// A descriptor that matters for a file, and the open-file-description locks held through it.
struct Descriptor {
    pid: u32,
    fd: i32,
    locks: Vec<KernelLock>,
}

/// The descriptors of inspectable processes that hold open-file-description locks on `file` and,
/// with `open_too`, every other one open on it: from fdinfo alone (the locks' device and inode; the
/// descriptor's mount and inode), so no file is touched.
fn descriptors_on(file: &KernelFileId, open_too: bool) -> Vec<Descriptor> {
    let mut found = Vec::new();
    let mut mounts = MountTable::default();
    let Ok(processes) = fs::read_dir("/proc") else { return found };
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(process.path().join("fdinfo")) else { continue };
        for fd_entry in fds.flatten() {
            let Some(fd) = fd_entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(info) = read_fdinfo(pid, fd) else { continue };
            let locks: Vec<KernelLock> = info
                .locks
                .into_iter()
                .filter(|lock| lock.class == LockClass::OpenFile && lock.file() == *file)
                .collect();
            let open = open_too
                && info.inode == Some(file.inode)
                && info.mount_id.and_then(|id| mounts.device(pid, id)) == Some((file.major, file.minor));
            if !locks.is_empty() || open {
                found.push(Descriptor { pid, fd, locks });
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

    #[test]
    fn reads_the_mount_and_inode_and_locks_of_a_descriptor() {
        let text =
            "pos:\t0\nflags:\t02100002\nmnt_id:\t64\nino:\t257\nlock:\t1: OFDLCK ADVISORY  WRITE -1 00:27:257 5 5\n";
        let info = DescriptorInfo::parse(text);
        assert_eq!((info.mount_id, info.inode), (Some(64), Some(257)));
        assert_eq!(info.locks.len(), 1);
        assert_eq!(info.locks[0].file(), KernelFileId { major: 0, minor: 0x27, inode: 257 });
        assert_eq!(info.locks[0].range, LockRange::index(5).unwrap());

        // Before Linux 5.14 there is no inode line.
        let old = DescriptorInfo::parse("pos:\t0\nflags:\t02\nmnt_id:\t21\n");
        assert_eq!((old.mount_id, old.inode, old.locks.len()), (Some(21), None, 0));
    }

    #[test]
    fn maps_mount_ids_to_the_devices_proc_locks_shows() {
        // A btrfs subvolume mounted at /home: stat gives its files a st_dev of their own (0:41 say),
        // while /proc/locks and mountinfo show the file system's, 0:39.
        let mountinfo = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
64 27 0:39 /@home /home rw,relatime shared:1 - btrfs /dev/loop0 rw,space_cache=v2,subvolid=256,subvol=/@home
67 27 0:44 / /srv rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c
";
        let devices = mount_devices(mountinfo);
        assert_eq!(devices.get(&64), Some(&(0, 39)));
        assert_eq!(devices.get(&27), Some(&(254, 0)));
        assert_eq!(devices.get(&67), Some(&(0, 44)));
        assert_eq!(devices.get(&99), None);
        let lock = KernelLock::parse("1: POSIX  ADVISORY  WRITE 13255 00:27:257 5 5").unwrap();
        let (major, minor) = devices[&64];
        assert_eq!(lock.file(), KernelFileId { major, minor, inode: 257 });
        assert!(!lock.is_on(libc::makedev(0, 41), 257), "st_dev of the subvolume is not the lock's device");
        assert!(mount_devices("garbage\n\n12 1 x:y / /").is_empty());
    }
}
