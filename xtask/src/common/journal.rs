//! Append-only journals of finished work, which make long commands resumable: a
//! line per finished item, a torn last line cut off before the next is written.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};

/// Opens the journal for appending after cutting off a torn tail: bytes after the
/// last newline are a line that a kill cut short, and appending after them would
/// glue the next line to it (a malformed line in the middle, which blocks every
/// later run). The model of that line is trained again.
pub(crate) fn open_for_append(path: &Path) -> anyhow::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        eprintln!(
            "{}: dropping a line cut short at byte {whole} ({} bytes); its model is trained again",
            path.display(),
            bytes.len() - whole
        );
        file.set_len(whole as u64)
            .with_context(|| format!("truncating {}", path.display()))?;
        file.sync_all()?;
    }
    Ok(file)
}

/// Every line of a journal, parsed; no file is an empty journal, and a last line
/// that does not parse is one a kill cut short (ignored, and cut off by
/// [`open_for_append`] before the next line is written). Any other line that does
/// not parse is an error naming the file and the line.
pub(crate) fn journal_lines<T>(
    path: &Path,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<Vec<T>> {
    let Ok(file) = File::open(path) else {
        return Ok(Vec::new());
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    let last = lines.len().saturating_sub(1);
    let mut parsed = Vec::with_capacity(lines.len());
    for (number, line) in lines.iter().enumerate() {
        match parse(line) {
            Some(row) => parsed.push(row),
            None if number == last => {}
            None => bail!(
                "{}: line {} is malformed: {line:?}",
                path.display(),
                number + 1
            ),
        }
    }
    Ok(parsed)
}
