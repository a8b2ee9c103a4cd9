//! The checked-in man pages must match the CLI. Regenerate with:
//! `SYNCFLEET_BLESS=1 cargo test --test man`.

mod common;
use std::path::PathBuf;

#[test]
fn man_pages_are_fresh() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/man1");
    let pages = syncfleet::man::pages();
    if std::env::var_os("SYNCFLEET_BLESS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            std::fs::remove_file(e.path()).unwrap();
        }
        for (name, content) in &pages {
            std::fs::write(dir.join(name), content).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, content) in &pages {
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(content.as_str()) {
            stale.push(name.clone());
        }
    }
    let on_disk = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(
        stale.is_empty() && on_disk == pages.len(),
        "man pages are stale ({stale:?}; {on_disk} on disk, {} generated): run SYNCFLEET_BLESS=1 cargo test --test man",
        pages.len()
    );
}

#[test]
fn every_visible_command_is_documented() {
    use clap::CommandFactory;
    for sub in syncfleet::cli::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
    {
        let doc = syncfleet::docs::for_command(sub.get_name())
            .unwrap_or_else(|| panic!("no docs::COMMANDS entry for {}", sub.get_name()));
        assert!(
            !doc.description.is_empty() && !doc.examples.is_empty(),
            "{} needs a description and examples",
            sub.get_name()
        );
    }
}

/// `mandoc -Tlint` must report nothing, and `man -l` must render.
#[test]
fn pages_are_lint_clean_and_render() {
    if !common::tool_available("mandoc", "man page lint")
        || !common::tool_available("man", "man page rendering")
    {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/man1");
    let pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = std::process::Command::new("mandoc")
        .arg("-Tlint")
        .args(&pages)
        .output()
        .expect("mandoc must be installed (apt-get install mandoc); .ci/run installs it");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "mandoc -Tlint:\n{report}"
    );
    let rendered = std::process::Command::new("man")
        .args(["-l", dir.join("syncfleet-install.1").to_str().unwrap()])
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("man must be installed (apt-get install man-db)");
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success() && text.contains("EXIT STATUS") && text.contains("--interval"),
        "{text}"
    );
}

/// The rows of a page's EXIT STATUS table: (status, text with the filled
/// lines joined).
fn exit_status_rows(page: &str) -> Vec<(String, String)> {
    let Some((_, section)) = page.split_once(".SH EXIT STATUS\n") else {
        return Vec::new();
    };
    let section = section.split("\n.SH ").next().unwrap_or_default();
    section
        .split(".TP\n")
        .filter_map(|row| {
            let (tag, text) = row.strip_prefix(".B ")?.split_once('\n')?;
            Some((
                tag.to_string(),
                text.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        })
        .collect()
}

/// Every error code stands in every page's EXIT STATUS table, with its
/// exit status and meaning, so a code added to `error_codes!` without a
/// regenerated page, or a table that leaves codes out, fails here.
#[test]
fn every_error_code_is_in_each_exit_status_table() {
    use syncfleet::error::ErrorCode;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/man1");
    let mut pages = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let rows = exit_status_rows(&std::fs::read_to_string(&path).unwrap());
        for &code in ErrorCode::ALL {
            let row = (
                code.exit_code().to_string(),
                format!("{}: {}.", code.as_str(), code.meaning()),
            );
            assert!(
                rows.contains(&row),
                "{}: no EXIT STATUS row {row:?} (run SYNCFLEET_BLESS=1 cargo test --test man)",
                path.display()
            );
        }
        assert_eq!(
            rows.len(),
            ErrorCode::ALL.len() + 1,
            "{}: success and one row per code",
            path.display()
        );
        pages += 1;
    }
    assert!(pages > 1, "no pages in {}", dir.display());
}

/// The README's exit-code table names every code with its status, so a
/// code added to `error_codes!` is documented there too.
#[test]
fn the_readme_lists_every_exit_status() {
    use syncfleet::error::ErrorCode;
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    for &code in ErrorCode::ALL {
        let row = format!("| {} | {}", code.exit_code(), code.as_str());
        assert!(
            readme.lines().any(|l| l.starts_with(&row)),
            "README.md has no exit-code row starting {row:?}"
        );
    }
}
