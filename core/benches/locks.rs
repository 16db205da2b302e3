//! `cargo make bench` (Rust leg): the crate against the raw fcntl syscall, in the same run.
//!
//! 1. acquire+release of one lock, uncontended: `try_acquire`, `acquire`, a guard, vs a raw
//!    `F_OFD_SETLK` pair, with 0, 1, 100 and 10,000 disjoint locks already held on the file.
//! 2. hand-off latency between two processes: from the holder's release to the waiter's return, for
//!    the crate's blocking and timed acquire, a raw `F_OFD_SETLKW`, and a polling timed acquire
//!    (sleep-and-retry, what most lock libraries do) for contrast. The waiters' rounds take turns;
//!    each release waits until the waiter is queued in the kernel (/proc/locks); the holder and the
//!    waiters run on two different CPUs.
//!
//! With `LOCKSFILE_BENCH_JSON=PATH` it also writes what it measured there (`cargo make bench-rust`
//! sets `target/bench/rust.json`): every batch, every hand-off round. The schema is described in
//! `scripts/bench-report`, which draws the report from it.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use locksfile::{LockMode, LocksFile};
use nix::fcntl::{fcntl, FcntlArg};

const BATCHES: usize = 11;
const BATCH_TIME: Duration = Duration::from_millis(60);
const HANDOFF_ROUNDS: usize = 200;
const HANDOFF_WARMUP_ROUNDS: usize = 20;
/// How long a waiter may take to queue in the kernel before the bench fails.
const HANDOFF_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("handoff-waiter") {
        handoff_waiter(&args[2], Path::new(&args[3]), args[4].parse().expect("a CPU number"));
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
    println!(
        "{:>12} {:>14} {:>14} {:>14} {:>14} {:>14} {:>10} {:>10}",
        "locks held", "raw OFD pair", "try_acquire", "acquire", "guard", "fair acquire", "try/raw", "fair/raw"
    );
    let mut series: Vec<Series> = [
        ("raw F_OFD_SETLK pair", "floor"),
        ("try_acquire + release", "api"),
        ("acquire + release", "api"),
        ("write guard", "api"),
        // Through the gate (three system calls) when the handle holds nothing; a handle holding
        // locks skips the gate, so with locks held it costs what `acquire` does.
        ("fair handle: acquire + release", "contrast"),
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
        let fair = LocksFile::options().fair(true).open(dir.join(format!("fair-{held}"))).unwrap();
        for i in 0..held {
            fair.acquire(2 * i, LockMode::Write).unwrap();
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
            &mut || {
                fair.acquire(target, LockMode::Write).unwrap();
                fair.release(target).unwrap();
            },
        ]);
        let times: Vec<f64> = samples.iter().map(|s| median(s)).collect();
        let [raw, try_pair, blocking_pair, guard_pair, fair_pair] = times[..] else { unreachable!() };
        println!(
            "{held:>12} {raw:>14.0} {try_pair:>14.0} {blocking_pair:>14.0} {guard_pair:>14.0} {fair_pair:>14.0} {:>9.2}x {:>9.2}x",
            try_pair / raw,
            fair_pair / raw
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

/// Runs this thread on `cpus` only.
fn run_on(cpus: &[usize]) {
    // SAFETY: `set` is a zero-initialised cpu_set_t, filled by CPU_SET and only read by the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0, "sched_setaffinity");
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is zero-initialised and filled by the call; CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set), 0, "sched_getaffinity");
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect()
    }
}

/// The waiting process: pinned to `cpu`, for each round says it is about to wait, waits for lock
/// 0, and reports when it got it.
fn handoff_waiter(variant: &str, path: &Path, cpu: usize) {
    run_on(&[cpu]);
    let locks = LocksFile::open(path).unwrap();
    let raw = File::options().read(true).write(true).open(path).unwrap();
    let mut out = std::io::stdout();
    for go in std::io::stdin().lock().lines() {
        assert_eq!(go.unwrap(), "go"); // the holder has the lock again
        // The polling waiter never queues in the kernel: it says ready once its first try failed.
        let polling = variant == "polling" && !locks.try_acquire(0, LockMode::Write).unwrap();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
        match variant {
            "blocking" => locks.acquire(0, LockMode::Write).unwrap(),
            "timed" => assert!(locks.acquire_timeout(0, LockMode::Write, Duration::from_secs(30)).unwrap()),
            "raw" => raw_set(&raw, libc::F_WRLCK, 0, true),
            "polling" => {
                assert!(polling, "the holder had let go before the round");
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

/// A waiter process and the holder's side of its lock file.
struct Waiter {
    variant: &'static str,
    label: &'static str,
    kind: &'static str,
    holder: File,
    inode: u64,
    child: Child,
    go: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    micros: Vec<f64>,
}

impl Waiter {
    fn start(variant: &'static str, label: &'static str, kind: &'static str, path: &Path, cpu: usize) -> Self {
        let holder = File::options().read(true).write(true).create(true).truncate(false).open(path).unwrap();
        let inode = holder.metadata().unwrap().ino();
        raw_set(&holder, libc::F_WRLCK, 0, false);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["handoff-waiter", variant, path.to_str().unwrap(), &cpu.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let go = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { variant, label, kind, holder, inode, child, go, lines, micros: Vec::with_capacity(HANDOFF_ROUNDS) }
    }

    fn line(&mut self) -> String {
        match self.lines.next() {
            Some(line) => line.unwrap(),
            None => panic!("{}: the waiter ended ({:?})", self.variant, self.child.wait()),
        }
    }

    /// Whether a request waits in the kernel's queue for this file (/proc/locks: `->`, this inode).
    fn queued(&self) -> bool {
        let table = std::fs::read_to_string("/proc/locks").unwrap();
        table.lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.len() > 6 && words[1] == "->" && words[6].rsplit(':').next() == Some(&self.inode.to_string())
        })
    }

    /// One hand-off: the waiter queues in the kernel, the holder releases, the waiter returns; the
    /// holder takes the lock back once the waiter has let go of it.
    fn round(&mut self, round: usize, record: bool) {
        writeln!(self.go, "go").unwrap();
        self.go.flush().unwrap();
        assert_eq!(self.line(), "ready", "{}", self.variant);
        if self.variant == "polling" {
            // It sleeps 1 ms between tries: the release falls at a phase of that sleep swept
            // evenly over the rounds (released at once, every round would wait a whole sleep).
            std::thread::sleep(Duration::from_micros((round as u64 * 37 % 100) * 10));
        }
        let deadline = Instant::now() + HANDOFF_QUEUE_TIMEOUT;
        while self.variant != "polling" && !self.queued() {
            // A state, not a time: polled, with a pause that leaves the CPU to the waiter.
            assert!(Instant::now() < deadline, "{}: the waiter never queued in the kernel", self.variant);
            std::thread::sleep(Duration::from_micros(200));
        }
        let released = now_ns();
        raw_set(&self.holder, libc::F_UNLCK, 0, false);
        let got: u128 = self.line().parse().unwrap();
        if record {
            self.micros.push(got.saturating_sub(released) as f64 / 1000.0);
        }
        raw_set(&self.holder, libc::F_WRLCK, 0, false); // The waiter has let go: no wait here.
    }

    fn finish(mut self) -> Handoff {
        drop(self.go);
        assert!(self.child.wait().unwrap().success(), "{}: the waiter failed", self.variant);
        Handoff { name: self.label, kind: self.kind, micros: self.micros }
    }
}

/// Hand-off latency, the waiters' rounds taking turns (drift on the machine affects them alike);
/// the holder on one CPU and every waiter on another, so that each hand-off wakes a waiter on the
/// other CPU (left to the scheduler, some waiters settle on the holder's CPU and others not, and the
/// two cases differ by tens of µs on a small machine, far more than the waiters do).
fn handoffs(dir: &Path) -> Vec<Handoff> {
    let cpus = allowed_cpus();
    let (holder_cpu, waiter_cpu) = (cpus[0], cpus[cpus.len() - 1]);
    println!(
        "hand-off latency between two processes ({HANDOFF_ROUNDS} rounds each, interleaved, after {HANDOFF_WARMUP_ROUNDS}; \
         holder on CPU {holder_cpu}, waiters on CPU {waiter_cpu}; µs from release to the waiter's return)"
    );
    println!("{:>34} {:>10} {:>10} {:>10}", "waiter", "median", "p90", "vs raw");
    run_on(&[holder_cpu]);
    let mut waiters: Vec<Waiter> = [
        ("raw", "raw F_OFD_SETLKW", "floor"),
        ("blocking", "acquire (blocking)", "api"),
        ("timed", "acquire_timeout (kernel wait)", "api"),
        ("polling", "polling try + 1 ms sleep", "contrast"),
    ]
    .into_iter()
    .map(|(variant, label, kind)| Waiter::start(variant, label, kind, &dir.join(format!("handoff-{variant}")), waiter_cpu))
    .collect();
    for round in 0..HANDOFF_WARMUP_ROUNDS + HANDOFF_ROUNDS {
        for turn in 0..waiters.len() {
            let at = (round + turn) % waiters.len();
            waiters[at].round(round, round >= HANDOFF_WARMUP_ROUNDS);
        }
    }
    run_on(&cpus);
    let results: Vec<Handoff> = waiters.into_iter().map(Waiter::finish).collect();
    let raw = median(&results[0].micros);
    for each in &results {
        let mut sorted = each.micros.clone();
        sorted.sort_by(f64::total_cmp);
        let (median, p90) = (sorted[sorted.len() / 2], sorted[sorted.len() * 9 / 10]);
        println!("{:>34} {median:>10.1} {p90:>10.1} {:>9.2}x", each.name, median / raw);
    }
    results
}
