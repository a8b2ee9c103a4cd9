// The registry migrations are embedded at compile time
// (`refinery::embed_migrations!`): rebuild when one is added or edited.
// The highest migration version is also passed to the crate
// (`SYNCFLEET_LATEST_MIGRATION`), so that opening a current registry
// compares one number instead of building refinery's runner (a regex
// compiled and every migration's checksum computed, in every process).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let latest = std::fs::read_dir("migrations")
        .expect("the migrations directory")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let (version, _) = name.strip_prefix('V')?.split_once("__")?;
            version.parse::<u32>().ok()
        })
        .max()
        .expect("at least one migration");
    println!("cargo:rustc-env=SYNCFLEET_LATEST_MIGRATION={latest}");
}
