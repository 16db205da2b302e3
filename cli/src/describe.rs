//! Naming things in messages: requests and processes.

use crate::spec::Request;

/// `write lock on 1..4`, or `write lock on 1..4, read lock on 7`.
pub fn describe_requests(requests: &[Request]) -> String {
    requests.iter().map(|r| format!("{} lock on {}", r.mode, r.range)).collect::<Vec<_>>().join(", ")
}

/// A process's command line from `/proc/PID/cmdline` (its name from `comm` when that is empty),
/// or `?` when the process cannot be read.
pub fn command_line(pid: u32) -> String {
    if let Ok(bytes) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        let words: Vec<String> =
            bytes.split(|&b| b == 0).filter(|w| !w.is_empty()).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
        if !words.is_empty() {
            return words.join(" ");
        }
    }
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| format!("[{}]", c.trim())).unwrap_or_else(|_| "?".into())
}

/// `text` on one line (control characters as spaces), cut to `width` characters with an ellipsis.
pub fn shortened(text: &str, width: usize) -> String {
    let line = text.chars().map(|c| if c.is_control() { ' ' } else { c });
    if text.chars().count() <= width {
        return line.collect();
    }
    line.take(width.saturating_sub(1)).chain(std::iter::once('…')).collect()
}

/// A command line made short for a table: paths by their file names, class paths elided, then cut
/// to `width` (`java -cp … dev.locksfile.Worker`, `python3 worker.py`).
pub fn brief_command(command: &str, width: usize) -> String {
    let words: Vec<&str> = command
        .split(' ')
        .map(|word| match (word.contains('/'), word.contains(':')) {
            (true, true) => "…",
            (true, false) => word.rsplit('/').find(|part| !part.is_empty()).unwrap_or(word),
            _ => word,
        })
        .collect();
    shortened(&words.join(" "), width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_commands_keep_names_and_drop_paths() {
        assert_eq!(brief_command("/usr/bin/python3 /srv/app/worker.py --fast", 60), "python3 worker.py --fast");
        assert_eq!(brief_command("java -cp /a/b.jar:/c/d.jar dev.locksfile.Worker", 60), "java -cp … dev.locksfile.Worker");
        assert_eq!(brief_command("sh -c echo\nhi", 60), "sh -c echo hi");
        assert_eq!(brief_command("abcdefghij", 5), "abcd…");
    }
}
