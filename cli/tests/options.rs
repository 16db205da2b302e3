//! `run`'s options where they meet flock(1)'s: `-x`/`-e`/`--exclusive` and `-s`/`--shared` beside
//! `--write`/`--read`, `-w`/`--wait`/`--timeout SECONDS`, `-n`/`--nonblock`, and
//! `-E`/`--conflict-exit-code` (default 1).

mod common;

use std::time::{Duration, Instant};

use common::{hold, locksfile, stderr_of, temp_file};

#[test]
fn every_spelling_of_exclusive_and_shared_takes_that_mode() {
    let path = temp_file("modes");
    let lock = path.to_str().unwrap();
    let _reader = hold(&path, &["--read", "5"]);
    for exclusive in ["-x", "-e", "--exclusive", "--write"] {
        let output = locksfile().args(["run", lock, exclusive, "5", "-n", "--", "true"]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{exclusive}: {}", stderr_of(&output));
        assert!(stderr_of(&output).contains("write lock on 5 of"), "{exclusive}: {}", stderr_of(&output));
    }
    for shared in ["-s", "--shared", "--read"] {
        let output = locksfile().args(["run", lock, shared, "5", "-n", "--", "true"]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{shared}: {}", stderr_of(&output));
    }
    // Attached values and repeats, as with any short option.
    locksfile().args(["run", lock, "-x0", "-s5", "-x", "6..9", "--nonblock", "--", "true"]).assert().code(0);
}

#[test]
fn w_is_the_timeout_in_seconds_as_in_flock() {
    let path = temp_file("wait");
    let lock = path.to_str().unwrap();
    let _writer = hold(&path, &["--write", "2"]);
    for (option, value) in [("-w", "0.3"), ("--wait", "0.3"), ("--timeout", "300ms")] {
        let started = Instant::now();
        let output = locksfile().args(["run", lock, "-x", "2", option, value, "--", "true"]).output().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300), "{option}");
        assert_eq!(output.status.code(), Some(1), "{option}: {}", stderr_of(&output));
        assert!(stderr_of(&output).starts_with("locksfile: timed out after 0.3 s waiting for write lock on 2 of "), "{option}: {}", stderr_of(&output));
    }
    // Zero seconds: one try.
    locksfile().args(["run", lock, "-x", "2", "-w", "0", "--", "true"]).assert().code(1);
    locksfile().args(["run", lock, "-x", "3", "-w", "0", "--", "true"]).assert().code(0);
}

#[test]
fn the_conflict_status_is_1_unless_e_sets_it() {
    let path = temp_file("conflict-code");
    let lock = path.to_str().unwrap();
    let _writer = hold(&path, &["--write", "0"]);
    locksfile().args(["run", lock, "-x", "0", "-n", "--", "true"]).assert().code(1);
    locksfile().args(["run", lock, "-x", "0", "-n", "-E", "9", "--", "true"]).assert().code(9);
    locksfile().args(["run", lock, "-x", "0", "--nonblock", "--conflict-exit-code", "0", "--", "true"]).assert().code(0);
    locksfile().args(["run", lock, "-x", "0", "-w", "0.05", "-E", "200", "--", "true"]).assert().code(200);
    // A file error keeps 1, whatever -E says.
    locksfile().args(["run", "/no/such/dir/x.lock", "-x", "0", "-E", "9", "--", "true"]).assert().code(1);
}

#[test]
fn bad_option_values_and_combinations_are_usage_errors() {
    let path = temp_file("bad-options");
    let lock = path.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["-x", "0", "-E", "256"], "256 is not in 0..=255"),
        (&["-x", "0", "-E", "-1"], "unexpected argument '-1'"),
        (&["-x", "0", "-n", "-w", "1"], "cannot be used with"),
        (&["-x", "0", "-w", "1..4"], "not a duration"),
        (&["-x", "0", "-w", "soon"], "not a duration"),
        // -r is not an option (flock(1) has none; -w is not write any more): refused, not guessed.
        (&["-r", "0"], "unexpected argument '-r'"),
    ];
    for (args, words) in cases {
        let mut all = vec!["run", lock];
        all.extend(args);
        all.extend(["--", "true"]);
        let output = locksfile().args(&all).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr_of(&output));
        assert!(stderr_of(&output).contains(words), "{args:?}: {}", stderr_of(&output));
    }
}

#[test]
fn help_names_the_flock_spellings_and_what_happens_when_run_dies() {
    let help = String::from_utf8(locksfile().args(["run", "--help"]).output().unwrap().stdout).unwrap();
    for words in ["-x, --write <RANGE>", "-e", "--exclusive", "-s, --read <RANGE>", "--shared", "-w, --timeout <SECONDS>", "--wait", "-n, --nonblock", "-E, --conflict-exit-code", "[default: 1]", "SIGKILL", "PR_SET_PDEATHSIG"] {
        assert!(help.contains(words), "{words} missing from:\n{help}");
    }
}
