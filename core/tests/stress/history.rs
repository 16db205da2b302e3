//! The seeded random numbers and each thread's recent operations.

use std::collections::VecDeque;
use std::fmt::Write as _;

/// splitmix64: small, fast, and good enough to drive a test; one stream per thread and purpose.
pub struct Rng(u64);

impl Rng {
    /// The stream `stream` of `seed` (streams of one seed are unrelated).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407));
        rng.next();
        rng
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index into `weights`, each chosen in proportion to its weight.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut pick = self.below(weights.iter().sum());
        for (index, &weight) in weights.iter().enumerate() {
            if pick < weight {
                return index;
            }
            pick -= weight;
        }
        unreachable!("pick < sum of weights")
    }
}

/// How many operations each thread remembers.
pub const HISTORY: usize = 200;

/// One operation: when it started and ended (shared-clock microseconds), what, and how it ended.
#[derive(Clone)]
pub struct Entry {
    pub start_us: u64,
    pub end_us: Option<u64>,
    pub thread: usize,
    pub text: String,
    pub result: String,
}

/// A thread's last [`HISTORY`] operations.
#[derive(Default)]
pub struct History {
    entries: VecDeque<Entry>,
}

impl History {
    pub fn begin(&mut self, now_us: u64, thread: usize, text: String) {
        if self.entries.len() == HISTORY {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry { start_us: now_us, end_us: None, thread, text, result: String::new() });
    }

    /// Ends the last operation begun.
    pub fn end(&mut self, now_us: u64, result: String) {
        if let Some(last) = self.entries.back_mut() {
            last.end_us = Some(now_us);
            last.result = result;
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

/// Several threads' entries merged in start order, one line each (thread `control` is the
/// worker's control thread: pauses and fork children at quiescence).
pub fn format_merged<'a>(worker: usize, control: usize, entries: impl Iterator<Item = &'a Entry>) -> String {
    let mut entries: Vec<&Entry> = entries.collect();
    entries.sort_by_key(|entry| entry.start_us);
    let mut text = String::new();
    for entry in entries {
        let end = match entry.end_us {
            Some(end) => format!("{:>10.3}", end as f64 / 1000.0),
            None => format!("{:>10}", "(in call)"),
        };
        let thread = match entry.thread {
            thread if thread == control => "ctl".to_owned(),
            thread => format!("t{thread}"),
        };
        let _ = writeln!(
            text,
            "  {:>10.3} {end} ms  w{worker} {thread:<3}  {} -> {}",
            entry.start_us as f64 / 1000.0,
            entry.text,
            entry.result
        );
    }
    text
}
