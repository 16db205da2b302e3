//! Deadlocks the kernel does not see: cycles in the graph of who waits for whom. The kernel
//! detects cycles among classic (process-owned) locks only; a cycle of open-file-description
//! waiters, or one that mixes the kinds, hangs silently. `status` already knows every waiting
//! request's owner and the held locks in its way, so it can name every cycle.

use crate::status::Row;

/// Who owns a lock: its kind, process and (open-file-description locks) descriptor.
type Owner = (locksfile::LockClass, Option<u32>, Option<i32>);

/// At most this many cycles are named (a pathological table cannot make `status` slow).
const MOST: usize = 64;

/// Every cycle of owners that wait for each other, each once, as the processes in it (in waiting
/// order, starting with the lowest owner).
pub fn cycles(rows: &[Row]) -> Vec<Vec<Option<u32>>> {
    let edges = edges(rows);
    let mut owners: Vec<Owner> = edges.iter().flat_map(|&(from, to)| [from, to]).collect();
    owners.sort_unstable();
    owners.dedup();
    let mut found = Vec::new();
    for (first, &start) in owners.iter().enumerate() {
        // Cycles through `start` and owners after it only: each cycle is found once, from its
        // lowest owner.
        let mut path = vec![start];
        walk(&edges, &owners[first..], start, &mut path, &mut found);
        if found.len() >= MOST {
            break;
        }
    }
    found.into_iter().map(|cycle: Vec<Owner>| cycle.into_iter().map(|(_, pid, _)| pid).collect()).collect()
}

fn walk(edges: &[(Owner, Owner)], allowed: &[Owner], start: Owner, path: &mut Vec<Owner>, found: &mut Vec<Vec<Owner>>) {
    let here = *path.last().expect("the path starts with `start`");
    for &(_, next) in edges.iter().filter(|(from, _)| *from == here) {
        if found.len() >= MOST {
            return;
        }
        if next == start {
            found.push(path.clone());
        } else if allowed.contains(&next) && !path.contains(&next) {
            path.push(next);
            walk(edges, allowed, start, path, found);
            path.pop();
        }
    }
}

/// Waiting owner -> owner of a held lock in its way, once each. Waiters whose process could not be
/// found take no part (see [`unattributed`]).
fn edges(rows: &[Row]) -> Vec<(Owner, Owner)> {
    let mut edges = Vec::new();
    for waiter in rows.iter().filter(|r| r.waiting && r.pid.is_some()) {
        for holder in rows.iter().filter(|h| !h.waiting && h.owner() != waiter.owner()) {
            let edge = (waiter.owner(), holder.owner());
            if holder.range.overlaps(&waiter.range) && holder.mode.conflicts_with(waiter.mode) && !edges.contains(&edge) {
                edges.push(edge);
            }
        }
    }
    edges
}

/// How many waiting requests could not be traced to their process (reading another process's
/// blocked call needs the right to trace it): a cycle through one of them is not shown.
pub fn unattributed(rows: &[Row]) -> usize {
    rows.iter().filter(|r| r.waiting && r.pid.is_none()).count()
}

/// `DEADLOCK: pid 9026 waits for 9023 waits for 9026`.
pub fn describe(cycle: &[Option<u32>]) -> String {
    let pid = |pid: &Option<u32>| pid.map_or_else(|| "?".into(), |pid| pid.to_string());
    let mut text = format!("DEADLOCK: pid {}", pid(&cycle[0]));
    for member in cycle[1..].iter().chain(&cycle[..1]) {
        text += &format!(" waits for {}", pid(member));
    }
    text
}

#[cfg(test)]
mod tests {
    use locksfile::{LockClass, LockMode, LockRange};

    use super::*;

    fn row(index: u64, mode: LockMode, class: LockClass, waiting: bool, pid: Option<u32>) -> Row {
        let fd = (class == LockClass::OpenFile).then_some(3);
        Row { range: LockRange::index(index).unwrap(), mode, class, waiting, pid, fd, command: None, waits_for: Vec::new() }
    }

    #[test]
    fn every_cycle_once_whatever_the_lock_kinds_and_only_cycles() {
        use LockClass::{OpenFile, Process};
        use LockMode::{Read, Write};
        let rows = vec![
            // 10 -> 20 -> 30 -> 10, through an OFD, a classic and an OFD owner.
            row(1, Write, OpenFile, false, Some(10)),
            row(2, Write, Process, false, Some(20)),
            row(3, Write, OpenFile, false, Some(30)),
            row(2, Write, OpenFile, true, Some(10)),
            row(3, Read, Process, true, Some(20)),
            row(1, Read, OpenFile, true, Some(30)),
            // 40 waits for 10 but nobody waits for 40: no cycle through it.
            row(1, Write, OpenFile, true, Some(40)),
            // Readers do not wait for readers.
            row(5, Read, OpenFile, false, Some(50)),
            row(5, Read, OpenFile, true, Some(60)),
        ];
        // Named from its lowest owner (classic owners sort first).
        assert_eq!(cycles(&rows), [vec![Some(20), Some(30), Some(10)]]);
        assert_eq!(describe(&[Some(10), Some(20), Some(30)]), "DEADLOCK: pid 10 waits for 20 waits for 30 waits for 10");
        assert_eq!(unattributed(&rows), 0);
        let unknown = [row(1, Write, OpenFile, false, Some(10)), row(1, Write, OpenFile, true, None)];
        assert!(cycles(&unknown).is_empty());
        assert_eq!(unattributed(&unknown), 1);
    }
}
