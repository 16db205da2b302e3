//! `locksfile`: hold indexed locks around a command, hold them for a while, or show who holds
//! what — the shell's side of the `locksfile` library (lock i is byte i of the lock file).

mod deadlock;
mod describe;
mod exit;
mod hold;
mod run;
mod signals;
mod spawn;
mod spec;
mod status;
mod sys;
mod table;
mod take;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use locksfile::{LockMode, LocksFile, Scope};

use crate::exit::{Ending, Failure, EXIT_CONFLICT, EXIT_ERROR};
use crate::signals::Signals;
use crate::spec::{parse_duration, parse_range, Request};
use crate::table::{Columns, Layout};
use crate::take::Wait;

const RANGES: &str = "RANGE is an index (3), a..b (a up to but not including b: 1..4 is 1, 2, 3), a..=b \
                      (1..=3, the same), a.. (a and every index after it), or name:NAME (the lock of \
                      that name: the same index in every language's index_of(NAME)).";

#[derive(Parser)]
#[command(name = "locksfile", version, about = "Indexed inter-process read/write locks: lock i is byte i of a lock file.")]
#[command(after_help = "Examples:
  locksfile run jobs.lock --write 3 -- ./process-item 3
  locksfile run jobs.lock -s 0 -x 1..4 -w 2.5 -- make deploy
  locksfile status jobs.lock
  locksfile hold jobs.lock --write 3 --for 10s")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Take locks, run a command, release them when it exits; end as it ended.
    #[command(after_help = format!("{RANGES}

Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to locksfile run are passed on \
to the command; those a terminal sends (Ctrl-C, Ctrl-\\, hangup) reach the command directly and are \
not sent twice. While the locks are awaited, any of them ends the wait: nothing stays held, the \
command is not started, and locksfile ends by that signal. A signal ignored when locksfile starts \
(nohup) stays ignored, for the command too; the command starts with no signal blocked.

If locksfile run itself dies while the command runs (even by SIGKILL), the command does not go on \
unprotected. With the open-file scope (the default) the command inherits a descriptor of the lock \
file, as flock(1) passes its descriptor, and the locks stay held until the command and whatever it \
started that kept the descriptor have exited. With --scope process, whose classic locks cannot be \
passed on, the command is killed (SIGKILL, by PR_SET_PDEATHSIG) when locksfile run dies.

Exit status: the command's; if a signal killed it, locksfile ends by the same signal after releasing \
the locks (a shell shows 128 + N, and a loop stops on Ctrl-C); 1 when --nonblock finds a lock busy \
or --timeout ends (set with -E), and for a file or lock error; 2 for bad usage; 126/127 when the \
command cannot be run or is not found. A signal that ends the wait ends locksfile by that signal.

Examples:
  locksfile run jobs.lock --write 3 -- ./process-item 3
  locksfile run jobs.lock -x 1..4 -s 0 -n -- ./rebuild        # busy: 1 at once
  locksfile run jobs.lock -x 0 -w 2.5 -E 9 -- ./job           # 9 after 2.5 s"))]
    Run {
        #[command(flatten)]
        locks: LockArgs,
        /// The command and its arguments (after `--`).
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Take locks and keep them until interrupted (Ctrl-C, SIGTERM) or for a while.
    #[command(after_help = format!("{RANGES}

Prints one line on stdout once every lock is held. Exit status as for run, with 0 when the time ends; \
a signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2) ends the hold: the locks are released, \
then locksfile ends by that signal.

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
    #[command(after_help = format!("KIND is OFD (open-file-description locks, which /proc/locks shows with pid -1: \
the pid here comes from /proc/PID/fdinfo, and for a waiting request from the blocked thread's fcntl call), \
POSIX (classic process-owned locks: fcntl.lockf, FileChannel.lock, Process scope) or FLOCK (flock(2), whole file). \
WAITS-FOR lists the holders a waiting request is queued behind. A pid shown as ? belongs to a process this \
user may not inspect. Classic locks of processes outside the pid namespace of /proc (outside this container, \
say) are not in /proc/locks, so they are not shown.

Columns (--output; the default is RANGE,MODE,KIND,STATE,PID,WAITS-FOR,COMMAND):
{}
Examples:
  locksfile status jobs.lock
  locksfile status jobs.lock --raw --noheadings --output pid,range
  locksfile status jobs.lock --json | jq '.locks[] | select(.state == \"held\") | .pid'", table::columns_help()))]
    Status {
        /// The lock file.
        file: PathBuf,
        /// Print JSON: {"file", "locks": [{range, start, end (exclusive; null: open-ended), mode, kind, state, pid, fd, command, waits_for}], "deadlocks", "unattributed_waiters"}.
        #[arg(short = 'J', long, conflicts_with_all = ["noheadings", "output", "raw"])]
        json: bool,
        /// Print no heading line.
        #[arg(short, long)]
        noheadings: bool,
        /// The columns to print, comma-separated, any case (listed below); +LIST adds to the default ones.
        #[arg(short, long, value_name = "LIST", value_parser = table::parse_columns)]
        output: Option<Columns>,
        /// One space between cells, with spaces, backslashes and control characters as \xHH;
        /// whole command lines; deadlocks and notes on stderr.
        #[arg(short, long)]
        raw: bool,
    },
}

#[derive(Args)]
struct LockArgs {
    /// The lock file (created if missing, never truncated).
    file: PathBuf,
    /// Take RANGE exclusive (repeatable).
    #[arg(short = 'x', long, visible_short_alias = 'e', visible_alias = "exclusive", value_name = "RANGE", value_parser = parse_range)]
    write: Vec<locksfile::LockRange>,
    /// Take RANGE shared (repeatable).
    #[arg(short = 's', long, visible_alias = "shared", value_name = "RANGE", value_parser = parse_range)]
    read: Vec<locksfile::LockRange>,
    /// Fail at once if a lock is busy.
    #[arg(short, long, conflicts_with = "timeout")]
    nonblock: bool,
    /// Give up after waiting this long in all: seconds (2.5), or with a unit (500ms, 10s, 2m).
    #[arg(short = 'w', long, visible_alias = "wait", value_name = "SECONDS", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Exit status when --nonblock finds a lock busy or --timeout ends.
    #[arg(short = 'E', long, value_name = "STATUS", default_value_t = EXIT_CONFLICT,
          value_parser = clap::value_parser!(i32).range(0..=255))]
    conflict_exit_code: i32,
    /// Lock owner: open-file (this command's open file; the default) or process (classic POSIX
    /// locks, with the kernel's deadlock detection).
    #[arg(long, value_enum, default_value_t = ScopeArg::OpenFile)]
    scope: ScopeArg,
    /// Prefer writers: while this command waits for a write lock, later --fair readers wait behind
    /// it (a gate byte per index; indices below 2^62). Only the first range waits at the gate.
    #[arg(long)]
    fair: bool,
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
        let file = LocksFile::options().scope(scope).fair(self.fair).open(&self.file)?;
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
    let outcome = match &cli.command {
        // Signals are blocked first thing, before any thread starts (see `signals`).
        Command::Run { locks, command } => Signals::block().and_then(|signals| {
            let (file, requests, wait) = locks.open()?;
            run::run(&file, &requests, wait, locks.conflict_exit_code, command, &signals)
        }),
        Command::Hold { locks, duration } => Signals::block().and_then(|signals| {
            let (file, requests, wait) = locks.open()?;
            hold::hold(&file, &requests, wait, locks.conflict_exit_code, *duration, &signals)
        }),
        Command::Status { file, json, noheadings, output, raw } => status::rows(file).map(|rows| {
            if *json {
                println!("{}", status::json(file, &rows));
            } else {
                let columns = output.as_ref().map_or(&table::DEFAULT[..], |columns| &columns.0[..]);
                let (text, notes) = status::text(file, &rows, columns, Layout { headings: !noheadings, raw: *raw });
                print!("{text}");
                eprint!("{notes}");
            }
            Ending::Status(0)
        }),
    };
    // Every lock file is closed by now (its locks released).
    let ending = outcome.unwrap_or_else(|failure| {
        eprintln!("locksfile: {}", failure.message);
        failure.ending
    });
    match ending {
        Ending::Status(code) => ExitCode::from(u8::try_from(code).unwrap_or(EXIT_ERROR as u8)),
        Ending::Signal(signal) => {
            let _ = std::io::stdout().flush();
            sys::die_by(signal)
        }
    }
}
