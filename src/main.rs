fn main() -> std::process::ExitCode {
    syncfleet::run(std::env::args_os())
}
