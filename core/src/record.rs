//! An owner's in-process record of what it holds: an ordered interval map, coalesced like the
//! kernel's lock list (adjacent runs of the same mode merge; a request splits what it overlaps).
//!
//! A sorted vector, not a tree: finding is a binary search, and a change moves the runs after it
//! (a `memmove`), which costs less than the kernel's own walk of its lock list on every request —
//! and the common case (one run set and released again) allocates nothing once warm.

use crate::mode::LockMode;
use crate::range::LockRange;

/// A run: `[start, end)` held in `mode`; `end` is exclusive (`OPEN_END` for open-ended).
pub(crate) type Run = (u64, u64, LockMode);

/// Disjoint, coalesced runs in index order. Finding is O(log n); a change is O(log n) plus the
/// runs it moves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LockRecord {
    runs: Vec<Run>,
}

impl LockRecord {
    /// The runs overlapping `[start, end)`: `first..last` indices into `runs`.
    fn overlap(&self, start: u64, end: u64) -> (usize, usize) {
        let first = self.runs.partition_point(|&(_, run_end, _)| run_end <= start);
        let last = first + self.runs[first..].partition_point(|&(run_start, _, _)| run_start < end);
        (first, last)
    }

    /// Sets `[start, end)` to `mode` (`None`: not held), splitting and merging like the kernel.
    #[inline]
    pub(crate) fn set(&mut self, start: u64, end: u64, mode: Option<LockMode>) {
        debug_assert!(start < end);
        // The common cases first, inline: a first run taken, everything held given back.
        match (self.runs.as_slice(), mode) {
            ([], Some(mode)) if self.runs.capacity() > 0 => self.runs.push((start, end, mode)),
            (&[(only_start, only_end, _)], None) if start <= only_start && only_end <= end => self.runs.clear(),
            _ => self.set_general(start, end, mode),
        }
    }

    /// [`Self::set`], every case.
    #[inline(never)]
    fn set_general(&mut self, start: u64, end: u64, mode: Option<LockMode>) {
        let (mut first, mut last) = self.overlap(start, end);
        // What replaces runs[first..last]: the head and tail that stick out, and the new run.
        let mut replacement: [Run; 3] = [(0, 0, LockMode::Read); 3];
        let mut count = 0;
        let (mut new_start, mut new_end) = (start, end);
        if let Some(&(head_start, _, head_mode)) = self.runs.get(first).filter(|_| first < last) {
            if head_start < start {
                if mode == Some(head_mode) {
                    new_start = head_start;
                } else {
                    replacement[count] = (head_start, start, head_mode);
                    count += 1;
                }
            }
        }
        let tail = (first < last).then(|| self.runs[last - 1]).filter(|&(_, tail_end, _)| tail_end > end);
        if let Some(mode) = mode {
            // Merge with a neighbour of the same mode that touches the range.
            if new_start == start && first > 0 && self.runs[first - 1].1 == start && self.runs[first - 1].2 == mode {
                first -= 1;
                new_start = self.runs[first].0;
            }
            if let Some((_, tail_end, tail_mode)) = tail {
                if tail_mode == mode {
                    new_end = tail_end;
                }
            } else if last < self.runs.len() && self.runs[last].0 == end && self.runs[last].2 == mode {
                new_end = self.runs[last].1;
                last += 1;
            }
            replacement[count] = (new_start, new_end, mode);
            count += 1;
        }
        if let Some((_, tail_end, tail_mode)) = tail {
            if mode != Some(tail_mode) {
                replacement[count] = (end, tail_end, tail_mode);
                count += 1;
            }
        }
        let replacement = &replacement[..count];
        let removed = last - first;
        if count <= removed {
            self.runs[first..first + count].copy_from_slice(replacement);
            self.runs.drain(first + count..last);
        } else {
            self.runs[first..last].copy_from_slice(&replacement[..removed]);
            let at = last;
            for (n, &run) in replacement[removed..].iter().enumerate() {
                self.runs.insert(at + n, run);
            }
        }
    }

    /// Whether any index of `[start, end)` is held.
    pub(crate) fn holds_any(&self, start: u64, end: u64) -> bool {
        let (first, last) = self.overlap(start, end);
        first < last
    }

    /// The mode `index` is held in, if any.
    pub(crate) fn mode_at(&self, index: u64) -> Option<LockMode> {
        let at = self.runs.partition_point(|&(_, run_end, _)| run_end <= index);
        self.runs.get(at).filter(|&&(run_start, _, _)| run_start <= index).map(|&(_, _, mode)| mode)
    }

    /// The runs overlapping `[start, end)`, clipped to it.
    pub(crate) fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = Run> + '_ {
        let (first, last) = self.overlap(start, end);
        self.runs[first..last].iter().map(move |&(s, e, mode)| (s.max(start), e.min(end), mode))
    }

    /// Every run, in order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = (LockRange, LockMode)> + '_ {
        self.runs.iter().map(|&(start, end, mode)| (LockRange::from_bounds(start, end), mode))
    }

    /// Where the record holds anything: `[first start, last end)`.
    pub(crate) fn span(&self) -> Option<(u64, u64)> {
        Some((self.runs.first()?.0, self.runs.last()?.1))
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.runs.clear();
    }

    /// Puts back the runs of `[start, end)` as a snapshot from [`Self::overlapping`] had them.
    pub(crate) fn restore(&mut self, start: u64, end: u64, snapshot: &[Run]) {
        self.set(start, end, None);
        for &(s, e, mode) in snapshot {
            self.set(s, e, Some(mode));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::OPEN_END;
    use LockMode::{Read, Write};

    fn runs(record: &LockRecord) -> Vec<(u64, u64, LockMode)> {
        record.runs.clone()
    }

    #[test]
    fn converting_the_middle_splits_like_the_kernel() {
        let mut record = LockRecord::default();
        record.set(1, 4, Some(Write));
        record.set(2, 3, Some(Read));
        assert_eq!(runs(&record), [(1, 2, Write), (2, 3, Read), (3, 4, Write)]);
        record.set(2, 3, Some(Write));
        assert_eq!(runs(&record), [(1, 4, Write)]);
    }

    #[test]
    fn adjacent_runs_of_one_mode_merge_and_releases_split() {
        let mut record = LockRecord::default();
        record.set(0, 1, Some(Read));
        record.set(2, 3, Some(Read));
        record.set(1, 2, Some(Read));
        assert_eq!(runs(&record), [(0, 3, Read)]);
        record.set(1, 2, None);
        assert_eq!(runs(&record), [(0, 1, Read), (2, 3, Read)]);
        assert_eq!(record.mode_at(0), Some(Read));
        assert_eq!(record.mode_at(1), None);
        assert_eq!(record.mode_at(3), None);
    }

    #[test]
    fn open_ended_runs_cover_everything_after() {
        let mut record = LockRecord::default();
        record.set(5, OPEN_END, Some(Write));
        assert_eq!(record.mode_at(u64::MAX - 1), Some(Write));
        record.set(0, 10, Some(Read));
        assert_eq!(runs(&record), [(0, 10, Read), (10, OPEN_END, Write)]);
        record.set(0, OPEN_END, None);
        assert!(record.is_empty());
    }

    #[test]
    fn overlapping_clips_and_restore_puts_back() {
        let mut record = LockRecord::default();
        record.set(0, 10, Some(Read));
        record.set(20, 30, Some(Write));
        let snapshot: Vec<_> = record.overlapping(5, 25).collect();
        assert_eq!(snapshot, [(5, 10, Read), (20, 25, Write)]);
        let before = record.clone();
        record.set(5, 25, Some(Write));
        record.restore(5, 25, &snapshot);
        assert_eq!(record, before);
    }
}
