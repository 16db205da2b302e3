//! The data files the workers share: little-endian u64 slots, read and written in place.
//!
//! Counters (`count`/`audit`): counter i is two copies at bytes 16i and 16i+8, written one after
//! the other, so a reader that is not excluded can see them differ. Race: the visits of track t at
//! slot t, then each racer's progress at slot `tracks + id`.

use std::fs::File;
use std::io::Result;
use std::os::unix::fs::FileExt;

fn read(data: &File, offset: u64) -> Result<u64> {
    let mut bytes = [0u8; 8];
    data.read_exact_at(&mut bytes, offset)?;
    Ok(u64::from_le_bytes(bytes))
}

fn write(data: &File, offset: u64, value: u64) -> Result<()> {
    data.write_all_at(&value.to_le_bytes(), offset)
}

/// Adds one to counter `index`: first copy, then second.
pub fn increment(data: &File, index: u64) -> Result<()> {
    let value = read(data, index * 16)? + 1;
    write(data, index * 16, value)?;
    std::thread::yield_now(); // widen the window in which a torn counter could be seen
    write(data, index * 16 + 8, value)
}

/// Counter `index`'s two copies (zero where the file is short).
pub fn read_pair(data: &File, index: u64) -> (u64, u64) {
    (read(data, index * 16).unwrap_or(0), read(data, index * 16 + 8).unwrap_or(0))
}

/// Counts a visit of `track` and returns its number.
pub fn visit(data: &File, track: u64) -> Result<u64> {
    let visit = read(data, track * 8)? + 1;
    write(data, track * 8, visit)?;
    Ok(visit)
}

/// Racer `id` has made `steps` steps.
pub fn progress(data: &File, tracks: u64, id: u64, steps: u64) -> Result<()> {
    write(data, (tracks + id) * 8, steps)
}
