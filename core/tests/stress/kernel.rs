//! What the kernel holds for an owner, as coalesced runs to compare with the records: an open file
//! description's locks from `/proc/self/fdinfo/FD`; a process's classic locks from its owner's
//! descriptor's fdinfo and from `/proc/locks`.

use std::fmt::Write as _;
use std::io;
use std::os::fd::RawFd;

use locksfile::proc_locks::KernelLock;
use locksfile::{LockClass, LockMode, LockRange};

/// `start .. end` in `mode`; `end` is `u64::MAX` for an open-ended run.
pub type Run = (u64, u64, LockMode);

fn run_of(range: LockRange, mode: LockMode) -> Run {
    (range.start(), range.end().unwrap_or(u64::MAX), mode)
}

/// Sorted, with adjacent runs of one mode merged (the kernel merges an owner's adjacent locks of
/// one mode; comparing coalesced runs compares what is held, not how it is split).
pub fn coalesce(mut runs: Vec<Run>) -> Vec<Run> {
    runs.sort_unstable();
    let mut merged: Vec<Run> = Vec::with_capacity(runs.len());
    for run in runs {
        match merged.last_mut() {
            Some(last) if last.1 == run.0 && last.2 == run.2 => last.1 = run.1,
            _ => merged.push(run),
        }
    }
    merged
}

/// A handle's `held()` as runs.
pub fn held_runs(held: &[(LockRange, LockMode)]) -> Vec<Run> {
    coalesce(held.iter().map(|&(range, mode)| run_of(range, mode)).collect())
}

/// The strongest mode any of `views` holds, index by index: what the kernel must hold for a
/// process whose `Process`-scope views hold these.
pub fn strongest(views: &[Vec<Run>]) -> Vec<Run> {
    let mut cuts: Vec<u64> = views.iter().flatten().flat_map(|&(start, end, _)| [start, end]).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut runs = Vec::new();
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let mode = views.iter().flatten().filter(|&&(s, e, _)| s <= start && start < e).map(|&(_, _, mode)| mode).max();
        if let Some(mode) = mode {
            runs.push((start, end, mode));
        }
    }
    coalesce(runs)
}

/// The locks the open file description behind `fd` (in this process) holds.
pub fn open_file_locks(fd: RawFd) -> io::Result<Vec<Run>> {
    descriptor_locks(fd, LockClass::OpenFile)
}

/// The classic locks this process holds through `fd`: all of them, for a `Process`-scope owner,
/// which locks only through its one descriptor.
pub fn classic_locks(fd: RawFd) -> io::Result<Vec<Run>> {
    descriptor_locks(fd, LockClass::Process)
}

/// The locks of `class` in `/proc/self/fdinfo/FD`: one consistent look at the file's lock list
/// (the kernel prints them all at once, under the list's lock).
fn descriptor_locks(fd: RawFd, class: LockClass) -> io::Result<Vec<Run>> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))?;
    let locks = text
        .lines()
        .filter(|line| line.starts_with("lock:"))
        .filter_map(KernelLock::parse)
        .filter(|lock| lock.class == class && !lock.waiting)
        .map(|lock| run_of(lock.range, lock.mode));
    Ok(coalesce(locks.collect()))
}

/// The classic locks process `pid` holds on the file `dev`/`inode`, from `/proc/locks`.
///
/// `/proc/locks` is no snapshot: it is read in pieces, each a new walk of the kernel's list from a
/// record count, so while other processes lock and unlock (they always do) it can list a lock
/// twice or skip one; read with `fs::read_to_string` (small first reads) it did both here, at
/// quiescence. Hence large reads, repeated until two in a row agree on this process's locks. Even
/// then this kernel listed some locks two or three times where fdinfo lists them once, in reads
/// that agreed: identical lines count once.
pub fn process_locks(dev: u64, inode: u64, pid: u32) -> io::Result<Vec<Run>> {
    let mut previous: Option<Vec<Run>> = None;
    for _ in 0..PROC_LOCKS_READS {
        let text = read_in_large_chunks("/proc/locks")?;
        let mut locks: Vec<Run> = text
            .lines()
            .filter_map(KernelLock::parse)
            .filter(|lock| {
                lock.class == LockClass::Process && !lock.waiting && lock.pid == Some(pid) && lock.is_on(dev, inode)
            })
            .map(|lock| run_of(lock.range, lock.mode))
            .collect();
        locks.sort_unstable();
        locks.dedup();
        if previous.as_ref() == Some(&locks) {
            return Ok(coalesce(locks));
        }
        previous = Some(locks);
    }
    Err(io::Error::other(format!("/proc/locks did not read the same twice in {PROC_LOCKS_READS} tries")))
}

const PROC_LOCKS_READS: usize = 50;

fn read_in_large_chunks(path: &str) -> io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut chunk)? {
            0 => return String::from_utf8(text).map_err(io::Error::other),
            n => text.extend_from_slice(&chunk[..n]),
        }
    }
}

/// `3..5:write 9:read` (or `nothing`).
pub fn format_runs(runs: &[Run]) -> String {
    if runs.is_empty() {
        return "nothing".into();
    }
    let mut text = String::new();
    for &(start, end, mode) in runs {
        if !text.is_empty() {
            text.push(' ');
        }
        let _ = match end {
            u64::MAX => write!(text, "{start}..:{mode}"),
            end if end == start + 1 => write!(text, "{start}:{mode}"),
            end => write!(text, "{start}..{end}:{mode}"),
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use locksfile::LockMode::{Read, Write};

    #[test]
    fn strongest_mode_wins_and_runs_merge() {
        let a = vec![(0, 4, Read), (10, u64::MAX, Write)];
        let b = vec![(2, 6, Write)];
        assert_eq!(strongest(&[a, b]), vec![(0, 2, Read), (2, 6, Write), (10, u64::MAX, Write)]);
        assert_eq!(coalesce(vec![(3, 4, Read), (1, 3, Read), (4, 5, Write)]), vec![(1, 4, Read), (4, 5, Write)]);
        assert_eq!(format_runs(&[(1, 4, Read), (4, 5, Write), (7, u64::MAX, Read)]), "1..4:read 4:write 7..:read");
    }
}
