//! The `locksfile` command run as a user runs it: other processes (other `locksfile` commands,
//! Python's `fcntl.lockf`) hold the locks, and exit statuses and messages are checked from outside.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command as Cmd;
use serde_json::Value;

fn locksfile() -> Cmd {
    Cmd::cargo_bin("locksfile").unwrap()
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("locksfile-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("test.lock")
}

/// A background process that holds locks until dropped (killed).
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Background {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

/// `locksfile hold FILE ARGS…`, returned once it says it holds everything.
fn hold(path: &Path, args: &[&str]) -> Background {
    let mut child = Command::cargo_bin("locksfile")
        .unwrap()
        .arg("hold")
        .arg(path)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("holding "), "{line}");
    assert!(line.contains(&format!("(pid {})", child.id())), "{line}");
    Background(child)
}

/// A Python process holding a classic lock through the standard library's `fcntl.lockf`.
fn lockf(path: &Path, start: u64, count: u64, exclusive: bool) -> Background {
    let kind = if exclusive { "LOCK_EX" } else { "LOCK_SH" };
    let script = format!(
        "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR)\nfcntl.lockf(fd, fcntl.{kind}, {count}, {start})\nprint('held', flush=True)\ntime.sleep(60)"
    );
    let mut child = Command::new("python3").arg("-c").arg(script).arg(path).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "held");
    Background(child)
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn status_json(path: &Path) -> Value {
    let output = locksfile().arg("status").arg(path).arg("--json").output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Polls `status --json` until `ready` holds (a waiting request takes a moment to queue).
fn status_when(path: &Path, ready: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let status = status_json(path);
        if ready(&status) || started.elapsed() > Duration::from_secs(20) {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_holds_its_locks_while_the_command_runs_and_excludes_another_run() {
    let path = temp_file("exclude");
    let lock = path.to_str().unwrap();
    let me = env!("CARGO_BIN_EXE_locksfile");
    // The command itself tries the same lock from a second `locksfile run`: busy, status 75.
    let output = locksfile()
        .args(["run", lock, "--write", "0..3", "--", me, "run", lock, "--write", "2", "--nonblock", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(75), "{}", stderr_of(&output));
    let message = stderr_of(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.starts_with(&format!("locksfile: write lock on 2 of {lock} is busy: pid ")), "{message}");
    assert!(message.contains("holds write 0..3"), "{message}");
    // Released when the command ended.
    locksfile().args(["run", lock, "--write", "0..3", "--nonblock", "--", "true"]).assert().code(0);
}

#[test]
fn run_passes_the_commands_exit_status_through() {
    let path = temp_file("status");
    let lock = path.to_str().unwrap();
    locksfile().args(["run", lock, "-w", "1", "--", "sh", "-c", "exit 7"]).assert().code(7);
    locksfile().args(["run", lock, "-w", "1", "--", "sh", "-c", "kill -9 $$"]).assert().code(128 + 9);
    locksfile().args(["run", lock, "-w", "1", "--", "sh", "-c", "echo out; echo err >&2"]).assert().code(0).stdout("out\n").stderr("err\n");
    let missing = locksfile().args(["run", lock, "-w", "1", "--", "/no/such/command"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(127));
    assert!(stderr_of(&missing).starts_with("locksfile: cannot run /no/such/command: "), "{}", stderr_of(&missing));
}

#[test]
fn nonblock_and_timeout_give_the_conflict_status_naming_the_holder() {
    let path = temp_file("conflict");
    let lock = path.to_str().unwrap();
    let holder = hold(&path, &["--write", "5"]);
    let busy = locksfile().args(["run", lock, "--write", "3..8", "--nonblock", "--", "true"]).output().unwrap();
    assert_eq!(busy.status.code(), Some(75));
    assert!(stderr_of(&busy).contains(&format!("write lock on 3..8 of {lock} is busy: pid {} (", holder.pid())), "{}", stderr_of(&busy));

    let started = Instant::now();
    let timed = locksfile().args(["run", lock, "--write", "5", "--timeout", "300ms", "-E", "9", "--", "true"]).output().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(timed.status.code(), Some(9));
    assert!(stderr_of(&timed).starts_with("locksfile: timed out after 0.3 s waiting for write lock on 5 of "), "{}", stderr_of(&timed));
    assert!(stderr_of(&timed).contains(&format!("pid {} (", holder.pid())));

    // Read locks are shared; neither failed attempt left anything behind.
    locksfile().args(["run", lock, "--read", "0..5", "--read", "6..", "--nonblock", "--", "true"]).assert().code(0);
    let status = status_json(&path);
    assert_eq!(status["locks"].as_array().unwrap().len(), 1, "{status}");
}

#[test]
fn all_or_nothing_across_ranges() {
    let path = temp_file("all-or-nothing");
    let lock = path.to_str().unwrap();
    let _holder = hold(&path, &["--write", "9"]);
    locksfile().args(["run", lock, "--write", "1", "--write", "9", "--nonblock", "--", "true"]).assert().code(75);
    // Index 1, taken first, was let go when 9 was busy.
    let status = status_json(&path);
    let ranges: Vec<&str> = status["locks"].as_array().unwrap().iter().map(|l| l["range"].as_str().unwrap()).collect();
    assert_eq!(ranges, ["9"]);
}

#[test]
fn ctrl_c_ends_a_wait_cleanly() {
    let path = temp_file("ctrl-c");
    let _holder = hold(&path, &["--write", "0"]);
    let waiter = Command::cargo_bin("locksfile")
        .unwrap()
        .args(["run", path.to_str().unwrap(), "--write", "1", "--write", "0", "--", "true"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiter_pid = waiter.id();
    let status = status_when(&path, |s| s["locks"].as_array().unwrap().iter().any(|l| l["state"] == "waiting"));
    let waiting: Vec<&Value> = status["locks"].as_array().unwrap().iter().filter(|l| l["state"] == "waiting").collect();
    assert_eq!(waiting.len(), 1, "{status}");
    assert_eq!(waiting[0]["pid"], waiter_pid);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(waiter_pid as i32, libc::SIGINT) };
    let output = waiter.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert_eq!(stderr_of(&output), format!("locksfile: interrupted by SIGINT while waiting for write lock on 0 of {}\n", path.display()));
    // Nothing of the waiter's is left: not the wait, not index 1 it had taken first.
    let status = status_json(&path);
    assert_eq!(status["locks"].as_array().unwrap().len(), 1, "{status}");
}

#[test]
fn hold_ends_when_its_time_is_up() {
    let path = temp_file("hold-for");
    let started = Instant::now();
    locksfile().args(["hold", path.to_str().unwrap(), "--write", "2", "--for", "200ms"]).assert().code(0);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(status_json(&path)["locks"].as_array().unwrap().len(), 0);
}

#[test]
fn status_names_every_holder_and_waiter_with_its_pid() {
    let path = temp_file("status-table");
    let ofd = hold(&path, &["--write", "0..4", "--read", "10"]);
    let classic = hold(&path, &["--read", "10", "--scope", "process"]);
    let python = lockf(&path, 20, 2, true);
    let waiter = Command::cargo_bin("locksfile")
        .unwrap()
        .args(["run", path.to_str().unwrap(), "--write", "2", "--", "true"])
        .spawn()
        .unwrap();
    let waiter = Background(waiter);
    let status = status_when(&path, |s| s["locks"].as_array().unwrap().iter().any(|l| l["state"] == "waiting"));
    let rows: Vec<(String, String, String, String, u64, Vec<u64>)> = status["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["range"].as_str().unwrap().to_owned(),
                l["mode"].as_str().unwrap().to_owned(),
                l["kind"].as_str().unwrap().to_owned(),
                l["state"].as_str().unwrap().to_owned(),
                l["pid"].as_u64().unwrap(),
                l["waits_for"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect(),
            )
        })
        .collect();
    let row = |range: &str, mode: &str, kind: &str, state: &str, pid: u32, waits: &[u32]| {
        (range.to_owned(), mode.to_owned(), kind.to_owned(), state.to_owned(), u64::from(pid), waits.iter().map(|&p| u64::from(p)).collect::<Vec<u64>>())
    };
    let mut expected = vec![
        row("0..4", "write", "OFD", "held", ofd.pid(), &[]),
        row("10", "read", "OFD", "held", ofd.pid(), &[]),
        row("10", "read", "POSIX", "held", classic.pid(), &[]),
        row("20..22", "write", "POSIX", "held", python.pid(), &[]),
        row("2", "write", "OFD", "waiting", waiter.pid(), &[ofd.pid()]),
    ];
    let mut rows = rows;
    rows.sort();
    expected.sort();
    assert_eq!(rows, expected, "{status}");
    for lock in status["locks"].as_array().unwrap() {
        let command = lock["command"].as_str().unwrap();
        assert!(command.contains("locksfile") || command.contains("python3"), "{command}");
    }

    let table = locksfile().arg("status").arg(&path).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["RANGE", "MODE", "KIND", "STATE", "PID", "WAITS", "FOR", "COMMAND"]);
    assert_eq!(lines.len(), 6, "{table}");
    assert!(lines[5].starts_with("2 "), "{table}");
    assert!(lines[5].contains(&format!(" waiting  {} ", waiter.pid())), "{table}");
}

#[test]
fn bad_input_is_one_line_and_a_status() {
    let path = temp_file("bad-input");
    let lock = path.to_str().unwrap();
    let cases: [(&[&str], i32, &str); 7] = [
        (&["run", lock, "--write", "5..2", "--", "true"], 2, "empty range"),
        (&["run", lock, "--write", "x", "--", "true"], 2, "not a lock index"),
        (&["run", lock, "--", "true"], 2, "give at least one lock"),
        (&["run", lock, "--write", "1..4", "--read", "3", "--", "true"], 2, "overlap"),
        (&["run", "/no/such/dir/x.lock", "--write", "1", "--", "true"], 1, "its directory does not exist"),
        (&["status", "/no/such/file.lock"], 1, "No such file"),
        (&["hold", lock, "--write", "1", "--for", "soon"], 2, "not a duration"),
    ];
    for (args, code, words) in cases {
        let output = locksfile().args(args).output().unwrap();
        let message = stderr_of(&output);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {message}");
        assert!(message.contains(words), "{args:?}: {message}");
        assert!(!message.contains("panicked") && !message.contains("backtrace"), "{message}");
    }
    // A directory is refused by both commands.
    let dir = path.parent().unwrap().to_str().unwrap();
    for args in [&["status", dir][..], &["run", dir, "--write", "1", "--", "true"]] {
        let output = locksfile().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stderr_of(&output).lines().count(), 1);
        assert!(stderr_of(&output).contains("is a directory"), "{}", stderr_of(&output));
    }
}

#[test]
fn status_finds_locks_on_a_file_whose_st_dev_is_not_its_file_systems_device() {
    // In a mount namespace of its own, an overlay of two tmpfs layers without xino: stat gives its
    // files the lower layer's device, while /proc/locks names them by the overlay's.
    let dir = temp_file("overlay").parent().unwrap().to_owned();
    let script = r#"set -e; cd "$1"; mkdir lower upper merged; mount -t tmpfs lower lower; mount -t tmpfs upper upper
mkdir upper/data upper/work; : > lower/test.lock
mount -t overlay overlay -o "lowerdir=$PWD/lower,upperdir=$PWD/upper/data,workdir=$PWD/upper/work,xino=off" merged
mkfifo ready
"$0" hold merged/test.lock --write 3 --scope process > ready &
read -r line < ready
echo "holder $!"
"$0" status merged/test.lock --json
kill $!"#;
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script, env!("CARGO_BIN_EXE_locksfile")])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (holder, status) = stdout.split_once('\n').unwrap();
    let holder: u64 = holder.strip_prefix("holder ").unwrap().parse().unwrap();
    let status: Value = serde_json::from_str(status).unwrap();
    let locks = status["locks"].as_array().unwrap();
    assert_eq!(locks.len(), 1, "{status}");
    assert_eq!(
        (locks[0]["range"].as_str(), locks[0]["kind"].as_str(), locks[0]["pid"].as_u64()),
        (Some("3"), Some("POSIX"), Some(holder))
    );
}

/// A Python process taking open-file-description locks with the standard library's `fcntl`
/// (`F_OFD_SETLK`/`F_OFD_SETLKW`): it holds `hold`, says so, then waits for `wait` once told to.
fn ofd_hold_then_wait(path: &Path, hold: u64, wait: u64) -> (Background, std::process::ChildStdin) {
    let script = format!(
        "import fcntl, os, struct, sys\n\
         fd = os.open(sys.argv[1], os.O_RDWR)\n\
         lock = lambda start: struct.pack('hh4xqqi4x', fcntl.F_WRLCK, os.SEEK_SET, start, 1, 0)\n\
         fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock({hold}))\n\
         print('held', flush=True)\n\
         sys.stdin.readline()\n\
         fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, lock({wait}))\n"
    );
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "held");
    let go = child.stdin.take().unwrap();
    (Background(child), go)
}

#[test]
fn status_names_a_deadlock_of_open_file_description_waiters() {
    use std::io::Write;
    let path = temp_file("deadlock");
    std::fs::write(&path, b"").unwrap();
    let (first, mut first_go) = ofd_hold_then_wait(&path, 1, 2);
    let (second, mut second_go) = ofd_hold_then_wait(&path, 2, 1);
    for go in [&mut first_go, &mut second_go] {
        writeln!(go, "go").unwrap();
        go.flush().unwrap();
    }
    // Both wait now, each for the other (the kernel never checks OFD waits: they hang).
    let document = status_when(&path, |doc| doc["locks"].as_array().unwrap().iter().filter(|l| l["state"] == "waiting").count() == 2);
    let cycle: Vec<u64> = document["deadlocks"][0].as_array().unwrap().iter().map(|pid| pid.as_u64().unwrap()).collect();
    assert_eq!(document["deadlocks"].as_array().unwrap().len(), 1, "{document}");
    let mut pids = cycle.clone();
    pids.sort_unstable();
    let mut expected = vec![u64::from(first.pid()), u64::from(second.pid())];
    expected.sort_unstable();
    assert_eq!(pids, expected);
    let table = String::from_utf8(locksfile().arg("status").arg(&path).output().unwrap().stdout).unwrap();
    let (a, b) = (cycle[0], cycle[1]);
    assert!(table.contains(&format!("DEADLOCK: pid {a} waits for {b} waits for {a}")), "{table}");
}

#[test]
fn a_name_is_one_lock_for_every_command_and_different_names_are_not() {
    let path = temp_file("names");
    let _holder = hold(&path, &["--write", "name:dataset-42"]);
    let busy = locksfile().args(["run"]).arg(&path).args(["--write", "name:dataset-42", "--nonblock", "--", "true"]).output().unwrap();
    assert_eq!(busy.status.code(), Some(75), "{}", stderr_of(&busy));
    let other = locksfile().args(["run"]).arg(&path).args(["--write", "name:dataset-43", "--nonblock", "--", "true"]).output().unwrap();
    assert!(other.status.success(), "{}", stderr_of(&other));
    // status shows the index the name maps to (the same in every language: index_of).
    let document = status_json(&path);
    assert_eq!(document["locks"][0]["start"], locksfile::index_of("dataset-42"));
}
