//! `cargo make bench` (Rust leg): the crate against the raw fcntl syscall, in the same run.
//!
//! 1. acquire+release of one lock, uncontended: `try_acquire`, `acquire`, a guard, vs a raw
//!    `F_OFD_SETLK` pair, with 0, 1, 100 and 10,000 disjoint locks already held on the file.
//! 2. hand-off latency between two processes: from the holder's release to the waiter's return, for
//!    the crate's blocking and timed acquire, a raw `F_OFD_SETLKW`, and a polling timed acquire
//!    (sleep-and-retry, what most lock libraries do) for contrast.
//!
//! With `LOCKSFILE_BENCH_JSON=PATH` it also writes what it measured there (`cargo make bench-rust`
//! sets `target/bench/rust.json`): every batch, every hand-off round. The schema is described in
//! `scripts/bench-report`, which draws the report from it.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use locksfile::{LockMode, LocksFile};
use nix::fcntl::{fcntl, FcntlArg};

const BATCHES: usize = 7;
const BATCH_TIME: Duration = Duration::from_millis(60);
const HANDOFF_ROUNDS: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("handoff-waiter") {
        handoff_waiter(&args[2], Path::new(&args[3]));
        return;
    }
    let dir = std::env::temp_dir().join(format!("locksfile-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let held = pairs(&dir);
    let handoff = handoffs(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(path) = std::env::var_os("LOCKSFILE_BENCH_JSON") {
        std::fs::write(&path, json(&held, &handoff)).expect("write the benchmark's JSON");
        println!("\nresults: {}", Path::new(&path).display());
    }
}

/// The locks-held points: 0 to 10,000, about evenly spaced on a log scale.
const HELD: [u64; 7] = [0, 1, 10, 100, 1_000, 3_000, 10_000];

/// One measured operation: its label, the kind of entry (see `scripts/bench-report`), and for each
/// locks-held point its per-batch samples (ns per pair, in the order measured).
struct Series {
    name: &'static str,
    kind: &'static str,
    samples: Vec<Vec<f64>>,
}

/// One waiter variant of the hand-off: its label, kind, and every round's latency in µs.
struct Handoff {
    name: &'static str,
    kind: &'static str,
    micros: Vec<f64>,
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn numbers(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
    format!("[{}]", items.join(", "))
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The results as JSON (by hand: the crate has no JSON dependency, and this is all it needs).
fn json(held: &[Series], handoff: &[Handoff]) -> String {
    let floor = held.iter().find(|s| s.kind == "floor").expect("a floor");
    // The pairs are the 0-locks-held point of the held series.
    let pairs: Vec<String> = held
        .iter()
        .map(|s| {
            format!(
                "      {{\"name\": {}, \"kind\": {}, \"median_ns\": {:.1}, \"samples_ns\": {}}}",
                quoted(s.name),
                quoted(s.kind),
                median(&s.samples[0]),
                numbers(&s.samples[0])
            )
        })
        .collect();
    let series: Vec<String> = held
        .iter()
        .map(|s| {
            let medians: Vec<f64> = s.samples.iter().map(|b| median(b)).collect();
            let batches: Vec<String> = s.samples.iter().map(|b| numbers(b)).collect();
            format!(
                "      {{\"name\": {}, \"kind\": {}, \"median_ns\": {}, \"samples_ns\": [{}]}}",
                quoted(s.name),
                quoted(s.kind),
                numbers(&medians),
                batches.join(", ")
            )
        })
        .collect();
    let waiters: Vec<String> = handoff
        .iter()
        .map(|h| {
            format!(
                "      {{\"name\": {}, \"kind\": {}, \"median_us\": {:.1}, \"samples_us\": {}}}",
                quoted(h.name),
                quoted(h.kind),
                median(&h.micros),
                numbers(&h.micros)
            )
        })
        .collect();
    let handoff_floor = handoff.iter().find(|h| h.kind == "floor").expect("a floor");
    let counts: Vec<String> = HELD.iter().map(u64::to_string).collect();
    format!(
        concat!(
            "{{\n  \"schema\": 1,\n  \"language\": \"rust\",\n",
            "  \"runtime\": \"Rust (release build, cargo bench)\",\n",
            "  \"pairs\": {{\n    \"what\": \"acquire+release of one lock, uncontended, nothing else held\",\n",
            "    \"batches\": {batches},\n    \"floor\": {floor},\n    \"entries\": [\n{pairs}\n    ]\n  }},\n",
            "  \"held\": {{\n    \"what\": \"acquire+release of one lock after N disjoint locks already held on the file\",\n",
            "    \"counts\": [{counts}],\n    \"floor\": {floor},\n    \"series\": [\n{series}\n    ]\n  }},\n",
            "  \"handoff\": {{\n    \"what\": \"from the holder's release to the waiter's return, two processes\",\n",
            "    \"rounds\": {rounds},\n    \"floor\": {handoff_floor},\n    \"entries\": [\n{waiters}\n    ]\n  }}\n}}\n"
        ),
        batches = BATCHES,
        floor = quoted(floor.name),
        pairs = pairs.join(",\n"),
        counts = counts.join(", "),
        series = series.join(",\n"),
        rounds = HANDOFF_ROUNDS,
        handoff_floor = quoted(handoff_floor.name),
        waiters = waiters.join(",\n"),
    )
}

fn raw_set(file: &File, l_type: i32, index: i64, wait: bool) {
    let request = libc::flock { l_type: l_type as i16, l_whence: libc::SEEK_SET as i16, l_start: index, l_len: 1, l_pid: 0 };
    let arg = if wait { FcntlArg::F_OFD_SETLKW(&request) } else { FcntlArg::F_OFD_SETLK(&request) };
    fcntl(file.as_fd(), arg).expect("raw fcntl");
}

/// Nanoseconds per call of each op in each of `BATCHES` rounds of batches of about `BATCH_TIME`
/// each (the median counts); the ops take turns batch by batch, so drift on the machine affects them
/// alike.
fn measure(ops: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    let per_batch: Vec<u64> = ops.iter_mut().map(|op| calibrate(&mut **op)).collect();
    let mut results = vec![Vec::with_capacity(BATCHES); ops.len()];
    for _ in 0..BATCHES {
        for (n, op) in ops.iter_mut().enumerate() {
            let started = Instant::now();
            for _ in 0..per_batch[n] {
                op();
            }
            results[n].push(started.elapsed().as_nanos() as f64 / per_batch[n] as f64);
        }
    }
    results
}

/// How many calls of `op` take about `BATCH_TIME`.
fn calibrate(op: &mut dyn FnMut()) -> u64 {
    let mut calls = 1u64;
    loop {
        let started = Instant::now();
        for _ in 0..calls {
            op();
        }
        let took = started.elapsed();
        if took >= BATCH_TIME / 4 {
            return (calls as f64 * BATCH_TIME.as_secs_f64() / took.as_secs_f64()) as u64 + 1;
        }
        calls *= 4;
    }
}

fn pairs(dir: &Path) -> Vec<Series> {
    println!("acquire+release of one lock, uncontended (median of {BATCHES} batches; ns per pair)");
    println!("{:>12} {:>14} {:>14} {:>14} {:>14} {:>10}", "locks held", "raw OFD pair", "try_acquire", "acquire", "guard", "try/raw");
    let mut series: Vec<Series> = [
        ("raw F_OFD_SETLK pair", "floor"),
        ("try_acquire + release", "api"),
        ("acquire + release", "api"),
        ("write guard", "api"),
    ]
    .into_iter()
    .map(|(name, kind)| Series { name, kind, samples: Vec::new() })
    .collect();
    for held in HELD {
        let target = 2 * held + 1; // after every held lock: the kernel walks the whole list
        let raw_file = File::options().read(true).write(true).create(true).truncate(false).open(dir.join(format!("raw-{held}"))).unwrap();
        for i in 0..held {
            raw_set(&raw_file, libc::F_WRLCK, 2 * i as i64, false);
        }
        let locks = LocksFile::open(dir.join(format!("crate-{held}"))).unwrap();
        for i in 0..held {
            locks.acquire(2 * i, LockMode::Write).unwrap();
        }
        let samples = measure(&mut [
            &mut || {
                raw_set(&raw_file, libc::F_WRLCK, target as i64, false);
                raw_set(&raw_file, libc::F_UNLCK, target as i64, false);
            },
            &mut || {
                assert!(locks.try_acquire(target, LockMode::Write).unwrap());
                locks.release(target).unwrap();
            },
            &mut || {
                locks.acquire(target, LockMode::Write).unwrap();
                locks.release(target).unwrap();
            },
            &mut || drop(locks.write(target).unwrap()),
        ]);
        let times: Vec<f64> = samples.iter().map(|s| median(s)).collect();
        let [raw, try_pair, blocking_pair, guard_pair] = times[..] else { unreachable!() };
        println!(
            "{held:>12} {raw:>14.0} {try_pair:>14.0} {blocking_pair:>14.0} {guard_pair:>14.0} {:>9.2}x",
            try_pair / raw
        );
        for (one, batches) in series.iter_mut().zip(samples) {
            one.samples.push(batches);
        }
    }
    println!();
    series
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// The waiting process: for each round, says it is about to wait, waits for lock 0, and reports
/// when it got it.
fn handoff_waiter(variant: &str, path: &Path) {
    let locks = LocksFile::open(path).unwrap();
    let raw = File::options().read(true).write(true).open(path).unwrap();
    let mut out = std::io::stdout();
    let mut go = std::io::stdin().lock().lines();
    for _ in 0..HANDOFF_ROUNDS {
        assert_eq!(go.next().unwrap().unwrap(), "go"); // the holder has the lock again
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
        match variant {
            "blocking" => locks.acquire(0, LockMode::Write).unwrap(),
            "timed" => assert!(locks.acquire_timeout(0, LockMode::Write, Duration::from_secs(30)).unwrap()),
            "raw" => raw_set(&raw, libc::F_WRLCK, 0, true),
            "polling" => {
                while !locks.try_acquire(0, LockMode::Write).unwrap() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            other => panic!("unknown variant {other}"),
        }
        let got = now_ns();
        if variant == "raw" {
            raw_set(&raw, libc::F_UNLCK, 0, false);
        } else {
            locks.release(0).unwrap();
        }
        writeln!(out, "{got}").unwrap();
        out.flush().unwrap();
    }
}

fn handoffs(dir: &Path) -> Vec<Handoff> {
    println!("hand-off latency between two processes ({HANDOFF_ROUNDS} rounds; µs from release to the waiter's return)");
    println!("{:>34} {:>10} {:>10} {:>10}", "waiter", "median", "p90", "vs raw");
    let mut raw_median = None;
    let mut waiters = Vec::new();
    for (variant, label, kind) in [
        ("raw", "raw F_OFD_SETLKW", "floor"),
        ("blocking", "acquire (blocking)", "api"),
        ("timed", "acquire_timeout (kernel wait)", "api"),
        ("polling", "polling try + 1 ms sleep", "contrast"),
    ] {
        let path: PathBuf = dir.join(format!("handoff-{variant}"));
        let holder = File::options().read(true).write(true).create(true).truncate(false).open(&path).unwrap();
        raw_set(&holder, libc::F_WRLCK, 0, false);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["handoff-waiter", variant, path.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut go = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut latencies = Vec::with_capacity(HANDOFF_ROUNDS);
        for _ in 0..HANDOFF_ROUNDS {
            writeln!(go, "go").unwrap();
            go.flush().unwrap();
            assert_eq!(lines.next().unwrap().unwrap(), "ready");
            std::thread::sleep(Duration::from_millis(2)); // let the waiter enter its wait
            let released = now_ns();
            raw_set(&holder, libc::F_UNLCK, 0, false);
            let got: u128 = lines.next().unwrap().unwrap().parse().unwrap();
            latencies.push(got.saturating_sub(released) as f64 / 1000.0);
            raw_set(&holder, libc::F_WRLCK, 0, true);
        }
        child.wait().unwrap();
        let mut sorted = latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[HANDOFF_ROUNDS / 2];
        let p90 = sorted[HANDOFF_ROUNDS * 9 / 10];
        let raw = *raw_median.get_or_insert(median);
        println!("{label:>34} {median:>10.1} {p90:>10.1} {:>9.2}x", median / raw);
        waiters.push(Handoff { name: label, kind, micros: latencies });
    }
    waiters
}
