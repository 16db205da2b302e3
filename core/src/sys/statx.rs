//! Where a file is, as the kernel's lock tables name it, without opening it.

use std::io;

/// What `statx(2)` tells of the file `path` names (a final symlink followed) that places it in the
/// kernel's lock tables, from the kernel's cache (no round trip to a network file system's server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PathIdentity {
    /// The id of the mount the file is reached through (`None` before Linux 5.8).
    pub(crate) mount_id: Option<u64>,
    pub(crate) inode: u64,
    /// `st_dev`, which is not always the file system's device (btrfs subvolumes, overlayfs).
    pub(crate) dev_major: u32,
    pub(crate) dev_minor: u32,
}

/// The mount, inode and `st_dev` of the file at `path`, without opening it (closing a descriptor
/// of a file drops the process's classic locks on it).
///
/// # Errors
/// As `statx(2)`: `ENOENT`, `EACCES`, ...; `InvalidInput` for a path with a NUL byte.
pub(crate) fn path_identity(path: &std::path::Path) -> io::Result<PathIdentity> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let mask = libc::STATX_INO | libc::STATX_MNT_ID;
    // SAFETY: an all-zero statx is a valid value of the plain C struct, which the call overwrites.
    let mut found: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `found` a valid statx buffer, both live
    // across the call.
    if unsafe { libc::statx(libc::AT_FDCWD, path.as_ptr(), libc::AT_STATX_DONT_SYNC, mask, &mut found) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PathIdentity {
        mount_id: (found.stx_mask & libc::STATX_MNT_ID != 0).then_some(found.stx_mnt_id),
        inode: found.stx_ino,
        dev_major: found.stx_dev_major,
        dev_minor: found.stx_dev_minor,
    })
}
