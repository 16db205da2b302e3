//! Validated lock ranges: lock `i` is byte `i` of the lock file.

use std::fmt;
use std::ops::{Range, RangeFrom, RangeInclusive};

use crate::error::{Error, Result};

/// The largest byte offset fcntl can address (`off_t` is a signed 64-bit integer).
pub const MAX_INDEX: u64 = i64::MAX as u64;

/// End sentinel of an open-ended range ("to the end of the file and beyond").
pub(crate) const OPEN_END: u64 = u64::MAX;

/// A validated, non-empty run of lock indices: `start .. start + count`, or `start ..` (open-ended).
///
/// Every value of this type is a range the kernel accepts: `count >= 1` and the last index is at
/// most [`MAX_INDEX`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockRange {
    start: u64,
    /// Exclusive end, or [`OPEN_END`].
    end: u64,
}

impl LockRange {
    /// The single lock `index`.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] when `index` is larger than [`MAX_INDEX`].
    #[inline]
    pub fn index(index: u64) -> Result<Self> {
        Self::new(index, 1)
    }

    /// The `count` locks starting at `start`.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] when `count` is 0 or the last index `start + count - 1` is larger
    /// than [`MAX_INDEX`].
    #[inline]
    pub fn new(start: u64, count: u64) -> Result<Self> {
        match start.checked_add(count.wrapping_sub(1)) {
            Some(last) if count >= 1 && last < MAX_INDEX => Ok(Self { start, end: last + 1 }),
            // Open-ended, or invalid: the general path words it.
            _ => Self::checked(i128::from(start), Some(i128::from(count))),
        }
    }

    /// Every lock from `start` on (fcntl `l_len = 0`).
    ///
    /// # Errors
    /// [`Error::InvalidRange`] when `start` is larger than [`MAX_INDEX`].
    pub fn from_start(start: u64) -> Result<Self> {
        Self::checked(i128::from(start), None)
    }

    /// `count` locks from `start` (`None`: every lock from `start` on), from integers as any
    /// caller has them (another language's may be negative, or wider than 64 bits). This is where
    /// every range of every language is validated, and where its error is worded.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] naming the values and what is wrong with them.
    pub fn checked(start: i128, count: Option<i128>) -> Result<Self> {
        const MAX: i128 = MAX_INDEX as i128;
        let fail = |reason| Err(Error::invalid_range(start, count, reason));
        if start < 0 {
            return fail("start must not be negative");
        }
        if count.is_some_and(|count| count < 1) {
            return fail("count must be at least 1");
        }
        if start > MAX {
            return fail("start must not exceed 9223372036854775807 (the largest off_t)");
        }
        // Both within bounds now, so start < 2^63 and the sum cannot overflow an i128.
        let Some(count) = count else { return Ok(Self::from_bounds(start as u64, OPEN_END)) };
        match start.checked_add(count - 1) {
            // A range reaching the last index is "everything from start on": one representation,
            // and the only one fcntl can express when count is 2^63.
            Some(MAX) => Ok(Self::from_bounds(start as u64, OPEN_END)),
            Some(last) if last < MAX => Ok(Self::from_bounds(start as u64, last as u64 + 1)),
            _ => fail("the last index must not exceed 9223372036854775807 (the largest off_t)"),
        }
    }

    /// Every lock: `0..`.
    #[must_use]
    pub const fn all() -> Self {
        Self { start: 0, end: OPEN_END }
    }

    /// A range from bounds already known to be valid (`start < end`, both within `off_t`, or
    /// `end == OPEN_END`).
    pub(crate) const fn from_bounds(start: u64, end: u64) -> Self {
        debug_assert!(start < end);
        Self { start, end }
    }

    /// The first index.
    #[must_use]
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// How many locks, or `None` when open-ended.
    #[must_use]
    pub const fn count(&self) -> Option<u64> {
        if self.end == OPEN_END {
            None
        } else {
            Some(self.end - self.start)
        }
    }

    /// The exclusive end, or `None` when open-ended.
    #[must_use]
    pub const fn end(&self) -> Option<u64> {
        if self.end == OPEN_END {
            None
        } else {
            Some(self.end)
        }
    }

    /// Whether `index` lies in the range.
    #[must_use]
    pub const fn contains(&self, index: u64) -> bool {
        self.start <= index && index < self.end
    }

    /// Whether the two ranges share an index.
    #[must_use]
    pub const fn overlaps(&self, other: &Self) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The exclusive end with [`OPEN_END`] for open-ended ranges.
    pub(crate) const fn raw_end(&self) -> u64 {
        self.end
    }

    /// fcntl's `(l_start, l_len)` for this range (`l_len == 0` means "to the end, and beyond").
    pub(crate) fn to_fcntl(self) -> (i64, i64) {
        // Both casts are lossless: validation keeps every index within off_t.
        let len = self.count().map_or(0, |count| count as i64);
        (self.start as i64, len)
    }
}

impl fmt::Debug for LockRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `5`, `1..4` (indices 1, 2 and 3) or `7..` (open-ended).
impl fmt::Display for LockRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end() {
            Some(end) if end == self.start + 1 => write!(f, "{}", self.start),
            Some(end) => write!(f, "{}..{}", self.start, end),
            None => write!(f, "{}..", self.start),
        }
    }
}

/// Anything that names lock indices: an index (`3`), a range (`1..4`, `1..=3`, `5..`) or a
/// [`LockRange`]. Conversion validates, so bad input is an [`Error::InvalidRange`], never a panic.
pub trait IntoLockRange {
    /// Validates and converts.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] naming the offending values.
    fn into_lock_range(self) -> Result<LockRange>;
}

impl IntoLockRange for LockRange {
    #[inline]
    fn into_lock_range(self) -> Result<LockRange> {
        Ok(self)
    }
}

impl IntoLockRange for u64 {
    #[inline]
    fn into_lock_range(self) -> Result<LockRange> {
        LockRange::index(self)
    }
}

impl IntoLockRange for Range<u64> {
    fn into_lock_range(self) -> Result<LockRange> {
        if self.end <= self.start {
            return Err(Error::invalid_range(i128::from(self.start), Some(0), "the range is empty"));
        }
        LockRange::new(self.start, self.end - self.start)
    }
}

impl IntoLockRange for RangeInclusive<u64> {
    fn into_lock_range(self) -> Result<LockRange> {
        let (start, last) = self.into_inner();
        if last < start {
            return Err(Error::invalid_range(i128::from(start), Some(0), "the range is empty"));
        }
        LockRange::checked(i128::from(start), Some(i128::from(last) - i128::from(start) + 1))
    }
}

impl IntoLockRange for RangeFrom<u64> {
    fn into_lock_range(self) -> Result<LockRange> {
        LockRange::from_start(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges_convert_to_fcntl_fields() {
        assert_eq!(LockRange::index(3).unwrap().to_fcntl(), (3, 1));
        assert_eq!((1..4).into_lock_range().unwrap().to_fcntl(), (1, 3));
        assert_eq!((1..=3).into_lock_range().unwrap().to_fcntl(), (1, 3));
        assert_eq!((5..).into_lock_range().unwrap().to_fcntl(), (5, 0));
        // Reaching the last index is the same as open-ended.
        assert_eq!(LockRange::new(MAX_INDEX, 1).unwrap(), LockRange::from_start(MAX_INDEX).unwrap());
        assert_eq!(LockRange::new(0, MAX_INDEX + 1).unwrap(), LockRange::all());
        assert_eq!(LockRange::new(0, MAX_INDEX + 1).unwrap().to_fcntl(), (0, 0));
    }

    #[test]
    fn invalid_ranges_are_errors_naming_the_values() {
        for bad in [
            LockRange::new(0, 0),
            LockRange::new(MAX_INDEX, 2),
            LockRange::new(u64::MAX, 1),
            LockRange::index(MAX_INDEX + 1),
            LockRange::from_start(MAX_INDEX + 1),
            (4..4).into_lock_range(),
            #[allow(clippy::reversed_empty_ranges)]
            (5..4).into_lock_range(),
            (0..=u64::MAX).into_lock_range(),
            #[allow(clippy::reversed_empty_ranges)]
            (5..=4).into_lock_range(),
        ] {
            let err = bad.unwrap_err();
            assert!(matches!(err, Error::InvalidRange { .. }), "{err:?}");
        }
        let msg = LockRange::new(7, 0).unwrap_err().to_string();
        assert!(msg.contains("start 7") && msg.contains("count 0"), "{msg}");
    }

    #[test]
    fn display_is_compact() {
        assert_eq!(LockRange::index(5).unwrap().to_string(), "5");
        assert_eq!(LockRange::new(1, 3).unwrap().to_string(), "1..4");
        assert_eq!(LockRange::from_start(2).unwrap().to_string(), "2..");
    }
}
