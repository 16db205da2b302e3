//! `status` text after lslocks(8): `--output` columns, `--noheadings`, `--raw`.

mod common;

use common::{hold, locksfile, lockf, stderr_of, temp_file};

fn status(args: &[&str]) -> String {
    let output = locksfile().arg("status").args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr_of(&output));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn output_picks_and_orders_columns_and_plus_adds_to_the_default() {
    let path = temp_file("output");
    let lock = path.to_str().unwrap();
    let ofd = hold(&path, &["--write", "0..4"]);
    let classic = lockf(&path, 20, 2, false);
    let text = status(&[lock, "--output", "pid,RANGE,end,fd,kind"]);
    let lines: Vec<Vec<&str>> = text.lines().map(|line| line.split_whitespace().collect()).collect();
    let (ofd_pid, classic_pid) = (ofd.pid().to_string(), classic.pid().to_string());
    assert_eq!(lines[0], ["PID", "RANGE", "END", "FD", "KIND"]);
    assert_eq!(lines[1][..3], [ofd_pid.as_str(), "0..4", "4"]);
    assert!(lines[1][3].parse::<i32>().is_ok(), "{text}"); // hold's descriptor
    assert_eq!(lines[1][4], "OFD");
    assert_eq!(lines[2], [classic_pid.as_str(), "20..22", "22", "-", "POSIX"]);
    assert_eq!(lines.len(), 3, "{text}");

    let text = status(&[lock, "-o", "+start"]);
    let heading: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(heading, ["RANGE", "MODE", "KIND", "STATE", "PID", "WAITS-FOR", "COMMAND", "START"]);
}

#[test]
fn noheadings_leaves_the_heading_out() {
    let path = temp_file("noheadings");
    let lock = path.to_str().unwrap();
    let holder = hold(&path, &["--write", "7"]);
    assert_eq!(status(&[lock, "--noheadings", "--output", "range,pid"]).split_whitespace().collect::<Vec<_>>(), ["7", &holder.pid().to_string()]);
    assert_eq!(status(&[lock, "-n", "-o", "state"]), "held\n");
    drop(holder);
    // No locks: the table says so, without headings there is nothing.
    assert_eq!(status(&[lock]), format!("no locks on {lock}\n"));
    assert_eq!(status(&[lock, "-n"]), "");
    assert_eq!(status(&[lock, "--raw"]), "RANGE MODE KIND STATE PID WAITS-FOR COMMAND\n");
}

#[test]
fn raw_is_one_space_between_cells_with_unsafe_characters_escaped() {
    let path = temp_file("raw");
    let lock = path.to_str().unwrap();
    let holder = hold(&path, &["--write", "5..", "--read", "1"]);
    let text = status(&[lock, "--raw", "--output", "range,end,mode,command"]);
    let command = format!("{}\\x20hold\\x20{lock}\\x20--write\\x205..\\x20--read\\x201", common::LOCKSFILE);
    assert_eq!(text, format!("RANGE END MODE COMMAND\n1 2 read {command}\n5.. - write {command}\n"));
    // The full command line, where the table shortens it.
    let table = status(&[lock, "-o", "command"]);
    assert!(table.lines().nth(1).unwrap().starts_with("locksfile hold "), "{table}");
    assert_eq!(status(&[lock, "-r", "-n", "-o", "pid"]), format!("{0}\n{0}\n", holder.pid()));
}

#[test]
fn bad_column_lists_and_json_with_text_options_are_usage_errors() {
    let path = temp_file("bad-columns");
    std::fs::write(&path, b"").unwrap();
    let lock = path.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--output", "pid,size"], "unknown column 'size' (columns: RANGE, START, END, MODE, KIND, STATE, PID, FD, WAITS-FOR, COMMAND)"),
        (&["--output", ""], "unknown column ''"),
        (&["--json", "--raw"], "cannot be used with"),
        (&["--json", "-o", "pid"], "cannot be used with"),
        (&["-J", "-n"], "cannot be used with"),
    ];
    for (args, words) in cases {
        let output = locksfile().arg("status").arg(lock).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr_of(&output));
        assert!(stderr_of(&output).contains(words), "{args:?}: {}", stderr_of(&output));
    }
    let help = String::from_utf8(locksfile().args(["status", "--help"]).output().unwrap().stdout).unwrap();
    for column in ["RANGE ", "START ", "END ", "MODE ", "KIND ", "STATE ", "PID ", "FD ", "WAITS-FOR ", "COMMAND "] {
        assert!(help.contains(&format!("  {column}")), "{column} missing from:\n{help}");
    }
}
