//! Man pages rendered from the clap tree (what users run) and the curated
//! text in `docs` (DESCRIPTION, EXAMPLES), plus the tables only syncfleet
//! knows: exit statuses, environment, files. Written by hand rather than
//! with clap_mangen, whose output `mandoc -Tlint` rejects (over-long and
//! trailing-space lines, lowercase titles, .br/.sp pairs).
//! `tests/man.rs` fails when `man/man1/` is stale or not lint-clean.

use crate::cli::Cli;
use crate::docs;
use crate::error::ErrorCode;
use clap::CommandFactory;

/// The date printed in the pages; bumped by hand with the docs.
const PAGE_DATE: &str = "2026-11-22";
const WIDTH: usize = 72;

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "SYNCFLEET_DATA_DIR",
        "The data directory (same as --data-dir).",
    ),
    (
        "SYNCFLEET_CONFIG",
        "The workspace config file (same as --config).",
    ),
    (
        "SYNCFLEET_ROBOT",
        "When set and not 0 or false: robot mode.",
    ),
    (
        "SYNCFLEET_METRICS_DIR",
        "Where the Prometheus metrics files (syncfleet-fleet.prom and one syncfleet-svc-<id>.prom per service) are written, e.g. node_exporter's textfile directory; it overrides, for one process, the directory `syncfleet metrics --dir` keeps for the fleet (default $SYNCFLEET_DATA_DIR/metrics).",
    ),
    (
        "SYNCFLEET_NOW",
        "For tests: an RFC 3339 time at which the clock stands still; every time syncfleet reads or records is this one.",
    ),
    (
        "XDG_DATA_HOME",
        "The default data directory is $XDG_DATA_HOME/syncfleet, else ~/.local/share/syncfleet.",
    ),
    (
        "XDG_CONFIG_HOME",
        "systemd user units are written to $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user.",
    ),
    (
        "NO_COLOR",
        "Turns colour off unless --color always is given.",
    ),
    (
        "CLICOLOR_FORCE, CLICOLOR",
        "CLICOLOR_FORCE=1 turns colour on even where the stream is not a terminal; CLICOLOR=0 turns it off. Each stream (stdout for reports, stderr for errors, warnings and -v lines) is decided on its own; --color always|never wins.",
    ),
    ("VISUAL, EDITOR", "The editor of logs --open (else less)."),
];

const FILES: &[(&str, &str)] = &[
    (
        "syncfleet.json",
        "The workspace config, found upward from the current directory.",
    ),
    (
        "$DATA/services/ID/manifest.json",
        "What install wrote; removed by uninstall.",
    ),
    (
        "$DATA/services/ID/status.json",
        "The run state the policy reads; kept by uninstall.",
    ),
    (
        "$DATA/services/ID/runs.jsonl",
        "Append-only run history, one JSON record per line; kept.",
    ),
    (
        "$DATA/services/ID/env",
        "The token env file, mode 0600; removed by uninstall.",
    ),
    (
        "$DATA/services/ID/logs/",
        "service.log (rotated at 10 MB, 5 kept) and the scheduler's stdout/stderr logs; kept.",
    ),
    ("$DATA/locks/", "Admin, status and pipeline locks (flock)."),
    (
        "~/.config/systemd/user/syncfleet-ID.service, .timer",
        "The systemd user units.",
    ),
];

/// Escape text for roff: backslashes, and a leading control character.
fn esc(s: &str) -> String {
    let t = s.replace('\\', "\\e");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// Options and names: hyphens as `\-` so they copy as ASCII.
fn esc_opt(s: &str) -> String {
    esc(s).replace('-', "\\-")
}

/// Fill text into lines of at most WIDTH bytes.
fn fill(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&esc(&line));
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&esc(&line));
        out.push('\n');
    }
    out
}

fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(fill)
        .collect::<Vec<_>>()
        .join(".PP\n")
}

fn tagged(title: &str, rows: &[(String, String)]) -> String {
    let mut out = format!(".SH {title}\n");
    for (tag, text) in rows {
        out.push_str(&format!(".TP\n.B {}\n{}", esc_opt(tag), fill(text)));
    }
    out
}

fn options(cmd: &clap::Command) -> String {
    let mut out = String::from(".SH OPTIONS\n");
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let value = arg
            .get_value_names()
            .map(|v| {
                v.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|_| arg.get_action().takes_values());
        let mut names = Vec::new();
        if let Some(s) = arg.get_short() {
            names.push(format!("\\fB\\-{s}\\fR"));
        }
        if let Some(l) = arg.get_long() {
            names.push(format!("\\fB\\-\\-{}\\fR", esc_opt(l)));
        }
        if arg.is_positional() {
            names.push(format!(
                "\\fI{}\\fR",
                esc(&value
                    .clone()
                    .unwrap_or_else(|| arg.get_id().to_string().to_uppercase()))
            ));
        } else if let Some(v) = &value {
            let last = names.pop().unwrap_or_default();
            names.push(format!("{last} \\fI{}\\fR", esc(v)));
        }
        out.push_str(&format!(".TP\n{}\n", names.join(", ")));
        let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        if !help.ends_with('.') && !help.is_empty() {
            help.push('.');
        }
        let facts = docs::arg_facts(arg);
        if !facts.possible_values.is_empty() {
            help.push_str(&format!(" One of: {}.", facts.possible_values.join(", ")));
        }
        if !facts.defaults.is_empty() {
            help.push_str(&format!(" Default: {}.", facts.defaults.join(", ")));
        }
        if let Some(env) = facts.env {
            help.push_str(&format!(" Environment: {env}."));
        }
        out.push_str(&fill(&help));
    }
    out
}

fn examples(doc: &docs::CommandDoc) -> String {
    if doc.examples.is_empty() {
        return String::new();
    }
    let mut out = String::from(".SH EXAMPLES\n");
    for (i, (command, what)) in doc.examples.iter().enumerate() {
        if i > 0 {
            out.push_str(".PP\n");
        }
        let mut text = what.to_string();
        text.push(':');
        out.push_str(&fill(&format!(
            "{}{}",
            text[..1].to_uppercase(),
            &text[1..]
        )));
        out.push_str(&format!(".PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n", esc(command)));
    }
    out
}

fn exit_status() -> String {
    let mut rows = vec![(
        "0".to_string(),
        "Success. The scheduler's run command always exits 0.".to_string(),
    )];
    rows.extend(ErrorCode::ALL.iter().map(|c| {
        (
            c.exit_code().to_string(),
            format!("{}: {}.", c.as_str(), c.meaning()),
        )
    }));
    tagged("EXIT STATUS", &rows)
}

fn pairs(rows: &[(&str, &str)]) -> Vec<(String, String)> {
    rows.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn page(
    cmd: &clap::Command,
    full_name: &str,
    synopsis: &str,
    description: &str,
    extra: &str,
) -> String {
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let mut out = format!(
        ".\\\" Generated from the syncfleet CLI (src/man.rs); do not edit.\n.TH {} 1 {PAGE_DATE} \"syncfleet {}\" \"User Commands\"\n",
        esc_opt(&full_name.to_uppercase()),
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(&format!(
        ".SH NAME\n{} \\-\n{}",
        esc_opt(full_name),
        fill(&about)
    ));
    out.push_str(&format!(
        ".SH SYNOPSIS\n.B {}\n{}\n",
        esc_opt(&full_name.replace('-', " ").replacen(
            "syncfleet robot docs",
            "syncfleet robot-docs",
            1
        )),
        synopsis
    ));
    out.push_str(".SH DESCRIPTION\n");
    out.push_str(&paragraphs(description));
    out.push_str(&options(cmd));
    out.push_str(extra);
    out
}

/// Every page as (file name, content): syncfleet.1 and one per visible
/// subcommand.
pub fn pages() -> Vec<(String, String)> {
    let mut top = Cli::command();
    top.build();
    let subcommands: Vec<&clap::Command> = top
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    let see_also = |except: &str| {
        let mut refs: Vec<String> = std::iter::once("syncfleet".to_string())
            .chain(
                subcommands
                    .iter()
                    .map(|s| format!("syncfleet-{}", s.get_name())),
            )
            .filter(|n| n != except)
            .map(|n| format!("\\fB{}\\fR(1)", esc_opt(&n)))
            .collect();
        refs.push("\\fBsystemd.timer\\fR(5)".into());
        format!(".SH SEE ALSO\n{}\n", refs.join(",\n"))
    };

    let mut commands = String::from(".SH COMMANDS\n");
    for s in &subcommands {
        commands.push_str(&format!(
            ".TP\n\\fBsyncfleet\\-{}\\fR(1)\n{}",
            esc_opt(s.get_name()),
            fill(&s.get_about().map(|a| a.to_string()).unwrap_or_default())
        ));
    }
    let top_extra = format!(
        "{commands}{}{}{}{}",
        exit_status(),
        tagged("ENVIRONMENT", &pairs(ENVIRONMENT)),
        tagged("FILES", &pairs(FILES)),
        see_also("syncfleet")
    );
    let mut pages = vec![(
        "syncfleet.1".to_string(),
        page(
            &top,
            "syncfleet",
            "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR",
            docs::OVERVIEW,
            &top_extra,
        ),
    )];
    for s in subcommands.iter() {
        let name = format!("syncfleet-{}", s.get_name());
        let doc = docs::for_command(s.get_name());
        let description = doc.map(|d| d.description).unwrap_or_default();
        let extra = format!(
            "{}{}{}",
            doc.map(examples).unwrap_or_default(),
            exit_status(),
            see_also(&name)
        );
        let positional = s.get_arguments().find(|a| a.is_positional()).map(|a| {
            a.get_value_names()
                .and_then(|names| names.first())
                .map_or_else(|| a.get_id().to_string().to_uppercase(), |n| n.to_string())
        });
        let synopsis = match positional {
            Some(name) => format!("[\\fIOPTIONS\\fR] \\fI{}\\fR", esc(&name)),
            None => "[\\fIOPTIONS\\fR]".to_string(),
        };
        pages.push((
            format!("{name}.1"),
            page(s, &name, &synopsis, description, &extra),
        ));
    }
    pages
}
