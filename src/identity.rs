//! Service identity: a composite fingerprint of the workspace root, the
//! config path and the project URLs (README, "Concepts"), and `--name`.

use sha2::{Digest, Sha256};
use std::path::Path;

/// First 12 hex chars of SHA-256 over (canonical workspace root, NUL,
/// canonical config path, then NUL + each project URL, URLs sorted).
pub fn compute_service_id(
    workspace_root: &Path,
    config_path: &Path,
    project_urls: &[&str],
) -> String {
    let canonical_workspace = workspace_root
        .canonicalize()
        .unwrap_or_else(|_| workspace_root.to_path_buf());
    let canonical_config = config_path
        .canonicalize()
        .unwrap_or_else(|_| config_path.to_path_buf());
    let mut hasher = Sha256::new();
    hasher.update(canonical_workspace.to_string_lossy().as_bytes());
    hasher.update(b"\0");
    hasher.update(canonical_config.to_string_lossy().as_bytes());
    let mut urls = project_urls.to_vec();
    urls.sort_unstable();
    for url in urls {
        // The separator keeps ["ab","c"] and ["a","bc"] apart.
        hasher.update(b"\0");
        hasher.update(url.as_bytes());
    }
    hex::encode(&hasher.finalize()[..6])
}

/// A `--name` as a service id, and what it took to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanitizedName {
    pub name: String,
    /// Letters spelled in ASCII, in order of appearance: (letter, spelling).
    pub transliterated: Vec<(char, &'static str)>,
}

/// The ASCII spelling of a lowercase Latin letter with a diacritic, or of
/// a Latin ligature or special letter (Latin-1 and Latin Extended-A, with
/// the Romanian comma letters); "" for a combining mark (decomposed
/// input: e + U+0301). None for anything else.
fn ascii_spelling(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{0300}'..='\u{036f}' => "",
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// Sanitize a user-provided name to `[a-z0-9-]`, at most 32 chars:
/// lowercase; Latin letters with diacritics spelled in ASCII (é → e,
/// ŝ → s, ß → ss); anything else that is not a letter or digit (spaces,
/// punctuation, symbols) becomes '-'. A letter or digit of another script
/// has no ASCII spelling and is refused rather than dropped, so a name is
/// never silently cut down to a different one.
pub fn sanitize_name_detailed(name: &str) -> Result<SanitizedName, String> {
    let mut sanitized = String::with_capacity(name.len());
    let mut transliterated = Vec::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            sanitized.push(c);
        } else if let Some(ascii) = ascii_spelling(c) {
            sanitized.push_str(ascii);
            transliterated.push((c, ascii));
        } else if c.is_alphanumeric() {
            return Err(format!(
                "service name '{name}' has '{c}', which has no ASCII spelling; service names use a-z, 0-9 and '-': choose one with --name (or `name` in syncfleet.json)"
            ));
        } else {
            sanitized.push('-');
        }
    }
    let trimmed = sanitized.trim_matches('-').to_string();
    if trimmed.is_empty() {
        return Err(format!(
            "service name '{name}' must contain at least one letter or digit"
        ));
    }
    if trimmed.len() > 32 {
        return Err(format!(
            "service name '{name}' is {} characters after sanitizing; use 32 or fewer",
            trimmed.len()
        ));
    }
    Ok(SanitizedName {
        name: trimmed,
        transliterated,
    })
}

/// `sanitize_name_detailed`, just the name.
pub fn sanitize_service_name(name: &str) -> Result<String, String> {
    sanitize_name_detailed(name).map(|s| s.name)
}

/// What to tell the user when their name is used in another spelling:
/// transliterated letters (from what to what), or other changes beyond
/// lowercasing. None when the name is used as given.
pub fn rename_note(given: &str) -> Option<String> {
    let s = sanitize_name_detailed(given).ok()?;
    if !s.transliterated.is_empty() {
        let mut seen = Vec::new();
        let pairs: Vec<String> = s
            .transliterated
            .iter()
            .filter(|(c, _)| {
                let new = !seen.contains(c);
                seen.push(*c);
                new
            })
            .map(|(c, ascii)| {
                if ascii.is_empty() {
                    format!("U+{:04X} dropped", u32::from(*c))
                } else {
                    format!("{c}→{ascii}")
                }
            })
            .collect();
        return Some(format!(
            "service name '{given}' was transliterated to '{}' ({}): service names use a-z, 0-9 and '-'",
            s.name,
            pairs.join(", ")
        ));
    }
    (s.name != given.to_lowercase()).then(|| {
        format!(
            "service name '{given}' is used as '{}': service names use a-z, 0-9 and '-'",
            s.name
        )
    })
}

/// Whether a string can be a service id (hash or sanitized name); used to
/// refuse path tricks in `--service-id` before touching the file system.
pub fn is_valid_service_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "/home/user/.config/lore/config.json";

    #[test]
    fn compute_service_id_deterministic() {
        let urls = ["https://gitlab.com/group/repo"];
        let id1 = compute_service_id(Path::new("/home/user/project"), Path::new(CONFIG), &urls);
        let id2 = compute_service_id(Path::new("/home/user/project"), Path::new(CONFIG), &urls);
        assert_eq!(id1, id2);
        assert_eq!(id1.len(), 12);
        assert!(id1.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn compute_service_id_different_workspaces() {
        let urls = ["https://gitlab.com/group/repo"];
        let id1 = compute_service_id(Path::new("/home/user/project-a"), Path::new(CONFIG), &urls);
        let id2 = compute_service_id(Path::new("/home/user/project-b"), Path::new(CONFIG), &urls);
        assert_ne!(id1, id2);
    }

    #[test]
    fn compute_service_id_different_configs() {
        let urls = ["https://gitlab.com/group/repo"];
        let ws = Path::new("/home/user/project");
        assert_ne!(
            compute_service_id(ws, Path::new("/home/user1/config.json"), &urls),
            compute_service_id(ws, Path::new("/home/user2/config.json"), &urls)
        );
    }

    #[test]
    fn compute_service_id_different_projects_same_config() {
        let ws = Path::new("/home/user/project");
        assert_ne!(
            compute_service_id(ws, Path::new(CONFIG), &["https://gitlab.com/group/repo-a"]),
            compute_service_id(ws, Path::new(CONFIG), &["https://gitlab.com/group/repo-b"])
        );
    }

    #[test]
    fn compute_service_id_url_order_independent() {
        let ws = Path::new("/home/user/project");
        let c = Path::new("/config.json");
        assert_eq!(
            compute_service_id(ws, c, &["https://gitlab.com/a", "https://gitlab.com/b"]),
            compute_service_id(ws, c, &["https://gitlab.com/b", "https://gitlab.com/a"])
        );
    }

    #[test]
    fn compute_service_id_separator_prevents_concatenation_collisions() {
        let ws = Path::new("/w");
        let c = Path::new("/c.json");
        assert_ne!(
            compute_service_id(ws, c, &["ab", "c"]),
            compute_service_id(ws, c, &["a", "bc"])
        );
    }

    #[test]
    fn compute_service_id_matches_the_plan_bit_for_bit() {
        // The first 12 hex digits of sha256 over root NUL config (NUL url)*,
        // computed outside syncfleet:
        //   printf '/w\0/c.json\0u' | sha256sum | cut -c1-12
        //   printf '/w\0/c.json\0a\0b' | sha256sum | cut -c1-12
        // (the paths do not exist, so they hash as given).
        assert_eq!(
            compute_service_id(Path::new("/w"), Path::new("/c.json"), &["u"]),
            "0a26047ea5c2"
        );
        assert_eq!(
            compute_service_id(Path::new("/w"), Path::new("/c.json"), &["b", "a"]),
            "5f0055ae3b60",
            "URLs sorted, each after a NUL"
        );
    }

    #[test]
    fn sanitize_service_name_valid() {
        assert_eq!(sanitize_service_name("my-project").unwrap(), "my-project");
        assert_eq!(sanitize_service_name("MyProject").unwrap(), "myproject");
    }

    #[test]
    fn sanitize_service_name_special_chars() {
        // A trailing dash is dropped: a name never needs one.
        assert_eq!(sanitize_service_name("my project!").unwrap(), "my-project");
        assert_eq!(sanitize_service_name("Ünïcode box").unwrap(), "unicode-box");
    }

    #[test]
    fn latin_diacritics_are_transliterated_and_reported() {
        let s = sanitize_name_detailed("ŝérvice").unwrap();
        assert_eq!(s.name, "service");
        assert_eq!(s.transliterated, [('ŝ', "s"), ('é', "e")]);
        assert_eq!(sanitize_service_name("Straße").unwrap(), "strasse");
        assert_eq!(sanitize_service_name("ŒUVRE Łódź").unwrap(), "oeuvre-lodz");
        assert_eq!(sanitize_service_name("Ærøskøbing").unwrap(), "aeroskobing");
        // Decomposed input: the combining accent goes, its letter stays.
        assert_eq!(sanitize_service_name("cafe\u{301}").unwrap(), "cafe");
        assert_eq!(
            rename_note("ŝérvice").unwrap(),
            "service name 'ŝérvice' was transliterated to 'service' (ŝ→s, é→e): service names use a-z, 0-9 and '-'"
        );
        assert!(
            rename_note("my project!")
                .unwrap()
                .contains("is used as 'my-project'")
        );
        assert_eq!(rename_note("MyProject"), None, "lowercasing is no news");
        assert_eq!(rename_note("svc"), None);
    }

    #[test]
    fn letters_without_an_ascii_spelling_are_refused_not_dropped() {
        let e = sanitize_service_name("服务-sync").unwrap_err();
        assert!(e.contains("'服'") && e.contains("no ASCII spelling"), "{e}");
        assert!(sanitize_service_name("данные").is_err());
        // Symbols are separators like ASCII punctuation.
        assert_eq!(sanitize_service_name("a—b ✓").unwrap(), "a-b");
    }

    #[test]
    fn sanitize_service_name_empty_rejects() {
        assert!(sanitize_service_name("---").is_err());
        assert!(sanitize_service_name("").is_err());
        assert!(sanitize_service_name("!!!").is_err());
    }

    #[test]
    fn sanitize_service_name_too_long() {
        assert!(sanitize_service_name(&"a".repeat(33)).is_err());
        assert!(sanitize_service_name(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn valid_ids() {
        assert!(is_valid_service_id("a1b2c3d4e5f6"));
        assert!(is_valid_service_id("my-project"));
        assert!(!is_valid_service_id("../etc"));
        assert!(!is_valid_service_id(""));
        assert!(!is_valid_service_id("UPPER"));
    }
}
