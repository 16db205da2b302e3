//! An owner's in-process record of what it holds: an ordered interval map, coalesced like the
//! kernel's lock list (adjacent runs of the same mode merge; a request splits what it overlaps).

use std::collections::BTreeMap;

use crate::mode::LockMode;
use crate::range::LockRange;

/// Disjoint, coalesced runs `start -> (end, mode)`; `end` is exclusive (`OPEN_END` for open-ended).
/// Every operation is O(log n) plus the runs it removes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LockRecord {
    runs: BTreeMap<u64, (u64, LockMode)>,
}

/// A run as it was, for putting a slice of a record back.
pub(crate) type Run = (u64, u64, LockMode);

impl LockRecord {
    /// Sets `[start, end)` to `mode` (`None`: not held), splitting and merging like the kernel.
    pub(crate) fn set(&mut self, start: u64, end: u64, mode: Option<LockMode>) {
        debug_assert!(start < end);
        // A run that starts before `start` and reaches into the range keeps its head (and tail).
        if let Some((&run_start, &(run_end, run_mode))) = self.runs.range(..start).next_back() {
            if run_end > start {
                self.runs.insert(run_start, (start, run_mode));
                if run_end > end {
                    self.runs.insert(end, (run_end, run_mode));
                }
            }
        }
        // Runs that start inside the range go; one that reaches past the end keeps its tail.
        while let Some((&run_start, &(run_end, run_mode))) = self.runs.range(start..end).next() {
            self.runs.remove(&run_start);
            if run_end > end {
                self.runs.insert(end, (run_end, run_mode));
            }
        }
        let Some(mode) = mode else { return };
        let (mut merged_start, mut merged_end) = (start, end);
        if let Some((&left_start, &(left_end, left_mode))) = self.runs.range(..start).next_back() {
            if left_end == start && left_mode == mode {
                self.runs.remove(&left_start);
                merged_start = left_start;
            }
        }
        if let Some(&(right_end, right_mode)) = self.runs.get(&end) {
            if right_mode == mode {
                self.runs.remove(&end);
                merged_end = right_end;
            }
        }
        self.runs.insert(merged_start, (merged_end, mode));
    }

    /// The mode `index` is held in, if any.
    pub(crate) fn mode_at(&self, index: u64) -> Option<LockMode> {
        let (_, &(end, mode)) = self.runs.range(..=index).next_back()?;
        (index < end).then_some(mode)
    }

    /// The runs overlapping `[start, end)`, clipped to it.
    pub(crate) fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = Run> + '_ {
        let before = self.runs.range(..start).next_back().filter(|(_, &(run_end, _))| run_end > start);
        before
            .into_iter()
            .chain(self.runs.range(start..end))
            .map(move |(&s, &(e, mode))| (s.max(start), e.min(end), mode))
    }

    /// Every run, in order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = (LockRange, LockMode)> + '_ {
        self.runs.iter().map(|(&start, &(end, mode))| (LockRange::from_bounds(start, end), mode))
    }

    /// Where the record holds anything: `[first start, last end)`.
    pub(crate) fn span(&self) -> Option<(u64, u64)> {
        let (&first, _) = self.runs.first_key_value()?;
        let (_, &(last_end, _)) = self.runs.last_key_value()?;
        Some((first, last_end))
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
        record.runs.iter().map(|(&s, &(e, m))| (s, e, m)).collect()
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
