//! The checked-in man pages must match the CLI. Regenerate with:
//! `SYNCFLEET_BLESS=1 cargo test --test man`.

use std::path::PathBuf;

#[test]
fn man_pages_are_fresh() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/man1");
    let pages = syncfleet::man::pages().unwrap();
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
        if std::fs::read(dir.join(name)).ok().as_deref() != Some(content.as_slice()) {
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
