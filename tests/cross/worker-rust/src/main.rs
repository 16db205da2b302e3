//! The Rust worker of the cross-language tests and the demo: holds locks through the `locksfile`
//! crate as commanded on stdin, one reply line per command on stdout. The protocol is in
//! `tests/README.md`; the Python, Kotlin and Swift workers speak it too.

mod data;
mod reading;

use std::fs::File;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use locksfile::{Error, IntoLockRange, LockMode, LockRange, LocksFile, Scope};

use reading::KeepReading;

fn main() {
    let mut file: Option<LocksFile> = None;
    let mut reading: Option<KeepReading> = None;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if words[0] == "quit" {
            break;
        }
        let reply = match handle(&mut file, &mut reading, &words) {
            Ok(reply) => reply,
            Err(Failure::Lock(error)) => format!("err {}: {error}", kind(&error)),
            Err(Failure::Protocol(message)) => format!("err Protocol: {message}"),
        };
        // A closed stdout means the driver is gone: nothing left to do.
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}

enum Failure {
    Lock(Error),
    Protocol(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Lock(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Protocol(error.to_string())
    }
}

/// The variant's name, which is the error kind every worker reports (`Deadlock`, `InvalidRange`…).
fn kind(error: &Error) -> String {
    format!("{error:?}").chars().take_while(char::is_ascii_alphanumeric).collect()
}

fn handle(file: &mut Option<LocksFile>, reading: &mut Option<KeepReading>, words: &[&str]) -> Result<String, Failure> {
    match words {
        ["pid"] => return Ok(std::process::id().to_string()),
        ["index-of", name] => return Ok(locksfile::index_of(name).to_string()),
        ["open", path, scope] => {
            let (scope, fair) = match scope.strip_suffix("+fair") {
                Some(scope) => (scope, true),
                None => (*scope, false),
            };
            let scope = if scope == "process" { Scope::Process } else { Scope::OpenFile };
            *file = Some(LocksFile::options().scope(scope).fair(fair).open(path)?);
            return Ok("ok".into());
        }
        ["stop-reading"] => {
            if let Some(keep) = reading.take() {
                keep.stop()?;
            }
            return Ok("ok".into());
        }
        ["close"] => {
            *file = None;
            return Ok("ok".into());
        }
        _ => {}
    }
    let file = file.as_ref().ok_or_else(|| Failure::Protocol("no file is open".into()))?;
    match words {
        ["keep-reading", index, seed, min, max] => {
            let (index, seed, min, max) = (number(index)?, number(seed)?, number(min)?, number(max)?);
            *reading = Some(KeepReading::start(file.path(), index, seed, min, max)?);
            Ok("ok".into())
        }
        ["acquire", mode, range, wait] => acquire(file, mode_of(mode)?, range_of(range)?, wait),
        ["release", range] => {
            file.release(range_of(range)?)?;
            Ok("ok".into())
        }
        ["release-all"] => {
            file.release_all()?;
            Ok("ok".into())
        }
        ["held"] => Ok(file.held().iter().fold(String::from("held"), |text, (range, mode)| format!("{text} {range}:{mode}"))),
        ["count", data, range, times] => {
            let data = File::options().read(true).write(true).open(data)?;
            let (range, times) = (range_of(range)?, number(times)?);
            let (first, counters) = (range.start(), range.count().ok_or_else(|| Failure::Protocol("count needs a bounded range".into()))?);
            for turn in 0..times {
                let index = first + turn % counters;
                file.acquire(index, LockMode::Write)?;
                data::increment(&data, index)?;
                file.release(index)?;
            }
            Ok(format!("ok {times}"))
        }
        ["audit", data, range, times] => {
            let data = File::open(data)?;
            let (range, times) = (range_of(range)?, number(times)?);
            let end = range.start() + range.count().ok_or_else(|| Failure::Protocol("audit needs a bounded range".into()))?;
            for _ in 0..times {
                file.acquire(range, LockMode::Read)?;
                let torn = (range.start()..end).map(|i| (i, data::read_pair(&data, i))).find(|(_, pair)| pair.0 != pair.1);
                file.release(range)?;
                if let Some((index, (a, b))) = torn {
                    return Ok(format!("torn {index} {a} {b}"));
                }
            }
            Ok(format!("ok {times}"))
        }
        ["race", data, id, tracks, laps, log] => {
            let data = File::options().read(true).write(true).open(data)?;
            let (id, tracks, laps) = (number(id)?, number(tracks)?, number(laps)?);
            let started = Instant::now();
            let (mut waits, mut visits) = (0u64, String::new());
            let mut take = |track: u64| -> Result<u64, Failure> {
                if !file.try_acquire(track, LockMode::Write)? {
                    waits += 1;
                    file.acquire(track, LockMode::Write)?;
                }
                Ok(data::visit(&data, track)?)
            };
            let total = tracks * laps;
            visits.push_str(&format!("0 {}\n", take(0)?));
            for step in 1..total {
                let (here, next) = ((step - 1) % tracks, step % tracks);
                let visit = take(next)?;
                file.release(here)?;
                visits.push_str(&format!("{next} {visit}\n"));
                data::progress(&data, tracks, id, step)?;
            }
            file.release_all()?;
            data::progress(&data, tracks, id, total)?;
            std::fs::write(log, visits)?;
            Ok(format!("ok {total} {waits} {}", started.elapsed().as_millis()))
        }
        _ => Err(Failure::Protocol(format!("unknown command {:?}", words.join(" ")))),
    }
}

fn acquire(file: &LocksFile, mode: LockMode, range: LockRange, wait: &str) -> Result<String, Failure> {
    let started = Instant::now();
    let taken = match wait {
        "block" => file.acquire(range, mode).map(|()| true)?,
        "try" => return Ok(if file.try_acquire(range, mode)? { "ok" } else { "busy" }.into()),
        _ => {
            let ms = wait.strip_prefix("timeout=").ok_or_else(|| Failure::Protocol(format!("bad wait {wait:?}")))?;
            file.acquire_timeout(range, mode, Duration::from_millis(number(ms)?))?
        }
    };
    Ok(if taken { "ok".into() } else { format!("timeout {}", started.elapsed().as_millis()) })
}

fn mode_of(word: &str) -> Result<LockMode, Failure> {
    match word {
        "read" => Ok(LockMode::Read),
        "write" => Ok(LockMode::Write),
        _ => Err(Failure::Protocol(format!("bad mode {word:?}"))),
    }
}

fn number(word: &str) -> Result<u64, Failure> {
    word.parse().map_err(|_| Failure::Protocol(format!("bad number {word:?}")))
}

/// `3`, `1..4` (indices 1, 2, 3), `5..` (from 5 on) or `name:NAME` (the lock of NAME).
fn range_of(text: &str) -> Result<LockRange, Failure> {
    if let Some(name) = text.strip_prefix("name:") {
        return Ok(name.into_lock_range()?);
    }
    let range = match text.split_once("..") {
        None => LockRange::index(number(text)?),
        Some((start, "")) => LockRange::from_start(number(start)?),
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            LockRange::new(start, end.checked_sub(start).ok_or_else(|| Failure::Protocol(format!("bad range {text:?}")))?)
        }
    };
    Ok(range?)
}
