//! A run's settings, from the environment (the orchestrator passes its own to every worker).

use std::ops::Range;

use locksfile::Scope;

use crate::history::Rng;
use crate::shared::{Layout, Op, MAX_SLOTS, MAX_WORKERS};

pub const SEED_ENV: &str = "LOCKSFILE_STRESS_SEED";
pub const SECONDS_ENV: &str = "LOCKSFILE_STRESS_SECONDS";
pub const PROCESSES_ENV: &str = "LOCKSFILE_STRESS_PROCESSES";
pub const THREADS_ENV: &str = "LOCKSFILE_STRESS_THREADS";
pub const MIX_ENV: &str = "LOCKSFILE_STRESS_MIX";

/// Which operations run, on which handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// Everything: `OpenFile` handles and `Process`-scope views in every process, every handle
    /// shared by every thread (releases and closes race other threads' waits), fork children.
    Full,
    /// As `Full`, with `OpenFile` handles only and no forks.
    OpenFile,
    /// As `Full`, with `Process`-scope views only and no forks.
    Process,
    /// The harness's own control: `OpenFile` handles only, each thread with two handles of its
    /// own, no forks. None of the known triggers; any violation here is the harness's.
    Calm,
}

impl Mix {
    fn from_name(name: &str) -> Mix {
        match name {
            "full" => Mix::Full,
            "open-file" => Mix::OpenFile,
            "process" => Mix::Process,
            "calm" => Mix::Calm,
            other => panic!("{MIX_ENV}={other}: expected full, open-file, process or calm"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mix::Full => "full",
            Mix::OpenFile => "open-file",
            Mix::Process => "process",
            Mix::Calm => "calm",
        }
    }

    /// The handle slots of each worker.
    pub fn scopes(self, threads: usize) -> Vec<Scope> {
        match self {
            Mix::Full => vec![Scope::OpenFile, Scope::OpenFile, Scope::Process, Scope::Process],
            Mix::OpenFile => vec![Scope::OpenFile; 4],
            Mix::Process => vec![Scope::Process; 4],
            Mix::Calm => vec![Scope::OpenFile; 2 * threads],
        }
    }

    /// The slots thread `thread` uses.
    pub fn slots_of_thread(self, thread: usize, slots: usize) -> Range<usize> {
        match self {
            Mix::Calm => 2 * thread..2 * thread + 2,
            _ => 0..slots,
        }
    }

    /// Relative frequency of each op, in `Op::ALL` order.
    pub fn weights(self) -> [u64; Op::ALL.len()] {
        let mut weights = [0; Op::ALL.len()];
        for (weight, op) in weights.iter_mut().zip(Op::ALL) {
            *weight = match op {
                Op::Acquire => 50,
                Op::TryAcquire => 200,
                Op::Timed => 200,
                Op::Convert => 120,
                Op::Release => 300,
                Op::ReleaseAll => 150,
                Op::Close => 30,
                Op::Fork if self.forks() => 4,
                Op::Fork => 0,
                Op::Hold => 100,
            };
        }
        weights
    }

    pub fn forks(self) -> bool {
        self == Mix::Full
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub seed: u64,
    pub seconds: u64,
    pub processes: usize,
    pub threads: usize,
    pub mix: Mix,
}

impl Settings {
    /// From the environment; a fresh random seed unless one is given.
    pub fn from_env() -> Settings {
        let seed = match std::env::var(SEED_ENV) {
            Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{SEED_ENV}={text}: expected a u64")),
            Err(_) => fresh_seed(),
        };
        let settings = Settings {
            seed,
            seconds: number(SECONDS_ENV, 60),
            processes: number(PROCESSES_ENV, 4) as usize,
            threads: number(THREADS_ENV, 3) as usize,
            mix: Mix::from_name(&std::env::var(MIX_ENV).unwrap_or_else(|_| "full".into())),
        };
        assert!((1..=MAX_WORKERS).contains(&settings.processes), "{PROCESSES_ENV}: 1 to {MAX_WORKERS}");
        assert!(settings.threads >= 1, "{THREADS_ENV}: at least 1");
        assert!(settings.mix.scopes(settings.threads).len() <= MAX_SLOTS, "too many threads for the calm mix's slots");
        settings
    }

    /// The variables that give a worker these settings.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (SEED_ENV, self.seed.to_string()),
            (SECONDS_ENV, self.seconds.to_string()),
            (PROCESSES_ENV, self.processes.to_string()),
            (THREADS_ENV, self.threads.to_string()),
            (MIX_ENV, self.mix.name().to_owned()),
        ]
    }

    pub fn layout(&self) -> Layout {
        Layout { workers: self.processes, scopes: self.mix.scopes(self.threads) }
    }

    /// The command that runs these settings again.
    pub fn reproduce(&self) -> String {
        let variables: Vec<String> = self.to_env().into_iter().map(|(name, value)| format!("{name}={value}")).collect();
        format!("{} cargo test -p locksfile --test stress -- --nocapture", variables.join(" "))
    }
}

fn number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text}: expected a number")),
        Err(_) => default,
    }
}

fn fresh_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Rng::new(now.as_nanos() as u64 ^ u64::from(std::process::id()) << 40, 0).next()
}
