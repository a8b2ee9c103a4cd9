//! `syncfleet completions <shell>`: the completion script on stdout, and
//! the hidden `__complete services|tags` those scripts call to offer the
//! fleet's service ids, names and tags.
//!
//! The scripts are clap_complete's static ones (generated, checked in and
//! tested like the man pages), with the values of `--service` (value name
//! `ID|NAME`) and `--tag` (`TAG`) routed to `syncfleet __complete`: a
//! static script cannot know the fleet, and clap_complete's dynamic engine
//! would make every script a stub that runs the binary for every word.

use crate::cli::{Cli, CompleteArgs, CompleteWhat, ShellArg};
use crate::context::Context;
use crate::registry::{Registry, ServiceFilter};
use clap::CommandFactory;
use clap_complete::Shell;
use std::collections::BTreeSet;

pub fn script(shell: ShellArg) -> Vec<u8> {
    let generator = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "syncfleet", &mut buf);
    let generated = String::from_utf8_lossy(&buf).into_owned();
    let dynamic = match shell {
        ShellArg::Bash => bash(&generated),
        ShellArg::Zsh => zsh(&generated),
        ShellArg::Fish => fish(&generated),
    };
    dynamic.into_bytes()
}

/// bash: a wrapper that answers after `--service`/`--tag` and hands every
/// other word to the generated `_syncfleet`.
fn bash(generated: &str) -> String {
    const WRAPPER: &str = r#"# Service ids, names and tags come from the fleet at completion time.
_syncfleet_fleet() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" what
    case "${prev}" in
        --service) what=services ;;
        --tag) what=tags ;;
        *) _syncfleet "$@"; return ;;
    esac
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" __complete "${what}" 2>/dev/null)" -- "${cur}"))
}

"#;
    let registered = generated.replace("complete -F _syncfleet ", "complete -F _syncfleet_fleet ");
    match registered.rfind("if [[ \"${BASH_VERSINFO[0]}\"") {
        Some(at) => format!("{}{WRAPPER}{}", &registered[..at], &registered[at..]),
        None => format!("{registered}\n{WRAPPER}"),
    }
}

/// zsh: the `_arguments` actions of `--service` and `--tag` become
/// functions that ask the fleet.
fn zsh(generated: &str) -> String {
    const HELPERS: &str = r#"
# Service ids, names and tags come from the fleet at completion time.
_syncfleet__services() {
    local -a values
    values=(${(f)"$(${words[1]} __complete services 2>/dev/null)"})
    _describe -t services 'service' values
}
_syncfleet__tags() {
    local -a values
    values=(${(f)"$(${words[1]} __complete tags 2>/dev/null)"})
    _describe -t tags 'tag' values
}
"#;
    let routed = generated
        .replace(":ID|NAME:_default'", ":ID|NAME:_syncfleet__services'")
        .replace(":TAG:_default'", ":TAG:_syncfleet__tags'");
    match routed.split_once('\n') {
        Some((compdef, rest)) => format!("{compdef}\n{HELPERS}{rest}"),
        None => routed,
    }
}

/// fish: `--service` and `--tag` take their candidates from the fleet.
fn fish(generated: &str) -> String {
    generated
        .lines()
        .map(|line| {
            let what = if line.contains(" -l service ") {
                Some("services")
            } else if line.contains(" -l tag ") {
                Some("tags")
            } else {
                None
            };
            match what {
                Some(w) => format!("{line} -f -a \"(syncfleet __complete {w} 2>/dev/null)\"\n"),
                None => format!("{line}\n"),
            }
        })
        .collect()
}

/// `__complete`: the values one a line, sorted. From the registry when
/// there is one (never created here), else from the manifests; nothing at
/// all on any error, so a completion never prints noise.
pub fn values(ctx: &Context, args: &CompleteArgs) -> String {
    let mut out = BTreeSet::new();
    let path = ctx.data_dir.registry_path();
    let from_registry = path
        .exists()
        .then(|| Registry::open(&path).and_then(|r| r.services(&ServiceFilter::default())))
        .and_then(Result::ok);
    match from_registry {
        Some(entries) => {
            for e in entries {
                match args.what {
                    CompleteWhat::Services => {
                        out.extend(e.name.clone());
                        out.insert(e.service_id);
                    }
                    CompleteWhat::Tags => out.extend(e.tags),
                }
            }
        }
        None => {
            for m in crate::service::scan(ctx).manifests {
                match args.what {
                    CompleteWhat::Services => {
                        out.extend(m.name.clone());
                        out.insert(m.service_id);
                    }
                    CompleteWhat::Tags => out.extend(m.tags),
                }
            }
        }
    }
    out.into_iter().map(|v| v + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(shell: ShellArg) -> String {
        String::from_utf8(script(shell)).unwrap()
    }

    #[test]
    fn every_shell_asks_the_fleet_for_services_and_tags() {
        let bash = text(ShellArg::Bash);
        assert!(bash.contains("__complete \"${what}\""), "{bash}");
        assert!(bash.contains("--service) what=services"));
        assert!(bash.contains("--tag) what=tags"));
        assert!(
            !bash.contains("complete -F _syncfleet "),
            "the wrapper is registered"
        );
        assert_eq!(bash.matches("complete -F _syncfleet_fleet ").count(), 2);

        let zsh = text(ShellArg::Zsh);
        assert!(zsh.starts_with("#compdef syncfleet\n"));
        assert!(zsh.contains("__complete services") && zsh.contains("__complete tags"));
        assert!(!zsh.contains(":ID|NAME:_default'") && !zsh.contains(":TAG:_default'"));
        assert!(zsh.contains(":ID|NAME:_syncfleet__services'"));
        assert!(zsh.contains(":TAG:_syncfleet__tags'"));

        let fish = text(ShellArg::Fish);
        let service_lines: Vec<&str> = fish
            .lines()
            .filter(|l| l.contains(" -l service "))
            .collect();
        assert!(!service_lines.is_empty());
        assert!(
            service_lines
                .iter()
                .all(|l| l.ends_with("-f -a \"(syncfleet __complete services 2>/dev/null)\""))
        );
        assert!(fish.contains("(syncfleet __complete tags 2>/dev/null)"));
    }
}
