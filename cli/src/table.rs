//! `status` as text, after lslocks(8): chosen columns (`--output`), aligned for people or `--raw`
//! (one space between cells, unsafe characters as `\xHH`), with or without a heading line.

use std::fmt::Write as _;

use crate::describe::brief_command;
use crate::status::Row;

/// One column of `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Range,
    Start,
    End,
    Mode,
    Kind,
    State,
    Pid,
    Fd,
    WaitsFor,
    Command,
}

/// Every column with its name and what it shows (for `--output` and `--help`).
pub const COLUMNS: [(Column, &str, &str); 10] = [
    (Column::Range, "RANGE", "the locked indexes: 3, 1..4 (1 up to 3), 5.. (5 and every index after it)"),
    (Column::Start, "START", "the first index"),
    (Column::End, "END", "the index after the last one (- when open-ended)"),
    (Column::Mode, "MODE", "read (shared) or write (exclusive)"),
    (Column::Kind, "KIND", "OFD, POSIX or FLOCK"),
    (Column::State, "STATE", "held, or waiting for it"),
    (Column::Pid, "PID", "the process (? when it cannot be read)"),
    (Column::Fd, "FD", "the process's descriptor of an OFD lock (- for other kinds)"),
    (Column::WaitsFor, "WAITS-FOR", "for a waiting request: the pids holding the locks in its way"),
    (Column::Command, "COMMAND", "the process's command line (shortened in the table, whole with --raw)"),
];

/// The columns shown without `--output`.
pub const DEFAULT: [Column; 7] =
    [Column::Range, Column::Mode, Column::Kind, Column::State, Column::Pid, Column::WaitsFor, Column::Command];

/// The columns `--output` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns(pub Vec<Column>);

/// `--output`: names separated by commas, any case (`range,pid,command`); a leading `+` adds them
/// to the default columns, as in lslocks.
pub fn parse_columns(text: &str) -> Result<Columns, String> {
    let (mut columns, list) = match text.strip_prefix('+') {
        Some(rest) => (DEFAULT.to_vec(), rest),
        None => (Vec::new(), text),
    };
    for name in list.split(',') {
        let name = name.trim();
        let column = COLUMNS
            .iter()
            .find(|(_, known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(column, _, _)| column)
            .ok_or_else(|| {
                let known: Vec<&str> = COLUMNS.iter().map(|(_, known, _)| *known).collect();
                format!("unknown column '{name}' (columns: {})", known.join(", "))
            })?;
        columns.push(column);
    }
    Ok(Columns(columns))
}

/// The `--help` list of columns.
pub fn columns_help() -> String {
    COLUMNS.iter().map(|(_, name, about)| format!("  {name:<10} {about}\n")).collect()
}

/// How to lay the text out.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub headings: bool,
    pub raw: bool,
}

fn heading(column: Column) -> &'static str {
    COLUMNS.iter().find(|(c, _, _)| *c == column).map_or("?", |(_, name, _)| name)
}

fn pid_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "?".into(), |pid| pid.to_string())
}

fn cell(row: &Row, column: Column, raw: bool) -> String {
    match column {
        Column::Range => row.range.to_string(),
        Column::Start => row.range.start().to_string(),
        Column::End => row.range.count().map_or_else(|| "-".into(), |count| (row.range.start() + count).to_string()),
        Column::Mode => row.mode.to_string(),
        Column::Kind => row.kind().into(),
        Column::State => if row.waiting { "waiting" } else { "held" }.into(),
        Column::Pid => pid_text(row.pid),
        Column::Fd => row.fd.map_or_else(|| "-".into(), |fd| fd.to_string()),
        Column::WaitsFor => match row.waits_for.iter().map(|p| pid_text(*p)).collect::<Vec<_>>().join(",") {
            waits if row.waiting && !waits.is_empty() => waits,
            _ => "-".into(),
        },
        Column::Command => {
            let command = row.command.as_deref().unwrap_or("?");
            if raw {
                command.to_owned()
            } else {
                brief_command(command, 60)
            }
        }
    }
}

/// `\`, spaces and control characters as `\xHH` (lslocks' raw output), so that every line splits
/// into its cells at single spaces.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' || c.is_whitespace() || c.is_control() {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                let _ = write!(out, "\\x{byte:02x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The rows as text: a heading line (unless turned off), then a line per row.
pub fn render(rows: &[Row], columns: &[Column], layout: Layout) -> String {
    let mut lines: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
    if layout.headings {
        lines.push(columns.iter().map(|&c| heading(c).to_owned()).collect());
    }
    lines.extend(rows.iter().map(|row| columns.iter().map(|&c| cell(row, c, layout.raw)).collect()));
    if layout.raw {
        return lines.iter().map(|cells| cells.iter().map(|c| escaped(c)).collect::<Vec<_>>().join(" ") + "\n").collect();
    }
    let widths: Vec<usize> =
        (0..columns.len()).map(|i| lines.iter().map(|cells| cells[i].chars().count()).max().unwrap_or(0)).collect();
    lines
        .iter()
        .map(|cells| {
            let mut line =
                cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect::<Vec<_>>().join("  ");
            line.truncate(line.trim_end().len());
            line + "\n"
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists() {
        assert_eq!(parse_columns("pid,Range"), Ok(Columns(vec![Column::Pid, Column::Range])));
        assert_eq!(parse_columns("waits-for"), Ok(Columns(vec![Column::WaitsFor])));
        let extended = parse_columns("+fd").unwrap().0;
        assert_eq!(extended.len(), DEFAULT.len() + 1);
        assert_eq!(extended.last(), Some(&Column::Fd));
        assert!(parse_columns("pid,size").unwrap_err().contains("unknown column 'size' (columns: RANGE, START,"));
        assert!(parse_columns("").is_err());
    }

    #[test]
    fn raw_cells_split_at_single_spaces() {
        assert_eq!(escaped("python3 a b\\c\td"), "python3\\x20a\\x20b\\x5cc\\x09d");
        assert_eq!(escaped("naïve"), "naïve");
    }
}
