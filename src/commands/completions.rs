//! `syncfleet completions <shell>`: the completion script on stdout.

use crate::cli::{Cli, ShellArg};
use clap::CommandFactory;
use clap_complete::Shell;

pub fn script(shell: ShellArg) -> Vec<u8> {
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "syncfleet", &mut buf);
    buf
}
