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
}
