//! runs.jsonl: append-only run history, one JSON record per line. Appends
//! are fsynced before anything else records the run; reads tolerate a torn
//! last line (a crash mid-append) and skip corrupt lines, counting them.

use super::status::RunRecord;
use crate::error::{Error, ErrorCode, Result};
use crate::fsutil;
use std::io::{BufRead, BufReader};
use std::path::Path;

pub fn append(path: &Path, run: &RunRecord) -> Result<()> {
    let line = serde_json::to_string(run)
        .map_err(|e| Error::new(ErrorCode::InternalError, format!("serialize run: {e}")))?;
    fsutil::append_line_synced(path, &line).map_err(|e| Error::io("append to", path, e))
}

/// Every readable record in file order, and how many lines were skipped.
pub fn read_all(path: &Path) -> Result<(Vec<RunRecord>, usize)> {
    read_from(path, 0).map(|(runs, skipped, _)| (runs, skipped))
}

/// Records starting at byte `offset`; also returns the offset just past
/// the last complete line, so callers can resume an import there.
pub fn read_from(path: &Path, offset: u64) -> Result<(Vec<RunRecord>, usize, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0, 0)),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("read", path, e))?;
    let mut reader = BufReader::new(file);
    let mut runs = Vec::new();
    let mut skipped = 0;
    let mut consumed = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        if !line.ends_with('\n') {
            // A torn final line from a crash mid-append: not yet a record.
            break;
        }
        consumed += n as u64;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<RunRecord>(text) {
            Ok(run) => runs.push(run),
            Err(_) => skipped += 1,
        }
    }
    Ok((runs, skipped, consumed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::status::{Outcome, make_run};

    #[test]
    fn append_then_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        append(&path, &make_run(1, Outcome::Success)).unwrap();
        append(&path, &make_run(2, Outcome::Failed)).unwrap();
        let (runs, skipped) = read_all(&path).unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(
            runs.iter().map(|r| r.timestamp_ms).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn torn_and_corrupt_lines_are_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        append(&path, &make_run(1, Outcome::Success)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"garbage\n{\"run_id\":\"torn"))
            .unwrap();
        let (runs, skipped, end) = read_from(&path, 0).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(skipped, 1);
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(end < len, "the torn line is not consumed");
        // Resuming at `end` after the line is completed reads just the rest.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"\"}\n"))
            .unwrap();
        let (_, skipped, _) = read_from(&path, end).unwrap();
        assert_eq!(
            skipped, 1,
            "an incomplete record stays unparseable, not lost silently"
        );
    }

    #[test]
    fn missing_file_is_empty_history() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_all(&dir.path().join("none.jsonl"))
                .unwrap()
                .0
                .is_empty()
        );
    }
}
