//! The seed's hand-over-hand race: processes step through a ring of locks (`tracks`), each taking
//! the next lock before releasing the one it holds, for `laps` laps. Nobody can overtake: every
//! track must see the processes pass in the same order. Run: `cargo make demo [-- PROCS TRACKS LAPS]`.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use locksfile::{LockMode, LocksFile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("runner") {
        return runner(&args[1..]);
    }
    let number = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (procs, tracks, laps) = (number(0, 4), number(1, 50), number(2, 200));
    if procs == 0 || tracks <= procs {
        return Err("need at least one process and more tracks than processes".into());
    }
    let dir = std::env::temp_dir().join(format!("locksfile-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (lock_path, data_path) = (dir.join("race.lock"), dir.join("race.data"));
    File::create(&data_path)?.set_len(8 * (tracks + procs))?;

    println!("{procs} processes, {tracks} locks in a ring, {laps} laps each, on {}", lock_path.display());
    let started = Instant::now();
    let mut children: Vec<Child> = (0..procs)
        .map(|p| {
            Command::new(std::env::current_exe()?)
                .args(["runner", &p.to_string(), &tracks.to_string(), &laps.to_string()])
                .arg(&lock_path)
                .arg(&data_path)
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let total = tracks * laps;
    let data = File::open(&data_path)?;
    let live = std::io::stdout().is_terminal();
    for frame in 0.. {
        let steps: Vec<u64> = (0..procs).map(|p| read_u64(&data, tracks + p)).collect();
        let done = steps.iter().all(|&s| s >= total);
        if live || done || frame % 10 == 0 {
            draw(&steps, total, live, live && frame > 0, started.elapsed());
        }
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut reports = Vec::new();
    for child in &mut children {
        let output = std::mem::take(&mut child.stdout).map(std::io::read_to_string).transpose()?.unwrap_or_default();
        if !child.wait()?.success() {
            return Err("a racer failed".into());
        }
        reports.push(Report::parse(&output));
    }
    summarize(&reports, tracks, started.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn read_u64(file: &File, slot: u64) -> u64 {
    let mut bytes = [0u8; 8];
    let _ = file.read_exact_at(&mut bytes, slot * 8);
    u64::from_le_bytes(bytes)
}

/// Progress bars, one line a racer; on a terminal they are redrawn in place.
fn draw(steps: &[u64], total: u64, live: bool, redraw: bool, elapsed: Duration) {
    let mut text = String::new();
    if live && redraw {
        text.push_str(&format!("\x1b[{}A", steps.len()));
    }
    let clear_line = if live { "\x1b[K" } else { "" };
    for (p, &s) in steps.iter().enumerate() {
        let filled = (s * 40 / total.max(1)) as usize;
        text.push_str(&format!("  rust #{p} [{:<40}] {s:>7}/{total}{clear_line}\n", "#".repeat(filled)));
    }
    if !live {
        text.push_str(&format!("  ({:.1} s)\n", elapsed.as_secs_f64()));
    }
    let mut out = std::io::stdout();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// One racer's account: `steps waits millis` then, per step, `track visit`.
struct Report {
    steps: u64,
    waits: u64,
    millis: u64,
    visits: Vec<(u64, u64)>,
}

impl Report {
    fn parse(text: &str) -> Self {
        let mut lines = text.lines();
        let head: Vec<u64> = lines.next().unwrap_or("").split_whitespace().filter_map(|w| w.parse().ok()).collect();
        let visits = lines
            .filter_map(|line| line.split_once(' '))
            .filter_map(|(t, v)| Some((t.parse().ok()?, v.parse().ok()?)))
            .collect();
        Self { steps: head.first().copied().unwrap_or(0), waits: head.get(1).copied().unwrap_or(0), millis: head.get(2).copied().unwrap_or(0), visits }
    }
}

/// No overtaking: ordered by visit number, every track sees the racers in the same order.
fn order_holds(reports: &[Report], tracks: u64) -> bool {
    let order_at = |track: u64| {
        let mut visits: Vec<(u64, usize)> = reports
            .iter()
            .enumerate()
            .flat_map(|(p, r)| r.visits.iter().filter(move |(t, _)| *t == track).map(move |(_, v)| (*v, p)))
            .collect();
        visits.sort_unstable();
        visits.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
    };
    let reference = order_at(0);
    (1..tracks).all(|t| order_at(t) == reference)
}

fn summarize(reports: &[Report], tracks: u64, elapsed: Duration) {
    println!();
    println!("{:<10} {:<9} {:>8} {:>8} {:>9}", "process", "language", "steps", "waits", "time");
    for (p, r) in reports.iter().enumerate() {
        println!("{:<10} {:<9} {:>8} {:>8} {:>7} ms", format!("#{p}"), "rust", r.steps, r.waits, r.millis);
    }
    let ok = order_holds(reports, tracks);
    println!("order check: {} ({} locks passed in one order by every racer)", if ok { "PASS" } else { "FAIL" }, tracks);
    println!("total: {:.2} s", elapsed.as_secs_f64());
    if !ok {
        std::process::exit(1);
    }
}

/// A racer process: `runner ID TRACKS LAPS LOCKFILE DATAFILE`.
fn runner(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let id: u64 = args[0].parse()?;
    let tracks: u64 = args[1].parse()?;
    let laps: u64 = args[2].parse()?;
    let (lock_path, data_path) = (PathBuf::from(&args[3]), PathBuf::from(&args[4]));
    race(id, tracks, laps, &lock_path, &data_path)
}

fn race(id: u64, tracks: u64, laps: u64, lock_path: &Path, data_path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let locks = LocksFile::open(lock_path)?;
    let data = File::options().read(true).write(true).open(data_path)?;
    let started = Instant::now();
    let (mut waits, mut log) = (0u64, String::new());
    let take = |track: u64, waits: &mut u64| -> Result<u64, Box<dyn std::error::Error>> {
        if !locks.try_acquire(track, LockMode::Write)? {
            *waits += 1;
            locks.acquire(track, LockMode::Write)?;
        }
        // Holding the track's lock: count this visit.
        let visit = read_u64(&data, track) + 1;
        data.write_all_at(&visit.to_le_bytes(), track * 8)?;
        Ok(visit)
    };
    let total = tracks * laps;
    let mut visit = take(0, &mut waits)?;
    log.push_str(&format!("0 {visit}\n"));
    for step in 1..total {
        let (here, next) = ((step - 1) % tracks, step % tracks);
        visit = take(next, &mut waits)?;
        locks.release(here)?;
        log.push_str(&format!("{next} {visit}\n"));
        data.write_all_at(&step.to_le_bytes(), (tracks + id) * 8)?;
    }
    locks.release_all()?;
    data.write_all_at(&total.to_le_bytes(), (tracks + id) * 8)?;
    print!("{total} {waits} {}\n{log}", started.elapsed().as_millis());
    Ok(())
}
