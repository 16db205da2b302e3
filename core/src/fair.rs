//! The index space of fair handles: indices below 2^62, the gate of index `i` at 2^62 + `i`.

use crate::error::{Error, Result};
use crate::range::{LockRange, OPEN_END};

/// The first gate byte: the gate of index `i` is `GATE_FIRST + i` (2^62 + `i`).
pub const GATE_FIRST: u64 = 1 << 62;

/// The largest index a fair handle locks: 2^62 − 1. Names (from 2^61) fit below it.
pub const FAIR_MAX_INDEX: u64 = GATE_FIRST - 1;

/// `range` as a fair handle takes it: an open-ended range ends where the gates begin, and a range
/// reaching into the gates is refused.
///
/// # Errors
/// [`Error::InvalidRange`] when `range` reaches [`GATE_FIRST`] or beyond (open-ended ones from
/// below excepted).
pub(crate) fn fair_range(range: LockRange) -> Result<LockRange> {
    let (start, end) = (range.start(), range.raw_end());
    let count = range.count().map(i128::from);
    if start >= GATE_FIRST {
        return Err(Error::invalid_range(
            i128::from(start),
            count,
            "a fair handle's indices must be below 4611686018427387904 (2^62: the gates lie above)",
        ));
    }
    if end == OPEN_END {
        return Ok(LockRange::from_bounds(start, GATE_FIRST));
    }
    if end > GATE_FIRST {
        return Err(Error::invalid_range(
            i128::from(start),
            count,
            "a fair handle's last index must be below 4611686018427387904 (2^62: the gates lie above)",
        ));
    }
    Ok(range)
}

/// The gate bytes of the fair range `[start, end)`.
pub(crate) fn gates(start: u64, end: u64) -> (u64, u64) {
    (GATE_FIRST + start, GATE_FIRST + end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_ranges_stay_below_the_gates() {
        assert_eq!(fair_range(LockRange::new(5, 3).unwrap()).unwrap(), LockRange::new(5, 3).unwrap());
        assert_eq!(fair_range(LockRange::index(FAIR_MAX_INDEX).unwrap()).unwrap().start(), FAIR_MAX_INDEX);
        let open = fair_range(LockRange::from_start(7).unwrap()).unwrap();
        assert_eq!((open.start(), open.count()), (7, Some(GATE_FIRST - 7)));
        for refused in [
            LockRange::index(GATE_FIRST).unwrap(),
            LockRange::new(FAIR_MAX_INDEX, 2).unwrap(),
            LockRange::from_start(GATE_FIRST).unwrap(),
        ] {
            let error = fair_range(refused).unwrap_err();
            assert!(matches!(error, Error::InvalidRange { .. }), "{error}");
            assert!(error.to_string().contains("2^62"), "{error}");
        }
        assert_eq!(gates(5, 8), (GATE_FIRST + 5, GATE_FIRST + 8));
    }
}
