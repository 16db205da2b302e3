//! Parsing what users type: lock ranges (`3`, `1..4`, `1..=3`, `5..`) and durations (`2.5`, `10s`,
//! `500ms`, `2m`, `1h`).

use std::time::Duration;

use locksfile::{LockMode, LockRange, MAX_INDEX};

/// One `--read`/`--write` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub mode: LockMode,
    pub range: LockRange,
}

/// `3`, `1..4` (1, 2, 3), `1..=3` (the same), `5..` (5 and every index after it), or
/// `name:NAME` (the lock of that name, at `locksfile::index_of(NAME)`, as in every language).
pub fn parse_range(text: &str) -> Result<LockRange, String> {
    if let Some(name) = text.strip_prefix("name:") {
        return LockRange::index(locksfile::index_of(name)).map_err(|error| error.to_string());
    }
    let index = |word: &str| -> Result<u64, String> {
        word.trim()
            .parse::<u64>()
            .ok()
            .filter(|&i| i <= MAX_INDEX)
            .ok_or_else(|| format!("'{word}' is not a lock index (0 to {MAX_INDEX})"))
    };
    let range = match text.split_once("..") {
        None => LockRange::index(index(text)?),
        Some((start, "")) => LockRange::from_start(index(start)?),
        Some((start, end)) => {
            let (start, inclusive, end) = match end.strip_prefix('=') {
                Some(last) => (index(start)?, true, index(last)?),
                None => (index(start)?, false, index(end)?),
            };
            let end = if inclusive { end + 1 } else { end };
            if end <= start {
                return Err(format!("'{text}' is an empty range (a..b is a up to but not including b)"));
            }
            LockRange::new(start, end - start)
        }
    };
    range.map_err(|error| error.to_string())
}

/// Seconds as a number (`2.5`), or with a unit: `ms`, `s`, `m`, `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("'{text}' is not a duration (e.g. 2.5, 500ms, 10s, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit '{other}' in '{text}' (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("'{text}' is not a duration"))
}

/// The requests in the order they are taken (by first index, so that two commands asking for the
/// same locks take them in the same order), refusing overlaps between them.
pub fn ordered(mut requests: Vec<Request>) -> Result<Vec<Request>, String> {
    if requests.is_empty() {
        return Err("give at least one lock: --write RANGE or --read RANGE".into());
    }
    requests.sort_by_key(|r| r.range.start());
    for pair in requests.windows(2) {
        if pair[0].range.overlaps(&pair[1].range) {
            return Err(format!("the ranges {} and {} overlap; give each lock once", pair[0].range, pair[1].range));
        }
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("3"), Ok(LockRange::index(3).unwrap()));
        assert_eq!(parse_range("1..4"), Ok(LockRange::new(1, 3).unwrap()));
        assert_eq!(parse_range("1..=3"), Ok(LockRange::new(1, 3).unwrap()));
        assert_eq!(parse_range("5.."), Ok(LockRange::from_start(5).unwrap()));
        assert!(parse_range("4..4").unwrap_err().contains("empty"));
        assert!(parse_range("x").unwrap_err().contains("not a lock index"));
        assert!(parse_range("-1").is_err());
        assert!(parse_range("9223372036854775808").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn overlapping_requests_are_refused() {
        let request = |mode, text| Request { mode, range: parse_range(text).unwrap() };
        let taken = ordered(vec![request(LockMode::Write, "5"), request(LockMode::Read, "0..3")]).unwrap();
        assert_eq!(taken[0].range.start(), 0);
        assert!(ordered(vec![request(LockMode::Write, "1..4"), request(LockMode::Read, "3")]).is_err());
        assert!(ordered(vec![]).is_err());
    }
}
