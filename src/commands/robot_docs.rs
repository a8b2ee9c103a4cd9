//! `syncfleet robot-docs`: every command, its flags (from the clap tree),
//! examples and response schema (from `docs`), and the exit codes.

use crate::cli::Cli;
use crate::docs;
use crate::error::ErrorCode;
use crate::output::{Render, Ui};
use clap::CommandFactory;
use serde::Serialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Serialize)]
pub struct RobotDocs {
    pub name: &'static str,
    pub version: &'static str,
    pub envelope: Value,
    pub global_flags: Vec<Value>,
    pub commands: Map<String, Value>,
    pub exit_codes: Vec<Value>,
}

impl Render for RobotDocs {
    fn human(&self, _ui: &Ui) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn flag(arg: &clap::Arg) -> Value {
    let mut f = Map::new();
    let name = match (arg.get_long(), arg.is_positional()) {
        (Some(l), _) => format!("--{l}"),
        (None, _) => arg.get_id().to_string(),
    };
    f.insert("flag".into(), json!(name));
    if let Some(s) = arg.get_short() {
        f.insert("short".into(), json!(format!("-{s}")));
    }
    f.insert("takes_value".into(), json!(arg.get_action().takes_values()));
    if let Some(h) = arg.get_help() {
        f.insert("help".into(), json!(h.to_string()));
    }
    let facts = docs::arg_facts(arg);
    if !facts.defaults.is_empty() {
        f.insert("default".into(), json!(facts.defaults.join(",")));
    }
    if !facts.possible_values.is_empty() {
        f.insert("values".into(), json!(facts.possible_values));
    }
    if let Some(env) = facts.env {
        f.insert("env".into(), json!(env));
    }
    Value::Object(f)
}

pub fn run() -> RobotDocs {
    let cmd = Cli::command();
    let global_flags = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
        .map(flag)
        .collect();
    let mut commands = Map::new();
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let doc = docs::for_command(sub.get_name());
        let schema: Map<String, Value> = doc
            .map(|d| {
                d.response
                    .iter()
                    .map(|(k, v)| (format!("data.{k}"), json!(v)))
                    .collect()
            })
            .unwrap_or_default();
        commands.insert(
            sub.get_name().to_string(),
            json!({
                "description": sub.get_about().map(|a| a.to_string()),
                "flags": sub.get_arguments().filter(|a| !a.is_hide_set() && a.get_id() != "help").map(flag).collect::<Vec<_>>(),
                "examples": doc.map(|d| d.examples.iter().map(|(c, w)| json!({"command": c, "description": w})).collect::<Vec<_>>()).unwrap_or_default(),
                "response_schema": schema,
            }),
        );
    }
    RobotDocs {
        name: "syncfleet",
        version: env!("CARGO_PKG_VERSION"),
        envelope: json!({
            "success": {"ok": true, "data": "command-specific", "meta": {"elapsed_ms": "number"}},
            "error": {"ok": false, "error": {"code": "string", "message": "string", "suggestion": "string?", "actions": "[string]?"}, "meta": {"elapsed_ms": "number"}},
        }),
        global_flags,
        commands,
        exit_codes: std::iter::once(json!({"code": "OK", "exit": 0, "meaning": "success"}))
            .chain(ErrorCode::ALL.iter().map(
                |c| json!({"code": c.as_str(), "exit": c.exit_code(), "meaning": c.meaning()}),
            ))
            .collect(),
    }
}
