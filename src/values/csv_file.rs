//! The CSV source: parsed at start-up, kept in memory, re-read when the file changes.
//!
//! Format: a header row naming `code` and `label` (required), optionally `list_item_id`,
//! and any attribute columns (e.g. `expense_types`). Column names are case-insensitive.
//! An attribute cell may hold several values separated by `|` (`AIRFR|LODNG`); an empty
//! cell means "any". Lines starting with `#` are comments. A UTF-8 byte-order mark
//! (Excel) is ignored.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use super::table::Entry;
use super::{Choice, CsvSettings};
use crate::checks::Problems;

/// Separator of several values in one attribute cell.
pub const MULTI_VALUE_SEPARATOR: char = '|';

/// Writers replace a file in several steps; read it once it has been quiet this long.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// How a file becomes rows (the first bad row fails it, with its line number).
pub(crate) type ParseFn<T> = fn(&[u8]) -> Result<Vec<T>, String>;

/// The current table, swapped whole on reload; searches never read the file. The rows are
/// values ([`Entry`]) by default; other CSV sources (attendees) bring their own parser.
pub(crate) struct CsvSource<T = Entry> {
    table: Arc<RwLock<Arc<Vec<T>>>>,
    /// Dropping it ends the watch and the reload thread.
    _watcher: Option<RecommendedWatcher>,
}

impl<T: Send + Sync + 'static> CsvSource<T> {
    /// The source of the `[{table}.csv]` settings (`table` is `values`,
    /// `fetch_list.lists[0]`, `fetch_attendee`, ...) with the rows read by `parse`. A
    /// missing path, an unreadable or invalid file is a problem under `{table}.csv.path`.
    pub fn from_settings(
        settings: &CsvSettings,
        table: &str,
        parse: ParseFn<T>,
        problems: &mut Problems,
    ) -> Option<Self> {
        let key = format!("{table}.csv.path");
        match &settings.path {
            None => {
                problems.push(key, format!("is required with {table}.source = \"csv\""));
                None
            }
            Some(path) => problems.take(
                &key,
                Self::open_with(path, settings.watch, &format!("{table}.csv"), parse),
            ),
        }
    }

    /// Reads the file (an unreadable or invalid file is an error) with `parse` and, with
    /// `watch`, starts reloading it on changes to its directory. `name` (`values.csv`, ...)
    /// names the source in log lines.
    pub fn open_with(
        path: &Path,
        watch: bool,
        name: &str,
        parse: ParseFn<T>,
    ) -> Result<Self, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let entries = parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        tracing::info!(path = %path.display(), rows = entries.len(), "{name} loaded");
        let table = Arc::new(RwLock::new(Arc::new(entries)));
        let watcher = if watch {
            Some(
                spawn_reloader(
                    path.to_path_buf(),
                    name.to_owned(),
                    bytes,
                    Arc::clone(&table),
                    parse,
                )
                .map_err(|e| format!("cannot watch {}: {e}", path.display()))?,
            )
        } else {
            None
        };
        Ok(Self {
            table,
            _watcher: watcher,
        })
    }

    pub fn entries(&self) -> Arc<Vec<T>> {
        Arc::clone(&self.table.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Watches the file's directory (editors and Kubernetes replace files by rename) and
/// re-reads the file on its own thread, off the async runtime. A file that cannot be read
/// or parsed is logged and the previous table stays.
fn spawn_reloader<T: Send + Sync + 'static>(
    path: PathBuf,
    name: String,
    mut last: Vec<u8>,
    table: Arc<RwLock<Arc<Vec<T>>>>,
    parse: ParseFn<T>,
) -> Result<RecommendedWatcher, Box<dyn std::error::Error>> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Our own reads raise access events; only changes matter.
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("csv-reload".to_owned())
        .spawn(move || {
            // Ends when the watcher (holding the sender) is dropped.
            while rx.recv().is_ok() {
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                let bytes = match std::fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(error) => {
                        tracing::warn!(path = %path.display(), %error, "cannot read {name}.path; keeping the previous values");
                        continue;
                    }
                };
                if bytes == last {
                    continue;
                }
                match parse(&bytes) {
                    Ok(entries) => {
                        let count = entries.len();
                        *table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(entries);
                        last = bytes;
                        tracing::info!(path = %path.display(), rows = count, "{name} reloaded");
                    }
                    Err(error) => {
                        tracing::warn!(path = %path.display(), %error, "the changed file of {name} is invalid; keeping the previous values");
                    }
                }
            }
        })?;
    Ok(watcher)
}

/// Opens a CSV file's bytes the way every CSV source reads them: a UTF-8 byte-order mark
/// (Excel) is ignored, cells are trimmed, lines starting with `#` are comments. Gives the
/// reader at the first record and the header row's names as written.
pub(crate) fn reader(bytes: &[u8]) -> Result<(csv::Reader<&[u8]>, Vec<String>), String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(str::to_owned)
        .collect();
    Ok((reader, headers))
}

/// Refuses a header row with a column without name or a name given twice (ignoring case);
/// `each` checks every name in turn, after its own name and before the repetition.
pub(crate) fn check_headers(
    headers: &[String],
    mut each: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    for (i, header) in headers.iter().enumerate() {
        if header.is_empty() {
            return Err(format!("header column {} has no name", i + 1));
        }
        each(header)?;
        if headers[..i].iter().any(|h| h.eq_ignore_ascii_case(header)) {
            return Err(format!("column `{header}` appears twice in the header row"));
        }
    }
    Ok(())
}

/// The line of a record in its file, for messages (0 when unknown).
pub(crate) fn line(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

/// Parses the whole file; the first bad row fails it (with its line number).
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let (mut reader, headers) = reader(bytes)?;
    let headers: Vec<String> = headers.iter().map(|h| h.to_lowercase()).collect();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(code), Some(label)) = (column("code"), column("label")) else {
        return Err("the header row must name the columns `code` and `label`".to_owned());
    };
    let list_item_id = column("list_item_id");
    check_headers(&headers, |_| Ok(()))?;
    let attributes: Vec<(usize, &str)> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| ![Some(code), Some(label), list_item_id].contains(&Some(*i)))
        .map(|(i, h)| (i, h.as_str()))
        .collect();

    let mut entries = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let line = line(&record);
        let cell = |i: usize| record.get(i).unwrap_or_default();
        if cell(code).is_empty() {
            return Err(format!("line {line}: the code is empty"));
        }
        let mut entry = Entry::new(Choice {
            code: cell(code).to_owned(),
            label: match cell(label) {
                "" => cell(code).to_owned(),
                text => text.to_owned(),
            },
            list_item_id: list_item_id
                .map(cell)
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
        });
        for (i, name) in &attributes {
            entry.add_attribute(name, cell(*i).split(MULTI_VALUE_SEPARATOR));
        }
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices(entries: &[Entry]) -> Vec<(&str, &str, Option<&str>)> {
        entries
            .iter()
            .map(|e| {
                (
                    e.choice.code.as_str(),
                    e.choice.label.as_str(),
                    e.choice.list_item_id.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_codes_labels_ids_and_attributes() {
        let csv = "\u{feff}Code, Label ,list_item_id,expense_types\n\
                   # a comment line\n\
                   PRJ-1,\"Apollo, phase 2\",LI-1,AIRFR|LODNG\n\
                   PRJ-2,,,\n";
        let entries = parse(csv.as_bytes()).unwrap();
        assert_eq!(
            choices(&entries),
            [
                ("PRJ-1", "Apollo, phase 2", Some("LI-1")),
                ("PRJ-2", "PRJ-2", None)
            ]
        );
        let mut expected = Entry::new(entries[0].choice.clone());
        expected.add_attribute("expense_types", ["AIRFR", "LODNG"]);
        assert_eq!(entries[0], expected);
        assert_eq!(entries[1], Entry::new(entries[1].choice.clone()));
    }

    #[test]
    fn only_code_and_label_are_required() {
        let entries = parse(b"label,code\nOne,1\n").unwrap();
        assert_eq!(choices(&entries), [("1", "One", None)]);
        assert!(parse(b"code,label\n").unwrap().is_empty());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for (csv, why) in [
            ("code,name\nA,B\n", "`code` and `label`"),
            ("", "`code` and `label`"),
            ("code,label,code\nA,B,C\n", "appears twice"),
            ("code,label,\nA,B,C\n", "no name"),
            ("code,label\nA,B\n,C\n", "line 3: the code is empty"),
            ("code,label\nA,B,C\n", "fields"),
        ] {
            let error = parse(csv.as_bytes()).unwrap_err();
            assert!(error.contains(why), "{csv:?}: {error}");
        }
    }
}
