// The registry migrations are embedded at compile time
// (`refinery::embed_migrations!`): rebuild when one is added or edited.
// The newest migration's version is passed to the code as
// SYNCFLEET_LATEST_MIGRATION, so that opening a current registry compares
// one integer instead of building refinery's runner (which compiles a regex
// to parse the file names: a millisecond on every command).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let latest = std::fs::read_dir("migrations")
        .expect("the migrations directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let version = name.strip_prefix('V')?.split_once("__")?.0;
            version.parse::<u32>().ok()
        })
        .max()
        .expect("at least one migration named V<n>__<name>.sql");
    println!("cargo:rustc-env=SYNCFLEET_LATEST_MIGRATION={latest}");

    // Every scheduled run and every command is a new process, so start-up
    // is part of a run's overhead. As a position-independent executable the
    // binary carries 52,000 relative relocations (the time zone tables'
    // abbreviations alone are 20,000), which the loader applies on every
    // start by writing to 350 pages: 0.9 ms and 360 page faults of a 2.7 ms
    // `--version`. Linked as a fixed-address executable it has none. The
    // cost is ASLR for syncfleet's own image (its libraries keep theirs),
    // for a tool that runs as its user on that user's own files. Only the
    // binaries: tests and proc macros link as before.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
