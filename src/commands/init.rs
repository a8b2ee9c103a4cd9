//! `syncfleet init`: a starter syncfleet.json for the current directory,
//! validated before it is written, never overwriting without --force.

use crate::cli::{InitArgs, PresetArg};
use crate::config::{CONFIG_FILE_NAME, WorkspaceConfig};
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::fsutil;
use crate::output::{Render, Ui};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Serialize)]
pub struct InitReport {
    pub path: String,
    pub stages: Vec<String>,
    pub overwritten: bool,
}

impl Render for InitReport {
    fn human(&self, ui: &Ui) -> String {
        format!(
            "{} {}\n  Stages: {}\nNext: syncfleet sync (try it), then syncfleet install (schedule it).\n",
            ui.bold(if self.overwritten { "Rewrote" } else { "Wrote" }),
            self.path,
            self.stages.join(", ")
        )
    }
}

fn stage_from_flag(flag: &str, spec: &str, optional: bool) -> Result<Value> {
    let (name, command) = spec.split_once('=').ok_or_else(|| {
        Error::invalid_argument(format!("{flag} '{spec}' needs the form NAME=COMMAND"))
            .with_suggestion(format!("For example: {flag} pull=\"git pull --ff-only\""))
    })?;
    // Split like sh, without any expansion (no variables, globs or
    // substitutions: the stage runs without a shell).
    let argv = shell_words::split(command)
        .map_err(|e| Error::invalid_argument(format!("{flag} {name}: {e} in: {command}")))?;
    if argv.is_empty() {
        return Err(Error::invalid_argument(format!(
            "{flag} {name}: the command is empty"
        )));
    }
    let mut stage = json!({"name": name.trim(), "command": argv});
    if optional {
        stage["optional"] = json!(true);
    }
    Ok(stage)
}

fn lore_stages() -> Vec<Value> {
    let sync = |only: &str| json!(["lore", "--robot", "sync", "--only", only]);
    vec![
        json!({"name": "issues", "command": sync("issues")}),
        json!({"name": "mrs", "command": sync("mrs")}),
        json!({"name": "docs", "command": sync("docs"), "optional": true, "profile": "balanced"}),
        json!({"name": "embeddings", "command": sync("embeddings"), "optional": true, "profile": "full", "timeout": "20m"}),
    ]
}

pub fn run(ctx: &Context, args: &InitArgs) -> Result<InitReport> {
    let path = ctx.cwd.join(CONFIG_FILE_NAME);
    let exists = path.exists();
    if exists && !args.force {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            format!("{} already exists", path.display()),
        )
        .with_suggestion("Edit it, or overwrite it with syncfleet init --force."));
    }
    let mut stages = Vec::new();
    let mut token_env_var = args.token_env_var.clone();
    let mut lock_group = None;
    match args.preset {
        Some(PresetArg::Lore) => {
            stages = lore_stages();
            token_env_var.get_or_insert_with(|| "GITLAB_TOKEN".to_string());
            // lore keeps one database: its workspaces must never overlap.
            lock_group = Some("lore-db");
        }
        None => {
            for s in &args.stages {
                stages.push(stage_from_flag("--stage", s, false)?);
            }
            for s in &args.optional_stages {
                stages.push(stage_from_flag("--optional-stage", s, true)?);
            }
        }
    }
    if stages.is_empty() {
        return Err(Error::invalid_argument(
            "no stages: give --stage NAME=COMMAND (repeatable) or --preset lore",
        )
        .with_suggestion("For example: syncfleet init --stage pull=\"git pull --ff-only\""));
    }
    let mut doc = serde_json::Map::new();
    if let Some(n) = &args.name {
        doc.insert("name".into(), json!(n));
    }
    doc.insert("projects".into(), json!(args.projects));
    if let Some(v) = token_env_var {
        doc.insert("token_env_var".into(), json!(v));
    }
    if let Some(g) = lock_group {
        doc.insert("lock_group".into(), json!(g));
    }
    if !args.tags.is_empty() {
        doc.insert("tags".into(), json!(args.tags));
    }
    doc.insert("stages".into(), Value::Array(stages));
    let mut text = serde_json::to_string_pretty(&Value::Object(doc)).expect("JSON");
    text.push('\n');
    // Validate exactly what will be written, with the real parser.
    let config = WorkspaceConfig::parse_bytes(text.as_bytes(), path.clone(), ctx.cwd.clone())?;
    fsutil::write_atomic_mode(&path, text.as_bytes(), 0o644)
        .map_err(|e| Error::io("write", &path, e))?;
    Ok(InitReport {
        path: path.display().to_string(),
        stages: config.stages.iter().map(|s| s.name.clone()).collect(),
        overwritten: exists,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_flags_split_like_a_shell() {
        let stage =
            stage_from_flag("--stage", r#"pull=sh -c "echo 'hi there'" a\ b ''"#, false).unwrap();
        assert_eq!(
            stage["command"],
            json!(["sh", "-c", "echo 'hi there'", "a b", ""])
        );
        let e = stage_from_flag("--stage", "pull=git 'open", false).unwrap_err();
        assert!(e.message.starts_with("--stage pull: "), "{}", e.message);
        assert!(e.message.contains("in: git 'open"), "{}", e.message);
    }
}
