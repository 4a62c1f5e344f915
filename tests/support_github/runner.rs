//! How the Actions runner reads a step's stdout and stderr (actions/runner, `ActionCommandManager` and
//! `ActionCommand.TryParseV2` / `TryParse`), close enough to show that untrusted text never becomes a command.
//!
//! The runner splits the output into lines (`\n`, `\r\n` and a lone `\r` all end one), trims each line, and
//! runs `::name props::data` when the trimmed line starts with `::`; failing that, it looks for the legacy
//! `##[name props]data` anywhere in the line. `::stop-commands::TOKEN` turns processing off until a line that
//! parses as the command `TOKEN` (`::TOKEN::` or `##[TOKEN]`). Lines it runs as commands are not shown in the
//! log; every other line is. Unlike the runner, this model treats any name as a command (the runner only runs
//! the ones it knows), so it reports more than the runner would, never less.

#![allow(dead_code)]

/// One command the runner would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    /// The text between the name and `::` (or `]`), unparsed.
    pub properties: String,
    pub data: String,
    /// Found in the `##[...]` form.
    pub legacy: bool,
}

/// What the runner makes of an output: the commands it runs and the lines it shows.
#[derive(Debug, Default)]
pub struct RunnerView {
    pub commands: Vec<Command>,
    pub shown: Vec<String>,
    /// Command processing was still stopped at the end (a later step's commands would be ignored).
    pub stopped_at_end: bool,
}

impl RunnerView {
    /// The commands named `name`.
    pub fn named(&self, name: &str) -> Vec<&Command> {
        self.commands.iter().filter(|c| c.name == name).collect()
    }

    /// Whether some shown line contains `needle`.
    pub fn shows(&self, needle: &str) -> bool {
        self.shown.iter().any(|l| l.contains(needle))
    }
}

/// Splits as .NET's `StreamReader.ReadLine` does.
fn lines(output: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = output;
    while !rest.is_empty() {
        match rest.find(['\r', '\n']) {
            Some(i) => {
                out.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

fn parse_v2(line: &str) -> Option<Command> {
    let trimmed = line.trim();
    let rest = trimmed.strip_prefix("::")?;
    let end = rest.find("::")?;
    let info = &rest[..end];
    let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
    Some(Command {
        name: name.to_string(),
        properties: properties.to_string(),
        data: rest[end + 2..].to_string(),
        legacy: false,
    })
}

fn parse_legacy(line: &str) -> Option<Command> {
    let start = line.find("##[")? + 3;
    let end = start + line[start..].find(']')?;
    let info = &line[start..end];
    let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
    Some(Command {
        name: name.to_string(),
        properties: properties.to_string(),
        data: line[end + 1..].to_string(),
        legacy: true,
    })
}

/// Reads `output` as the runner does.
pub fn read(output: &str) -> RunnerView {
    let mut view = RunnerView::default();
    let mut stopped_by: Option<String> = None;
    for line in lines(output) {
        let command = parse_v2(line).or_else(|| parse_legacy(line));
        match (command, &stopped_by) {
            (Some(c), Some(token)) if c.name.eq_ignore_ascii_case(token) => stopped_by = None,
            (Some(_), Some(_)) | (None, _) => view.shown.push(line.to_string()),
            (Some(c), None) if c.name == "stop-commands" => stopped_by = Some(c.data.clone()),
            (Some(c), None) => view.commands.push(c),
        }
    }
    view.stopped_at_end = stopped_by.is_some();
    view
}

#[test]
fn the_model_reads_commands_as_the_runner_does() {
    let view = read(
        "  ::warning title=t::w\r::add-mask::s\nsee ##[error]legacy\n::stop-commands::tok\n::error::no\n##[error]no\n::tok::\n::notice::yes\n",
    );
    let names: Vec<&str> = view.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["warning", "add-mask", "error", "notice"]);
    assert_eq!(view.commands[0].properties, "title=t");
    assert!(view.commands[2].legacy);
    assert_eq!(view.commands[2].data, "legacy");
    assert_eq!(view.shown, ["::error::no", "##[error]no"]);
    assert!(!view.stopped_at_end);
    assert!(read("::stop-commands::t\n::t2::").stopped_at_end);
}
