//! `locksfile`: hold indexed locks around a command, hold them for a while, or show who holds
//! what — the shell's side of the `locksfile` library (lock i is byte i of the lock file).

mod deadlock;
mod describe;
mod exit;
mod hold;
mod run;
mod signals;
mod spec;
mod status;
mod take;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use locksfile::{LockMode, LocksFile, Scope};

use crate::exit::{Failure, EXIT_CONFLICT, EXIT_ERROR};
use crate::spec::{parse_duration, parse_range, Request};
use crate::take::Wait;

const RANGES: &str = "RANGE is an index (3), a..b (a up to but not including b: 1..4 is 1, 2, 3), a..=b \
                      (1..=3, the same), a.. (a and every index after it), or name:NAME (the lock of \
                      that name: the same index in every language's index_of(NAME)).";

#[derive(Parser)]
#[command(name = "locksfile", version, about = "Indexed inter-process read/write locks: lock i is byte i of a lock file.")]
#[command(after_help = "Examples:
  locksfile run jobs.lock --write 3 -- ./process-item 3
  locksfile run jobs.lock --read 0 --write 1..4 --timeout 2.5 -- make deploy
  locksfile status jobs.lock
  locksfile hold jobs.lock --write 3 --for 10s")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Take locks, run a command, release them when it exits; exit with its status.
    #[command(after_help = format!("{RANGES}

Exit status: the command's (128 + N if signal N killed it); 75 when --nonblock finds a lock busy or \
--timeout ends (set with -E); 128 + N when signal N (Ctrl-C: 130) ends the wait; 1 for a file or lock \
error; 2 for bad usage; 126/127 when the command cannot be run or is not found.

Examples:
  locksfile run jobs.lock --write 3 -- ./process-item 3
  locksfile run jobs.lock --write 1..4 --read 0 --nonblock -- ./rebuild   # busy: 75 at once
  locksfile run jobs.lock --write 0 --timeout 2.5 -E 9 -- ./job     # 9 after 2.5 s"))]
    Run {
        #[command(flatten)]
        locks: LockArgs,
        /// The command and its arguments (after `--`).
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Take locks and keep them until interrupted (Ctrl-C, SIGTERM) or for a while; exit 0.
    #[command(after_help = format!("{RANGES}

Prints one line on stdout once every lock is held. Exit status as for run, with 0 when the time ends \
or a signal ends the hold.

Examples:
  locksfile hold jobs.lock --write 3               # until Ctrl-C
  locksfile hold jobs.lock --read 0..10 --for 30s"))]
    Hold {
        #[command(flatten)]
        locks: LockArgs,
        /// How long to hold: seconds (2.5) or with a unit (500ms, 10s, 2m, 1h); default until interrupted.
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
        duration: Option<Duration>,
    },
    /// Every lock on a file and every request waiting for one, with the processes behind them.
    #[command(after_help = "KIND is OFD (open-file-description locks, which /proc/locks shows with pid -1: \
the pid here comes from /proc/PID/fdinfo, and for a waiting request from the blocked thread's fcntl call), \
POSIX (classic process-owned locks: fcntl.lockf, FileChannel.lock, Process scope) or FLOCK (flock(2), whole file). \
WAITS FOR lists the holders a waiting request is queued behind. A pid shown as ? belongs to a process this \
user may not inspect. Classic locks of processes outside the pid namespace of /proc (outside this container, \
say) are not in /proc/locks, so they are not shown.

Examples:
  locksfile status jobs.lock
  locksfile status jobs.lock --json | jq '.locks[] | select(.state == \"held\") | .pid'")]
    Status {
        /// The lock file.
        file: PathBuf,
        /// Print JSON: {\"file\", \"locks\": [{range, start, end (exclusive; null: open-ended), mode, kind, state, pid, fd, command, waits_for}]}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct LockArgs {
    /// The lock file (created if missing, never truncated).
    file: PathBuf,
    /// Take RANGE exclusive (repeatable).
    #[arg(short, long, value_name = "RANGE", value_parser = parse_range)]
    write: Vec<locksfile::LockRange>,
    /// Take RANGE shared (repeatable).
    #[arg(short, long, value_name = "RANGE", value_parser = parse_range)]
    read: Vec<locksfile::LockRange>,
    /// Fail at once if a lock is busy.
    #[arg(short, long, conflicts_with = "timeout")]
    nonblock: bool,
    /// Give up after waiting this long in all: seconds (2.5) or with a unit (500ms, 10s, 2m).
    #[arg(short, long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Exit status when --nonblock finds a lock busy or --timeout ends.
    #[arg(short = 'E', long, value_name = "STATUS", default_value_t = EXIT_CONFLICT,
          value_parser = clap::value_parser!(i32).range(0..=255))]
    conflict_exit_code: i32,
    /// Lock owner: open-file (this command's open file; the default) or process (classic POSIX
    /// locks, with the kernel's deadlock detection).
    #[arg(long, value_enum, default_value_t = ScopeArg::OpenFile)]
    scope: ScopeArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    OpenFile,
    Process,
}

impl LockArgs {
    fn open(&self) -> Result<(LocksFile, Vec<Request>, Wait), Failure> {
        let requests = self
            .write
            .iter()
            .map(|&range| Request { mode: LockMode::Write, range })
            .chain(self.read.iter().map(|&range| Request { mode: LockMode::Read, range }))
            .collect();
        let requests = spec::ordered(requests).map_err(|message| Failure::new(2, message))?;
        let scope = match self.scope {
            ScopeArg::OpenFile => Scope::OpenFile,
            ScopeArg::Process => Scope::Process,
        };
        let file = LocksFile::options().scope(scope).open(&self.file)?;
        let wait = match (self.nonblock, self.timeout) {
            (true, _) => Wait::NonBlock,
            (false, Some(timeout)) => Wait::Timeout(timeout),
            (false, None) => Wait::Block,
        };
        Ok((file, requests, wait))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    signals::install();
    let outcome = match &cli.command {
        Command::Run { locks, command } => {
            locks.open().and_then(|(file, requests, wait)| run::run(&file, &requests, wait, locks.conflict_exit_code, command))
        }
        Command::Hold { locks, duration } => {
            locks.open().and_then(|(file, requests, wait)| hold::hold(&file, &requests, wait, locks.conflict_exit_code, *duration))
        }
        Command::Status { file, json } => status::rows(file).map(|rows| {
            if *json {
                println!("{}", status::json(file, &rows));
            } else {
                print!("{}", status::table(file, &rows));
            }
            0
        }),
    };
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)),
        Err(failure) => {
            eprintln!("locksfile: {}", failure.message);
            ExitCode::from(u8::try_from(failure.code).unwrap_or(EXIT_ERROR as u8))
        }
    }
}
