//! `locksfile run` killed with SIGKILL while its command runs: the command never goes on
//! unprotected. Open-file scope: the command holds the locks through the descriptor it inherited,
//! until it exits. Process scope: the command is killed with run.

mod common;

use std::io::BufReader;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::sys::{kill, ProcessHandle};
use common::{ended, how, locks, locksfile, locksfile_process, next_line, status_json, status_when, temp_file, Background, BOUND};

/// `locksfile run FILE ARGS… -- sh -c 'echo $$; exec cat'`, once the command runs: the process,
/// its stdout, and the command's pid. The command ends when its stdin does, or by a signal.
fn run_waiting_command(path: &std::path::Path, args: &[&str]) -> (Background, u32) {
    let mut all = vec!["run", path.to_str().unwrap()];
    all.extend(args);
    all.extend(["--", "sh", "-c", "echo $$; exec cat"]);
    let mut run = Background(locksfile_process(&all).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap());
    let mut out = BufReader::new(run.stdout.take().unwrap());
    let pid = next_line(&mut out).parse().unwrap();
    (run, pid)
}

#[test]
fn open_file_scope_the_command_keeps_the_locks_held_after_run_is_killed_until_it_exits() {
    let path = temp_file("kill-open-file");
    let lock = path.to_str().unwrap();
    let (mut run, command) = run_waiting_command(&path, &["-x", "3", "-s", "5"]);
    let watch = ProcessHandle::open(command).unwrap();
    let stdin = run.stdin.take().unwrap(); // the command's stdin: it ends when this closes
    kill(run.id(), libc::SIGKILL);
    let status = ended(&mut run);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{}", how(status));

    // run is gone; the locks are still held, by the command through its descriptor.
    let status = status_json(&path);
    let held: Vec<(&str, &str, u64)> =
        locks(&status).iter().map(|l| (l["range"].as_str().unwrap(), l["mode"].as_str().unwrap(), l["pid"].as_u64().unwrap())).collect();
    assert_eq!(held, [("3", "write", u64::from(command)), ("5", "read", u64::from(command))], "{status}");
    let busy = locksfile().args(["run", lock, "-x", "3", "-n", "--", "true"]).output().unwrap();
    assert_eq!(busy.status.code(), Some(1), "{}", common::stderr_of(&busy));
    assert!(common::stderr_of(&busy).contains(&format!("pid {command} (cat) holds write 3")), "{}", common::stderr_of(&busy));

    // The command ends: so do the locks.
    drop(stdin);
    assert!(watch.wait_gone(BOUND), "the command {command} did not end");
    let status = status_when(&path, |s| locks(s).is_empty());
    assert!(locks(&status).is_empty(), "{status}");
}

#[test]
fn process_scope_the_command_is_killed_with_run() {
    let path = temp_file("kill-process");
    let (mut run, command) = run_waiting_command(&path, &["-x", "3", "--scope", "process"]);
    let watch = ProcessHandle::open(command).unwrap();
    // The command's stdin stays open (`run.stdin`): only the kill can end it.
    kill(run.id(), libc::SIGKILL);
    let status = ended(&mut run);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{}", how(status));
    assert!(watch.wait_gone(BOUND), "the command {command} runs on without the locks");
    assert!(locks(&status_json(&path)).is_empty());
}

#[test]
fn the_command_holds_the_lock_file_open_only_in_open_file_scope() {
    let path = temp_file("passed");
    let lock = path.to_str().unwrap();
    // The command names the files behind its descriptors.
    let list = ["--", "sh", "-c", "for fd in /proc/$$/fd/*; do readlink \"$fd\"; done; true"];
    for (scope, passed) in [("open-file", true), ("process", false)] {
        let mut args = vec!["run", lock, "-x", "0", "--scope", scope];
        args.extend(list);
        let output = locksfile_process(&args).output().unwrap();
        assert!(output.status.success(), "{}", common::stderr_of(&output));
        let names = String::from_utf8(output.stdout).unwrap();
        assert_eq!(names.lines().filter(|name| *name == lock).count(), usize::from(passed), "{scope}: {names}");
    }
}
