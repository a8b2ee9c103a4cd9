//! The service env file (`services/<id>/env`, 0600) that holds the token
//! for scheduled runs. systemd loads it with `EnvironmentFile=`; on the
//! other backends `syncfleet run` reads it itself (`runner::resolve_token`
//! through [`read_value`]). Both must read back exactly the token.
//!
//! systemd's env-file grammar (systemd.exec(5), "EnvironmentFile="):
//! an unquoted value loses leading and trailing whitespace and every
//! backslash; inside double quotes a backslash escapes only `"`, `\`,
//! `` ` `` and `$` (a backslash before anything else is kept, but systemd
//! before v246 dropped it, so we never write one). We therefore always
//! write `VAR="…"` with exactly those four escaped: every systemd version
//! reads that back as the token. Control characters are refused: systemd
//! drops a value holding one (other than tab and newline), and a newline
//! would end the assignment.

use crate::error::{Error, Result};

/// `VAR="value"\n`, quoted so that systemd reads back exactly `value`.
pub fn render(var: &str, value: &str) -> Result<String> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid_argument(format!(
            "{var} contains the control character U+{:04X}, which an env file cannot hold (systemd would drop or cut the token)",
            c as u32
        ))
        .with_suggestion(format!(
            "Export {var} without control characters (tabs, newlines, NULs), then run: syncfleet install"
        )));
    }
    let mut out = String::with_capacity(var.len() + value.len() + 4);
    out.push_str(var);
    out.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("\"\n");
    Ok(out)
}

/// The value of `var` in an env file's text, read the way systemd reads
/// it (single-line assignments; the last one for `var` wins). Also reads
/// the unquoted `VAR=value` lines older syncfleet versions wrote, as
/// systemd did.
pub fn read_value(text: &str, var: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim_start_matches(is_env_space);
        if line.starts_with(['#', ';']) {
            return None;
        }
        let (key, value) = line.split_once('=')?;
        (key.trim_end_matches(is_env_space) == var).then(|| parse_value(value))
    })
}

/// systemd's WHITESPACE within a line.
fn is_env_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r')
}

/// One value, by the states of systemd's `parse_env_file_internal`.
fn parse_value(raw: &str) -> String {
    #[derive(PartialEq)]
    enum State {
        PreValue,
        Value,
        Single,
        Double,
    }
    let mut value = String::new();
    // Unquoted trailing whitespace is dropped; this marks where it starts.
    let mut trailing_space_from: Option<usize> = None;
    let mut state = State::PreValue;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match state {
            State::PreValue | State::Value => match c {
                '\'' if state == State::PreValue => state = State::Single,
                '"' if state == State::PreValue => state = State::Double,
                '\\' => {
                    // A trailing backslash would continue the line.
                    value.extend(chars.next());
                    trailing_space_from = None;
                    state = State::Value;
                }
                c if is_env_space(c) && state == State::PreValue => {}
                c => {
                    if !is_env_space(c) {
                        trailing_space_from = None;
                    } else if trailing_space_from.is_none() {
                        trailing_space_from = Some(value.len());
                    }
                    value.push(c);
                    state = State::Value;
                }
            },
            State::Single => match c {
                '\'' => state = State::PreValue,
                c => value.push(c),
            },
            State::Double => match c {
                '"' => state = State::PreValue,
                '\\' => match chars.next() {
                    Some(e @ ('"' | '\\' | '`' | '$')) => value.push(e),
                    Some(other) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => {}
                },
                c => value.push(c),
            },
        }
    }
    if state == State::Value
        && let Some(at) = trailing_space_from
    {
        value.truncate(at);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens an env file must carry unchanged.
    pub const AWKWARD: &[&str] = &[
        "plain-token-123",
        " lead",
        "trail ",
        "  both  ",
        "\"x\"",
        "'y'",
        "it's \"mixed\"",
        "a\\b",
        "trailing\\",
        "\\\\double",
        "$HOME ${HOME} $$ $",
        "#hash ;semi",
        "a=b==c",
        "`tick`",
        "ünïcødé ✓ 令牌",
        "=",
    ];

    #[test]
    fn awkward_tokens_round_trip() {
        for token in AWKWARD {
            let text = render("T", token).unwrap();
            assert_eq!(read_value(&text, "T").as_deref(), Some(*token), "{text}");
        }
    }

    #[test]
    fn the_written_form_is_double_quoted_with_four_escapes() {
        assert_eq!(
            render("T", r#"a"b\c`d$e'f g"#).unwrap(),
            "T=\"a\\\"b\\\\c\\`d\\$e'f g\"\n"
        );
    }

    #[test]
    fn control_characters_are_refused_by_name() {
        for bad in ["a\nb", "a\rb", "a\0b", "a\tb", "a\u{7f}b", "a\u{1b}b"] {
            let e = render("T", bad).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidArgument);
            assert!(e.message.contains("control character"), "{}", e.message);
            assert!(!e.message.contains(bad), "the token is never shown");
        }
    }

    #[test]
    fn legacy_and_hand_written_lines_read_as_systemd_reads_them() {
        for (line, want) in [
            ("T=abc", "abc"),
            ("T=  lead", "lead"),
            ("T=trail  ", "trail"),
            ("T=\"x\"", "x"),
            ("T=a\\b", "ab"),
            ("T=a\"b\"", "a\"b\""),
            ("T='a\\b'", "a\\b"),
            ("T=\"a\\qb\"", "a\\qb"),
            ("  T = 'one' \"two\" ", "onetwo"),
            ("T=", ""),
        ] {
            assert_eq!(read_value(line, "T").as_deref(), Some(want), "{line}");
        }
        assert_eq!(
            read_value("# T=x\nU=y\nT=z\nT=w", "T").as_deref(),
            Some("w")
        );
        assert_eq!(read_value("TT=x", "T"), None);
    }
}
