//! `locksfile status`: every lock and waiting request on a file, with the processes behind them.

use std::path::Path;

use locksfile::proc_locks::{file_locks, FileLock, KernelFileId, Waiters};
use locksfile::{LockClass, LockMode, LockRange};
use serde_json::{json, Value};

use crate::deadlock;
use crate::describe::{brief_command, command_line};
use crate::exit::{Failure, EXIT_ERROR};

/// One row: a held lock or a waiting request.
#[derive(Clone, Debug)]
pub struct Row {
    pub range: LockRange,
    pub mode: LockMode,
    pub class: LockClass,
    pub waiting: bool,
    pub pid: Option<u32>,
    /// The descriptor of an open-file-description lock (part of who owns it).
    pub fd: Option<i32>,
    pub command: Option<String>,
    /// For a waiting request: the pids of the held locks it waits for.
    pub waits_for: Vec<Option<u32>>,
}

impl Row {
    pub fn owner(&self) -> (LockClass, Option<u32>, Option<i32>) {
        (self.class, self.pid, self.fd)
    }

    fn kind(&self) -> &'static str {
        match self.class {
            LockClass::Process => "POSIX",
            LockClass::OpenFile => "OFD",
            LockClass::Flock => "FLOCK",
        }
    }
}

/// The rows for the file at `path`: held locks by first index, then waiting requests.
pub fn rows(path: &Path) -> Result<Vec<Row>, Failure> {
    let metadata = std::fs::metadata(path).map_err(|error| Failure::new(EXIT_ERROR, format!("{}: {error}", path.display())))?;
    if metadata.is_dir() {
        return Err(Failure::new(EXIT_ERROR, format!("{} is a directory, not a lock file", path.display())));
    }
    // The device /proc/locks names the file by is its mount's, which is not always st_dev.
    let file = KernelFileId::of_path(path)
        .map_err(|error| Failure::new(EXIT_ERROR, format!("{}: {error}", path.display())))?;
    let found = file_locks(&file, Waiters::Include)
        .map_err(|error| Failure::new(EXIT_ERROR, format!("cannot read /proc/locks: {error}")))?;
    let mut rows: Vec<Row> = found.into_iter().map(row).collect();
    rows.sort_by_key(|r| (r.waiting, r.owner(), r.range.start()));
    let mut rows = coalesce(rows);
    rows.sort_by_key(|r| (r.waiting, r.range.start()));
    let held: Vec<Row> = rows.iter().filter(|r| !r.waiting).cloned().collect();
    for row in rows.iter_mut().filter(|r| r.waiting) {
        let mut blockers: Vec<Option<u32>> = Vec::new();
        for held in held.iter().filter(|h| h.owner() != row.owner() && h.range.overlaps(&row.range)) {
            if held.mode.conflicts_with(row.mode) && !blockers.contains(&held.pid) {
                blockers.push(held.pid);
            }
        }
        row.waits_for = blockers;
    }
    Ok(rows)
}

fn row(found: FileLock) -> Row {
    let FileLock { lock, pid, fd } = found;
    Row {
        range: lock.range,
        mode: lock.mode,
        class: lock.class,
        waiting: lock.waiting,
        pid,
        fd,
        command: pid.map(command_line),
        waits_for: Vec::new(),
    }
}

/// Joins runs of one owner's adjacent ranges in one mode into one row (sorted by owner, then start).
fn coalesce(rows: Vec<Row>) -> Vec<Row> {
    let mut joined: Vec<Row> = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(last) = joined.last_mut() {
            let adjacent = last.range.count().is_some_and(|count| last.range.start() + count == row.range.start());
            if adjacent && !last.waiting && !row.waiting && last.owner() == row.owner() && last.mode == row.mode {
                last.range = match row.range.count() {
                    Some(count) => LockRange::new(last.range.start(), row.range.start() + count - last.range.start()),
                    None => LockRange::from_start(last.range.start()),
                }
                .unwrap_or(last.range);
                continue;
            }
        }
        joined.push(row);
    }
    joined
}

fn pid_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "?".into(), |pid| pid.to_string())
}

/// The human table.
pub fn table(path: &Path, rows: &[Row]) -> String {
    if rows.is_empty() {
        return format!("no locks on {}\n", path.display());
    }
    let header = ["RANGE", "MODE", "KIND", "STATE", "PID", "WAITS FOR", "COMMAND"];
    let lines: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let waits = if r.waiting { r.waits_for.iter().map(|p| pid_text(*p)).collect::<Vec<_>>().join(",") } else { "-".into() };
            let command = brief_command(r.command.as_deref().unwrap_or("?"), 60);
            [
                r.range.to_string(),
                r.mode.to_string(),
                r.kind().into(),
                if r.waiting { "waiting".into() } else { "held".into() },
                pid_text(r.pid),
                if waits.is_empty() { "-".into() } else { waits },
                command,
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| lines.iter().map(|l| l[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let render = |cells: Vec<&str>| {
        let mut line = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        line.truncate(line.trim_end().len());
        line + "\n"
    };
    let mut text = render(header.to_vec());
    for line in &lines {
        text += &render(line.iter().map(String::as_str).collect());
    }
    for cycle in deadlock::cycles(rows) {
        text += &deadlock::describe(&cycle);
        text.push('\n');
    }
    match deadlock::unattributed(rows) {
        0 => {}
        n => text += &format!("note: the process behind {n} waiting request(s) could not be read (it needs the right to trace it): a deadlock through it is not shown\n"),
    }
    text
}

/// The JSON document (`--json`): `end` is exclusive and `null` for an open-ended range; `kind` is
/// `OFD`, `POSIX` or `FLOCK` as in the table; `deadlocks` lists every cycle of waiters as the
/// processes in it (`null` for one that could not be read), `unattributed_waiters` counts the
/// waiting requests whose process could not be read.
pub fn json(path: &Path, rows: &[Row]) -> Value {
    let locks: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "range": r.range.to_string(),
                "start": r.range.start(),
                "end": r.range.count().map(|count| r.range.start() + count),
                "mode": r.mode.as_str(),
                "kind": r.kind(),
                "state": if r.waiting { "waiting" } else { "held" },
                "pid": r.pid,
                "fd": r.fd,
                "command": r.command,
                "waits_for": r.waits_for,
            })
        })
        .collect();
    json!({
        "file": path.display().to_string(),
        "locks": locks,
        "deadlocks": deadlock::cycles(rows),
        "unattributed_waiters": deadlock::unattributed(rows),
    })
}
