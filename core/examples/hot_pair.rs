//! Instruction counts of one uncontended acquire+release pair, for `valgrind --tool=callgrind`:
//! `cargo run --release -p locksfile --example hot_pair -- crate|raw N`.
use std::os::fd::AsFd;

use locksfile::{LockMode, LocksFile};
use nix::fcntl::{fcntl, FcntlArg};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u64 = args[2].parse().unwrap();
    let path = std::env::temp_dir().join(format!("locksfile-hot-{}", std::process::id()));
    match args[1].as_str() {
        "crate" => {
            let locks = LocksFile::open(&path).unwrap();
            for _ in 0..calls {
                assert!(locks.try_acquire(5, LockMode::Write).unwrap());
                locks.release(5).unwrap();
            }
        }
        _ => {
            let file = std::fs::File::options().read(true).write(true).create(true).truncate(false).open(&path).unwrap();
            for _ in 0..calls {
                for l_type in [libc::F_WRLCK, libc::F_UNLCK] {
                    let request = libc::flock { l_type: l_type as i16, l_whence: 0, l_start: 5, l_len: 1, l_pid: 0 };
                    fcntl(file.as_fd(), FcntlArg::F_OFD_SETLK(&request)).unwrap();
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}
