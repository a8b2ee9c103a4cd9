//! Man pages generated from the clap tree (what users run), plus the
//! sections a generator cannot know: exit statuses, environment, files.
//! `tests/man.rs` fails when the checked-in pages in `man/man1/` are stale.

use crate::cli::Cli;
use crate::error::ErrorCode;
use clap::CommandFactory;
use clap_mangen::Man;

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
        "When set (and not 0/false), robot mode: one JSON document on stdout.",
    ),
    (
        "XDG_DATA_HOME",
        "Default data directory: $XDG_DATA_HOME/syncfleet, else ~/.local/share/syncfleet.",
    ),
    (
        "XDG_CONFIG_HOME",
        "systemd user units go to $XDG_CONFIG_HOME/systemd/user (else ~/.config/systemd/user).",
    ),
    (
        "NO_COLOR",
        "Disables colour in human output unless --color always is given.",
    ),
    ("VISUAL, EDITOR", "The editor of logs --open (else less)."),
];

const FILES: &[(&str, &str)] = &[
    (
        "syncfleet.json",
        "The workspace config, found upward from the current directory.",
    ),
    (
        "$DATA/services/<id>/manifest.json",
        "What install wrote; removed by uninstall.",
    ),
    (
        "$DATA/services/<id>/status.json",
        "The run state the policy reads (kept by uninstall).",
    ),
    (
        "$DATA/services/<id>/runs.jsonl",
        "Append-only run history (kept by uninstall).",
    ),
    (
        "$DATA/services/<id>/env",
        "The token env file, mode 0600; removed by uninstall.",
    ),
    (
        "$DATA/services/<id>/logs/service.log",
        "Stage output with run and stage headers; rotated at 10 MB, 5 kept.",
    ),
    ("$DATA/locks/", "Admin, status and pipeline locks (flock)."),
    (
        "~/.config/systemd/user/syncfleet-<id>.{service,timer}",
        "The systemd user units.",
    ),
];

fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('-', "\\-")
}

fn tagged_section(title: &str, rows: &[(String, String)]) -> String {
    let mut out = format!(".SH \"{title}\"\n");
    for (tag, text) in rows {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff_escape(tag),
            roff_escape(text)
        ));
    }
    out
}

fn extra_sections(is_top: bool) -> String {
    let mut rows = vec![("0".to_string(), "success (run always exits 0)".to_string())];
    rows.extend(ErrorCode::ALL.iter().map(|c| {
        (
            c.exit_code().to_string(),
            format!("{}: {}", c.as_str(), c.meaning()),
        )
    }));
    let mut out = tagged_section("EXIT STATUS", &rows);
    if is_top {
        out.push_str(&tagged_section(
            "ENVIRONMENT",
            &ENVIRONMENT
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>(),
        ));
        out.push_str(&tagged_section(
            "FILES",
            &FILES
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>(),
        ));
    }
    out.push_str(
        ".SH \"SEE ALSO\"\n\\fBsyncfleet\\fR(1), \\fBsystemd.timer\\fR(5), \\fBsystemctl\\fR(1)\n",
    );
    out
}

fn render(cmd: clap::Command, is_top: bool) -> std::io::Result<Vec<u8>> {
    let man = Man::new(cmd.version(env!("CARGO_PKG_VERSION")))
        .date("")
        .source(format!("syncfleet {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    if is_top {
        man.render_subcommands_section(&mut buf)?;
    }
    man.render_extra_section(&mut buf)?;
    buf.extend_from_slice(extra_sections(is_top).as_bytes());
    man.render_version_section(&mut buf)?;
    Ok(buf)
}

/// Every page as (file name, content): syncfleet.1 and one per visible
/// subcommand.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut top = Cli::command();
    // Building propagates the version to subcommands.
    top.build();
    let mut pages = vec![("syncfleet.1".to_string(), render(top.clone(), true)?)];
    for sub in top
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("syncfleet-{}", sub.get_name());
        let cmd = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("syncfleet {}", sub.get_name()));
        pages.push((format!("{name}.1"), render(cmd, false)?));
    }
    Ok(pages)
}
