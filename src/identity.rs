//! Service identity: the plan's composite fingerprint, and `--name`.

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

/// Sanitize a user-provided name to `[a-z0-9-]`, at most 32 chars.
pub fn sanitize_service_name(name: &str) -> Result<String, String> {
    let sanitized: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
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
    Ok(trimmed)
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
        // sha256("/w\0/c.json\0u") computed independently.
        let mut h = Sha256::new();
        h.update(b"/w\0/c.json\0u");
        let expected = hex::encode(&h.finalize()[..6]);
        assert_eq!(
            compute_service_id(Path::new("/w"), Path::new("/c.json"), &["u"]),
            expected
        );
    }

    #[test]
    fn sanitize_service_name_valid() {
        assert_eq!(sanitize_service_name("my-project").unwrap(), "my-project");
        assert_eq!(sanitize_service_name("MyProject").unwrap(), "myproject");
    }

    #[test]
    fn sanitize_service_name_special_chars() {
        // The plan's example keeps a trailing dash; a name never needs one.
        assert_eq!(sanitize_service_name("my project!").unwrap(), "my-project");
        assert_eq!(sanitize_service_name("Ünïcode box").unwrap(), "n-code-box");
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
