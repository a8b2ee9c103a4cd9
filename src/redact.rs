//! Keeping secrets (the workspace token) out of everything syncfleet
//! writes or prints: logs, status.json, runs.jsonl, the registry, command
//! output, hook environments.
//!
//! Two rules make this hold for text that is cut to a bounded size:
//! redact *before* truncating, and treat the end of a cut text as the
//! possible start of a secret (a secret straddling the cut must not leak
//! its prefix). Secrets shorter than [`MIN_SECRET_LEN`] are not used for
//! substring redaction: replacing every `ab` in a log would blank
//! unrelated text while protecting little; install and doctor warn about
//! such a token instead.

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Shortest secret redacted by substring replacement.
pub const MIN_SECRET_LEN: usize = 8;

/// The secrets of one run, each at least `MIN_SECRET_LEN` characters.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Keep the secrets long enough to redact safely; shorter ones are
    /// dropped here and reported by [`short_secret_warning`] at install
    /// and doctor time.
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_SECRET_LEN)
            // A stage printing JSON shows a secret with `"` or `\` escaped.
            .flat_map(|s| {
                let quoted = serde_json::to_string(&s).unwrap_or_default();
                let escaped = quoted[1..quoted.len() - 1].to_string();
                [Some(s.clone()), (escaped != s).then_some(escaped)]
            })
            .flatten()
            .collect();
        // Longest first: a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Longest secret in bytes (0 without secrets).
    pub fn longest(&self) -> usize {
        self.secrets.iter().map(String::len).max().unwrap_or(0)
    }

    /// Every occurrence of every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |acc, secret| {
            acc.replace(secret.as_str(), REDACTED)
        })
    }

    /// Length in bytes of the longest suffix of `text` that is the start
    /// of a secret (the secret may continue past the end of `text`).
    pub fn partial_suffix_len(&self, text: &str) -> usize {
        self.secrets
            .iter()
            .flat_map(|secret| {
                (1..secret.len())
                    .rev()
                    .filter(|&n| secret.is_char_boundary(n))
                    .find(|&n| text.ends_with(&secret[..n]))
            })
            .max()
            .unwrap_or(0)
    }

    /// `text` was cut from something longer: redact it, and drop a tail
    /// that could be the start of a secret continuing past the cut.
    pub fn redact_cut(&self, text: &str) -> String {
        let mut redacted = self.redact(text);
        let partial = self.partial_suffix_len(&redacted);
        redacted.truncate(redacted.len() - partial);
        redacted
    }

    /// Redact, then cut to at most `max` bytes (at a character boundary).
    /// `was_cut`: `text` itself is already the head of something longer.
    pub fn redact_then_truncate(&self, text: &str, was_cut: bool, max: usize) -> String {
        let mut redacted = if was_cut {
            self.redact_cut(text)
        } else {
            self.redact(text)
        };
        truncate_at_char_boundary(&mut redacted, max);
        redacted
    }
}

/// Cut `s` to at most `max` bytes without splitting a character.
pub fn truncate_at_char_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// The warning install and doctor give for a token too short to redact.
pub fn short_secret_warning(var: &str, value: &str) -> Option<String> {
    let len = value.chars().count();
    (len > 0 && len < MIN_SECRET_LEN).then(|| {
        format!(
            "{var} is {len} characters long, too short to redact safely: syncfleet redacts only tokens of at least {MIN_SECRET_LEN} characters, so this one may appear in logs and history if a stage prints it; use a longer token"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_not_used_and_are_warned_about() {
        let r = Redactor::new(["abc".to_string(), "".to_string()]);
        assert_eq!(r.redact("abcabc a b c"), "abcabc a b c");
        assert_eq!(r.longest(), 0);
        let w = short_secret_warning("T", "abc").unwrap();
        assert!(w.contains("too short to redact safely"), "{w}");
        assert!(!w.contains("abc"), "the warning never shows the token: {w}");
        assert_eq!(short_secret_warning("T", "12345678"), None);
        assert_eq!(short_secret_warning("T", ""), None);
    }

    #[test]
    fn longest_secret_wins() {
        let r = Redactor::new(["secret-1".to_string(), "secret-1-long".to_string()]);
        assert_eq!(
            r.redact("x secret-1-long y secret-1"),
            "x [REDACTED] y [REDACTED]"
        );
    }

    #[test]
    fn the_json_escaped_form_is_redacted_too() {
        let r = Redactor::new([r#"tok"en\abc"#.to_string()]);
        assert_eq!(
            r.redact(r#"{"message":"bad tok\"en\\abc"} tok"en\abc"#),
            r#"{"message":"bad [REDACTED]"} [REDACTED]"#
        );
    }

    #[test]
    fn a_secret_straddling_the_cut_leaves_no_prefix() {
        let token = "glpat-ABCDEFGHIJ";
        let r = Redactor::new([token.to_string()]);
        let line = format!("{}{token} tail", "x".repeat(100));
        for cut in 90..line.len() {
            let head = &line[..cut];
            let out = r.redact_then_truncate(head, true, 95);
            for n in 6..=token.len() {
                assert!(!out.contains(&token[..n]), "cut {cut}: {out}");
            }
            assert!(out.len() <= 95);
        }
        // Replacing an earlier secret by the shorter marker moves a cut
        // later one left, inside the limit: its prefix must still go.
        let long = "z".repeat(40);
        let r = Redactor::new([long.clone()]);
        let text = format!("{long}{}{long}", "y".repeat(70));
        let out = r.redact_then_truncate(&text[..130], true, 100);
        assert_eq!(out, format!("{REDACTED}{}", "y".repeat(70)));
    }

    #[test]
    fn partial_suffix_respects_unicode() {
        let r = Redactor::new(["ééééé-token".to_string()]);
        assert_eq!(r.partial_suffix_len("abc éé"), "éé".len());
        assert_eq!(r.redact_cut("abc ééééé-to"), "abc ");
        assert_eq!(r.partial_suffix_len("abc"), 0);
    }
}
