//! Instruction counts of one uncontended acquire+release pair through the direct C path, as the
//! language layers call it, for `valgrind --tool=callgrind`:
//! `cargo run --release -p locksfile-ffi --example fast_pair -- N` (compare with the core's
//! `hot_pair` example and its raw pair).
use locksfile_ffi::{locksfile_fast_acquire, locksfile_fast_release, LocksFile, OpenOptions, Scope, LOCKSFILE_DONE, LOCKSFILE_WRITE};

fn main() {
    let calls: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1_000);
    let path = std::env::temp_dir().join(format!("locksfile-fast-pair-{}", std::process::id()));
    let options = OpenOptions { scope: Scope::OpenFile, create: true, mode: 0o644 };
    let file = LocksFile::new(path.display().to_string(), options).unwrap();
    let token = file.fast_lane_token();
    for _ in 0..calls {
        assert_eq!(locksfile_fast_acquire(token, 5, 1, LOCKSFILE_WRITE), LOCKSFILE_DONE);
        assert_eq!(locksfile_fast_release(token, 5, 1, 0), LOCKSFILE_DONE);
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
}
