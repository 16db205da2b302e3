//! Signals and `locksfile run`, sent for real and observed from outside: Ctrl-C typed on a
//! terminal, signals sent to it with kill(2), at chosen states and at random moments.

mod common;

use std::io::{BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::sys::{self, kill};
use common::{all_free, any_in, ended, how, locks, locksfile_process, next_line, status_json, status_when, temp_file, Background};

const PASSED_ON: [(i32, &str); 6] = [
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
];

/// Prints its pid, then waits for stdin to end: only a signal ends it early.
const WAITS: [&str; 4] = ["sh", "-c", "echo $$; exec cat", "sh"];

/// A Python command that reports, on stdout, each SIGINT and SIGUSR1 it gets; it goes on after a
/// SIGINT (as an interactive program does) and exits 0 after a SIGUSR1.
const REPORTS_SIGNALS: &str = "import signal, sys
def on(number, frame):
    print(signal.Signals(number).name, flush=True)
    if number == signal.SIGUSR1:
        sys.exit(0)
signal.signal(signal.SIGINT, on)
signal.signal(signal.SIGUSR1, on)
print('ready', flush=True)
while True:
    signal.pause()";

#[test]
fn ctrl_c_on_a_terminal_ends_the_command_and_then_run_by_the_same_signal() {
    let path = temp_file("ctrl-c-terminal");
    let (near, far) = sys::pseudo_terminal();
    let mut args = vec!["run", path.to_str().unwrap(), "-x", "0", "--"];
    args.extend(WAITS);
    let mut command = locksfile_process(&args);
    command.stdin(far).stdout(Stdio::piped());
    sys::terminal_session(&mut command);
    let mut run = Background(command.spawn().unwrap());
    let mut out = BufReader::new(run.stdout.take().unwrap());
    let pid: u32 = next_line(&mut out).parse().unwrap();
    let mut terminal = std::fs::File::from(near);
    terminal.write_all(b"\x03").unwrap(); // Ctrl-C: SIGINT to the terminal's foreground group
    let status = ended(&mut run);
    assert_eq!(status.signal(), Some(libc::SIGINT), "{}", how(status));
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the command {pid} is still there");
    assert!(all_free(&path), "{}", status_json(&path));
}

#[test]
fn ctrl_c_on_a_terminal_reaches_a_command_that_handles_it_once_and_its_status_counts() {
    let path = temp_file("ctrl-c-handled");
    let (near, far) = sys::pseudo_terminal();
    let mut command = locksfile_process(&["run", path.to_str().unwrap(), "-x", "0", "--", "python3", "-c", REPORTS_SIGNALS]);
    command.stdin(far).stdout(Stdio::piped());
    sys::terminal_session(&mut command);
    let mut run = Background(command.spawn().unwrap());
    let mut out = BufReader::new(run.stdout.take().unwrap());
    assert_eq!(next_line(&mut out), "ready");
    let mut terminal = std::fs::File::from(near);
    terminal.write_all(b"\x03").unwrap();
    assert_eq!(next_line(&mut out), "SIGINT");
    // The command went on: so does run. A signal sent to run itself is passed on; it comes after
    // any copy of the SIGINT that run might have passed on wrongly, so that copy would show.
    kill(run.id(), libc::SIGUSR1);
    assert_eq!(next_line(&mut out), "SIGUSR1");
    let status = ended(&mut run);
    assert_eq!(status.code(), Some(0), "{}", how(status));
    assert_eq!(next_line(&mut out), "", "nothing more from the command");
    assert!(all_free(&path));
}

#[test]
fn run_does_not_pass_on_what_a_terminal_sent_to_the_whole_group() {
    let path = temp_file("ctrl-c-not-twice");
    let (near, far) = sys::pseudo_terminal();
    // The command leaves the terminal's foreground group: Ctrl-C reaches run alone, and only a
    // copy passed on by run could reach the command.
    let script = format!("import os\nos.setpgid(0, 0)\n{REPORTS_SIGNALS}");
    let mut command = locksfile_process(&["run", path.to_str().unwrap(), "-x", "0", "--", "python3", "-c", &script]);
    command.stdin(far).stdout(Stdio::piped());
    sys::terminal_session(&mut command);
    let mut run = Background(command.spawn().unwrap());
    let mut out = BufReader::new(run.stdout.take().unwrap());
    assert_eq!(next_line(&mut out), "ready");
    let mut terminal = std::fs::File::from(near);
    terminal.write_all(b"\x03").unwrap();
    // The terminal echoes ^C once it has sent the signal.
    let mut echo = Vec::new();
    while !String::from_utf8_lossy(&echo).contains("^C") {
        let mut byte = [0; 1];
        assert_eq!(terminal.read(&mut byte).unwrap(), 1);
        echo.push(byte[0]);
    }
    // run reads its pending signals lowest first: a SIGINT passed on would precede this.
    kill(run.id(), libc::SIGUSR1);
    assert_eq!(next_line(&mut out), "SIGUSR1");
    let status = ended(&mut run);
    assert_eq!(status.code(), Some(0), "{}", how(status));
}

#[test]
fn every_terminating_signal_sent_to_run_is_passed_on_and_run_ends_by_it() {
    let path = temp_file("passed-on");
    for (signal, name) in PASSED_ON {
        let mut args = vec!["run", path.to_str().unwrap(), "-x", "0..3", "--"];
        args.extend(WAITS);
        let mut run = Background(locksfile_process(&args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap());
        let mut out = BufReader::new(run.stdout.take().unwrap());
        let pid: u32 = next_line(&mut out).parse().unwrap();
        let command = sys::ProcessHandle::open(pid).expect("the command runs");
        kill(run.id(), signal);
        let status = ended(&mut run);
        assert_eq!(status.signal(), Some(signal), "{name}: {}", how(status));
        assert!(command.wait_gone(common::BOUND), "{name}: the command {pid} is still there");
        assert!(all_free(&path), "{name}: {}", status_json(&path));
    }
}

#[test]
fn a_command_that_handles_the_signal_decides_how_run_ends() {
    let path = temp_file("handled");
    let script = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\nprint('ready', flush=True)\nwhile True:\n    signal.pause()";
    let mut run = Background(locksfile_process(&["run", path.to_str().unwrap(), "-x", "0", "--", "python3", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    let mut out = BufReader::new(run.stdout.take().unwrap());
    assert_eq!(next_line(&mut out), "ready");
    kill(run.id(), libc::SIGTERM);
    let status = ended(&mut run);
    assert_eq!(status.code(), Some(3), "{}", how(status));
}

#[test]
fn a_signal_during_the_wait_ends_it_and_the_command_never_starts() {
    let path = temp_file("signal-in-wait");
    let started = path.with_file_name("started");
    let _holder = common::hold(&path, &["--write", "0"]);
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let touch = format!("touch {}", started.display());
        let mut waiter = Background(
            locksfile_process(&["run", path.to_str().unwrap(), "-x", "1", "-x", "0", "--", "sh", "-c", &touch])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let waiter_pid = waiter.id();
        let status = status_when(&path, |s| any_in(s, "waiting"));
        let waiting: Vec<_> = locks(&status).iter().filter(|l| l["state"] == "waiting").collect();
        assert_eq!(waiting.len(), 1, "{status}");
        assert_eq!(waiting[0]["pid"], waiter_pid);
        kill(waiter_pid, signal);
        let ending = ended(&mut waiter);
        assert_eq!(ending.signal(), Some(signal), "{name}: {}", how(ending));
        let mut message = String::new();
        waiter.stderr.take().unwrap().read_to_string(&mut message).unwrap();
        assert_eq!(message, format!("locksfile: interrupted by {name} while waiting for write lock on 0 of {}\n", path.display()));
        assert!(!started.exists(), "{name}: the command ran");
        // Nothing of the waiter's is left: not the wait, not index 1 it had taken first.
        let status = status_json(&path);
        assert_eq!(locks(&status).len(), 1, "{status}");
    }
}

/// xorshift64*: the tests' own seeded generator.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn a_signal_at_any_moment_is_never_lost_and_never_lets_the_command_run_on() {
    let seed = std::env::var("LOCKSFILE_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("seed {seed} (LOCKSFILE_TEST_SEED={seed} repeats this run)");
    let mut random = Random(seed);
    let path = temp_file("random-moments");
    let started = path.with_file_name("started");
    let mut commands_started = 0;
    for round in 0..40 {
        // Half the rounds find the lock busy, so the signal may land in the wait.
        let holder = (random.next() % 2 == 0).then(|| common::hold(&path, &["--write", "0"]));
        let (signal, name) = PASSED_ON[(random.next() % PASSED_ON.len() as u64) as usize];
        let script = format!("echo $$ >> {}; exec cat", started.display());
        let mut run = Background(locksfile_process(&["run", path.to_str().unwrap(), "-x", "0", "--", "sh", "-c", &script])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap());
        // A random moment from its start to well after the command's: an injection point, not a
        // wait for anything.
        for _ in 0..random.next() % 3_000_000 {
            std::hint::spin_loop();
        }
        kill(run.id(), signal);
        let status = ended(&mut run); // a lost signal would leave the command and run waiting
        assert_eq!(status.signal(), Some(signal), "seed {seed} round {round} {name}: {}", how(status));
        let pids = std::fs::read_to_string(&started).unwrap_or_default();
        commands_started += usize::from(!pids.is_empty());
        for pid in pids.lines() {
            let pid: u32 = pid.parse().unwrap();
            assert!(
                sys::ProcessHandle::open(pid).map_or(true, |command| command.wait_gone(common::BOUND)),
                "seed {seed} round {round} {name}: the command {pid} runs on"
            );
        }
        let _ = std::fs::remove_file(&started);
        drop(holder);
        assert!(all_free(&path), "seed {seed} round {round}: {}", status_json(&path));
    }
    eprintln!("the command had started in {commands_started} of 40 rounds");
}

#[test]
fn the_command_starts_with_no_signal_blocked_and_the_dispositions_it_would_have_had() {
    let path = temp_file("clean-start");
    let masks = |output: std::process::Output| -> Vec<String> {
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|line| line.starts_with("SigBlk") || line.starts_with("SigIgn"))
            .map(str::to_owned)
            .collect()
    };
    // The same command run directly, from the same signal settings.
    let mut cat = std::process::Command::new("cat");
    cat.arg("/proc/self/status");
    sys::plain_signals(&mut cat);
    let direct = masks(cat.output().unwrap());
    let under = masks(locksfile_process(&["run", path.to_str().unwrap(), "-x", "0", "--", "cat", "/proc/self/status"]).output().unwrap());
    assert_eq!(under[0], "SigBlk:\t0000000000000000");
    assert_eq!(under, direct);
}

#[test]
fn hold_releases_then_ends_by_the_signal_that_ends_it() {
    let path = temp_file("hold-signal");
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let mut holder = Background(locksfile_process(&["hold", path.to_str().unwrap(), "-x", "2"]).stdout(Stdio::piped()).spawn().unwrap());
        let mut out = BufReader::new(holder.stdout.take().unwrap());
        assert!(next_line(&mut out).starts_with("holding write lock on 2 of "));
        kill(holder.id(), signal);
        let status = ended(&mut holder);
        assert_eq!(status.signal(), Some(signal), "{name}: {}", how(status));
        assert!(all_free(&path), "{name}: {}", status_json(&path));
    }
}

#[test]
fn a_signal_ignored_on_entry_stays_ignored_for_run_and_the_command() {
    let path = temp_file("ignored");
    let mut command = locksfile_process(&["run", path.to_str().unwrap(), "-x", "0", "--", "sh", "-c", "echo $$; grep SigIgn /proc/$$/status; exec cat"]);
    sys::ignoring(&mut command, libc::SIGHUP); // as nohup does
    let mut run = Background(command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap());
    let mut out = BufReader::new(run.stdout.take().unwrap());
    let _pid = next_line(&mut out);
    let ignored = u64::from_str_radix(next_line(&mut out).trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_eq!(ignored & (1 << (libc::SIGHUP - 1)), 1 << (libc::SIGHUP - 1), "the command's SIGHUP is not ignored");
    // Had SIGHUP been taken and passed on, it would end the command first (lowest signal first).
    kill(run.id(), libc::SIGHUP);
    kill(run.id(), libc::SIGTERM);
    let status = ended(&mut run);
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{}", how(status));
}

#[test]
fn an_ignored_sigchld_on_entry_does_not_lose_the_commands_status() {
    let path = temp_file("sigchld-ignored");
    let mut command = locksfile_process(&["run", path.to_str().unwrap(), "-x", "0", "--", "sh", "-c", "exit 4"]);
    sys::ignoring(&mut command, libc::SIGCHLD);
    let mut run = Background(command.spawn().unwrap());
    let status = ended(&mut run);
    assert_eq!(status.code(), Some(4), "{}", how(status));
}
