//! runs.jsonl: append-only run history, one JSON record per line. Appends
//! are fsynced before anything else records the run and always start on a
//! fresh line; reads tolerate a torn last line (a crash mid-append) and
//! skip bad lines (not UTF-8, not JSON, not a run, a newer schema),
//! counting them, so one bad byte never hides the rest of the history.

use super::status::RunRecord;
use crate::error::{Error, ErrorCode, Result};
use crate::fsutil;
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The record version this syncfleet writes and reads. Records carry no
/// `schema_version` yet (absent means 1); a larger one comes from a newer
/// syncfleet and is skipped, never rewritten.
pub const SCHEMA_VERSION: u64 = 1;

pub fn append(path: &Path, run: &RunRecord) -> Result<()> {
    let line = serde_json::to_string(run)
        .map_err(|e| Error::new(ErrorCode::InternalError, format!("serialize run: {e}")))?;
    fsutil::append_line_synced(path, &line).map_err(|e| Error::io("append to", path, e))
}

/// Why a line of runs.jsonl is not a run this syncfleet can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadLine {
    NotUtf8,
    NotJson,
    /// Valid JSON, but not a run record (a wrong shape, an unknown value).
    NotARun,
    /// A record from a newer syncfleet: good data, just not ours to read.
    NewerSchema,
}

impl BadLine {
    /// Corrupt lines go aside on `repair`; newer-schema lines stay.
    pub fn is_corrupt(self) -> bool {
        self != BadLine::NewerSchema
    }
}

/// One line of runs.jsonl, judged.
#[derive(Debug)]
pub enum Line {
    Blank,
    Run(Box<RunRecord>),
    Bad(BadLine),
}

/// Judge one line (without its newline).
pub fn classify(bytes: &[u8]) -> Line {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Line::Bad(BadLine::NotUtf8);
    };
    let text = text.trim();
    if text.is_empty() {
        return Line::Blank;
    }
    // The common line, a record of this version (no `schema_version`),
    // parsed once straight into a run: reindex reads millions of them.
    // Anything else takes the careful path below, which judges it.
    if !text.contains("\"schema_version\"")
        && let Ok(run) = serde_json::from_str::<RunRecord>(text)
    {
        return Line::Run(Box::new(run));
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Line::Bad(BadLine::NotJson);
    };
    if value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .is_some_and(|v| v > SCHEMA_VERSION)
    {
        return Line::Bad(BadLine::NewerSchema);
    }
    match serde_json::from_value::<RunRecord>(value) {
        Ok(run) => Line::Run(Box::new(run)),
        Err(_) => Line::Bad(BadLine::NotARun),
    }
}

/// Lines a read skipped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub not_utf8: usize,
    pub not_json: usize,
    pub not_a_run: usize,
    pub newer_schema: usize,
}

impl Skipped {
    pub fn add(&mut self, bad: BadLine) {
        match bad {
            BadLine::NotUtf8 => self.not_utf8 += 1,
            BadLine::NotJson => self.not_json += 1,
            BadLine::NotARun => self.not_a_run += 1,
            BadLine::NewerSchema => self.newer_schema += 1,
        }
    }

    pub fn merge(&mut self, other: Skipped) {
        self.not_utf8 += other.not_utf8;
        self.not_json += other.not_json;
        self.not_a_run += other.not_a_run;
        self.newer_schema += other.newer_schema;
    }

    pub fn total(&self) -> usize {
        self.corrupt() + self.newer_schema
    }

    /// Lines that `repair` moves aside.
    pub fn corrupt(&self) -> usize {
        self.not_utf8 + self.not_json + self.not_a_run
    }

    /// "2 not UTF-8, 1 not JSON" (the non-zero reasons).
    pub fn describe(&self) -> String {
        [
            (self.not_utf8, "not UTF-8"),
            (self.not_json, "not JSON"),
            (self.not_a_run, "not a run record"),
            (self.newer_schema, "from a newer syncfleet"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Every readable record in file order, and the lines skipped.
pub fn read_all(path: &Path) -> Result<(Vec<RunRecord>, Skipped)> {
    read_from(path, 0).map(|(runs, skipped, _)| (runs, skipped))
}

/// Records starting at byte `offset`; also returns the offset just past
/// the last complete line, so callers can resume an import there.
pub fn read_from(path: &Path, offset: u64) -> Result<(Vec<RunRecord>, Skipped, u64)> {
    read_chunk(path, offset, usize::MAX)
}

/// `read_from`, stopping after `max` records (the offset returned is just
/// past the last one read): an import holds one chunk in memory, not a
/// whole history.
pub fn read_chunk(path: &Path, offset: u64, max: usize) -> Result<(Vec<RunRecord>, Skipped, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), Skipped::default(), 0));
        }
        Err(e) => return Err(Error::io("read", path, e)),
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("read", path, e))?;
    let mut reader = BufReader::new(file);
    let mut runs = Vec::new();
    let mut skipped = Skipped::default();
    let mut consumed = offset;
    // Bytes, not a String: a line that is not UTF-8 is one bad line, not
    // an error for the whole file.
    let mut line = Vec::new();
    while runs.len() < max {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            // A torn final line from a crash mid-append: not yet a record.
            break;
        }
        consumed += n as u64;
        match classify(&line[..line.len() - 1]) {
            Line::Blank => {}
            Line::Run(run) => runs.push(*run),
            Line::Bad(bad) => skipped.add(bad),
        }
    }
    Ok((runs, skipped, consumed))
}

/// What `repair` did to a runs.jsonl with corrupt lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetAside {
    /// Where the corrupt lines went, verbatim.
    pub backup: std::path::PathBuf,
    pub lines_moved: usize,
    pub lines_kept: usize,
}

/// Split a file's bytes into lines (without their newlines); a final
/// fragment without a newline is a line too.
pub fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|b| *b == b'\n')
        .filter(move |_| !bytes.is_empty())
}

/// Move the corrupt lines of `path` to `<name>.bad-<unix seconds>` and
/// rewrite it with every other line (runs and newer-schema records), both
/// atomically: the backup is durable before the history is rewritten, so a
/// crash between the two duplicates lines and never loses one. The caller
/// holds the service's pipeline lock (no append can interleave). Ok(None)
/// when there is nothing corrupt.
pub fn set_aside_corrupt_lines(path: &Path, now_secs: i64) -> Result<Option<SetAside>> {
    let Some(bytes) = fsutil::read_optional(path).map_err(|e| Error::io("read", path, e))? else {
        return Ok(None);
    };
    let mut kept: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut bad: Vec<u8> = Vec::new();
    let (mut lines_kept, mut lines_moved) = (0, 0);
    for line in split_lines(&bytes) {
        match classify(line) {
            Line::Blank => continue,
            Line::Bad(b) if b.is_corrupt() => {
                bad.extend_from_slice(line);
                bad.push(b'\n');
                lines_moved += 1;
            }
            _ => {
                kept.extend_from_slice(line);
                kept.push(b'\n');
                lines_kept += 1;
            }
        }
    }
    if lines_moved == 0 {
        return Ok(None);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut backup = path.with_file_name(format!("{name}.bad-{now_secs}"));
    let mut n = 1;
    while backup.exists() {
        backup = path.with_file_name(format!("{name}.bad-{now_secs}.{n}"));
        n += 1;
    }
    fsutil::write_atomic(&backup, &bad).map_err(|e| Error::io("write", &backup, e))?;
    fsutil::write_atomic(path, &kept).map_err(|e| Error::io("rewrite", path, e))?;
    Ok(Some(SetAside {
        backup,
        lines_moved,
        lines_kept,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::status::{Outcome, make_run};

    fn append_raw(path: &Path, bytes: &[u8]) {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, bytes))
            .unwrap();
    }

    #[test]
    fn append_then_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        append(&path, &make_run(1, Outcome::Success)).unwrap();
        append(&path, &make_run(2, Outcome::Failed)).unwrap();
        let (runs, skipped) = read_all(&path).unwrap();
        assert_eq!(skipped.total(), 0);
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
        append_raw(&path, b"garbage\n{\"run_id\":\"torn");
        let (runs, skipped, end) = read_from(&path, 0).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(skipped.not_json, 1);
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(end < len, "the torn line is not consumed");
        // Resuming at `end` after the line is completed reads just the rest.
        append_raw(&path, b"\"}\n");
        let (_, skipped, _) = read_from(&path, end).unwrap();
        assert_eq!(
            skipped.not_a_run, 1,
            "an incomplete record stays unparseable, not lost silently"
        );
    }

    #[test]
    fn every_kind_of_bad_line_is_skipped_and_counted_never_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        append(&path, &make_run(1, Outcome::Success)).unwrap();
        append_raw(&path, b"\xff\xfe not utf-8 \xc3\x28\n");
        append_raw(&path, b"{not json\n");
        append_raw(&path, b"{\"outcome\": \"exploded\"}\n");
        append_raw(&path, b"{\"schema_version\": 9, \"anything\": true}\n");
        append_raw(&path, b"\n");
        append(&path, &make_run(2, Outcome::Failed)).unwrap();
        let (runs, skipped) = read_all(&path).unwrap();
        assert_eq!(
            runs.iter().map(|r| r.timestamp_ms).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            skipped,
            Skipped {
                not_utf8: 1,
                not_json: 1,
                not_a_run: 1,
                newer_schema: 1
            }
        );
        assert_eq!(skipped.corrupt(), 3);
        assert_eq!(
            skipped.describe(),
            "1 not UTF-8, 1 not JSON, 1 not a run record, 1 from a newer syncfleet"
        );
    }

    #[test]
    fn an_append_after_a_torn_line_starts_on_a_fresh_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        append(&path, &make_run(1, Outcome::Success)).unwrap();
        append_raw(&path, b"{\"run_id\":\"torn-by-a-cra");
        append(&path, &make_run(2, Outcome::Success)).unwrap();
        let (runs, skipped) = read_all(&path).unwrap();
        assert_eq!(
            runs.iter().map(|r| r.timestamp_ms).collect::<Vec<_>>(),
            [1, 2],
            "the record after the torn line is whole"
        );
        assert_eq!(skipped.not_json, 1, "the torn fragment is one bad line");
    }

    #[test]
    fn corrupt_lines_are_set_aside_verbatim_and_good_lines_all_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        append(&path, &make_run(1, Outcome::Success)).unwrap();
        append_raw(&path, b"\xff bad\n");
        append_raw(&path, b"{\"schema_version\": 9}\n");
        append(&path, &make_run(2, Outcome::Success)).unwrap();
        append_raw(&path, b"{half");
        let done = set_aside_corrupt_lines(&path, 77).unwrap().unwrap();
        assert_eq!((done.lines_moved, done.lines_kept), (2, 3));
        assert_eq!(done.backup, dir.path().join("runs.jsonl.bad-77"));
        assert_eq!(std::fs::read(&done.backup).unwrap(), b"\xff bad\n{half\n");
        let (runs, skipped) = read_all(&path).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(skipped.corrupt(), 0);
        assert_eq!(skipped.newer_schema, 1, "a newer record is kept");
        assert!(
            set_aside_corrupt_lines(&path, 78).unwrap().is_none(),
            "nothing left to do"
        );
        // Twice in the same second: a second backup, not an overwrite.
        append_raw(&path, b"oops\n");
        let again = set_aside_corrupt_lines(&path, 77).unwrap().unwrap();
        assert_eq!(again.backup, dir.path().join("runs.jsonl.bad-77.1"));
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
        assert!(
            set_aside_corrupt_lines(&dir.path().join("none.jsonl"), 1)
                .unwrap()
                .is_none()
        );
    }
}
