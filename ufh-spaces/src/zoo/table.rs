//! The zoo's trained accuracies: a small checksummed binary table per space.
//!
//! Layout, little-endian: the magic `UFHZOO` and version 1 (u16); the metadata's
//! length (u32) and the metadata, JSON (the space, the [`ZooSettings`] and the
//! generator); the record count (u32); per record, the architecture's index in its
//! space (u32), its trainable parameters (u32), its correct training, validation
//! and test predictions at the end of training (u16 each, over the example counts
//! of the metadata), its training seconds (f32) and whether it diverged (u8); and
//! last a CRC32C (Castagnoli) of every byte before it (u32). Accuracies are counts,
//! so they read back bit for bit.

use super::{ZooSettings, ZooSpace};

const MAGIC: &[u8; 6] = b"UFHZOO";
const VERSION: u16 = 1;
const RECORD_BYTES: usize = 4 + 4 + 2 * 3 + 4 + 1;

/// One trained network of a [`ZooTable`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZooRecord {
    /// The architecture's index in its space.
    pub index: usize,
    /// Trainable parameters.
    pub parameters: u32,
    /// Correct predictions on the training, validation and test images.
    pub correct: [u16; 3],
    /// Seconds the training steps took (the one field that varies between runs).
    pub training_seconds: f32,
    /// Whether the loss became NaN or infinite.
    pub diverged: bool,
}

/// What the table was made with and of.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZooMetadata {
    /// The space.
    pub space: ZooSpace,
    /// How its networks were trained.
    pub settings: ZooSettings,
    /// Training, validation and test images the counts are over.
    pub examples: [u16; 3],
    /// The program and version that made it.
    pub generator: String,
}

/// The trained accuracies of a sample of one zoo space.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooTable {
    /// What it was made with.
    pub metadata: ZooMetadata,
    /// The networks, by ascending index.
    pub records: Vec<ZooRecord>,
}

/// Why bytes are not a zoo table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZooTableError {
    /// Not this format, or a version this build does not read.
    #[error("not a ufh zoo table (magic or version {0} unknown)")]
    Format(String),
    /// The bytes end early, at the named part.
    #[error("the table ends early, inside {0}")]
    Truncated(&'static str),
    /// The checksum does not match: the bytes were damaged.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The stored CRC32C.
        stored: u32,
        /// The CRC32C of the bytes read.
        computed: u32,
    },
    /// The metadata is not the expected JSON.
    #[error("metadata: {0}")]
    Metadata(String),
    /// A record does not fit its space or the example counts.
    #[error("record {record}: {why}")]
    Record {
        /// The record's position.
        record: usize,
        /// What is wrong.
        why: String,
    },
}

impl ZooRecord {
    /// Accuracy on the training, validation (1) or test (2) images.
    pub fn accuracy(&self, which: usize, metadata: &ZooMetadata) -> f64 {
        f64::from(self.correct[which]) / f64::from(metadata.examples[which])
    }
}

impl ZooTable {
    /// The table as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        let metadata = serde_json::to_string(&self.metadata).expect("serialisable");
        out.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
        out.extend_from_slice(metadata.as_bytes());
        out.extend_from_slice(&(self.records.len() as u32).to_le_bytes());
        for r in &self.records {
            out.extend_from_slice(&(r.index as u32).to_le_bytes());
            out.extend_from_slice(&r.parameters.to_le_bytes());
            for c in r.correct {
                out.extend_from_slice(&c.to_le_bytes());
            }
            out.extend_from_slice(&r.training_seconds.to_le_bytes());
            out.push(u8::from(r.diverged));
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a table written by [`ZooTable::to_bytes`], checking its checksum and
    /// every record against its space and example counts.
    ///
    /// # Errors
    /// A [`ZooTableError`] naming what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ZooTableError> {
        if bytes.len() < 8 || &bytes[..6] != MAGIC {
            return Err(ZooTableError::Format("(no magic)".into()));
        }
        let version = u16::from_le_bytes([bytes[6], bytes[7]]);
        if version != VERSION {
            return Err(ZooTableError::Format(version.to_string()));
        }
        if bytes.len() < 12 {
            return Err(ZooTableError::Truncated("the header"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(ZooTableError::Checksum { stored, computed });
        }
        let mut at = 8;
        let mut take = |n: usize, part: &'static str| {
            let slice = body.get(at..at + n).ok_or(ZooTableError::Truncated(part))?;
            at += n;
            Ok::<_, ZooTableError>(slice)
        };
        let u32_at = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
        let length = u32_at(take(4, "the metadata length")?) as usize;
        let metadata: ZooMetadata = serde_json::from_slice(take(length, "the metadata")?)
            .map_err(|e| ZooTableError::Metadata(e.to_string()))?;
        let count = u32_at(take(4, "the record count")?) as usize;
        let mut records = Vec::with_capacity(count.min(body.len() / RECORD_BYTES));
        for record in 0..count {
            let b = take(RECORD_BYTES, "a record")?;
            let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
            let r = ZooRecord {
                index: u32_at(&b[0..4]) as usize,
                parameters: u32_at(&b[4..8]),
                correct: [u16_at(8), u16_at(10), u16_at(12)],
                training_seconds: f32::from_le_bytes(b[14..18].try_into().expect("4 bytes")),
                diverged: b[18] != 0,
            };
            let bad = |why: String| ZooTableError::Record { record, why };
            if r.index >= metadata.space.len() {
                return Err(bad(format!(
                    "index {} is outside {} ({} architectures)",
                    r.index,
                    metadata.space.name(),
                    metadata.space.len()
                )));
            }
            if records
                .last()
                .is_some_and(|p: &ZooRecord| p.index >= r.index)
            {
                return Err(bad(format!("index {} is not ascending", r.index)));
            }
            for (which, (&c, &n)) in r.correct.iter().zip(&metadata.examples).enumerate() {
                if c > n {
                    return Err(bad(format!("{c} correct of {n} examples in count {which}")));
                }
            }
            records.push(r);
        }
        if at != body.len() {
            return Err(ZooTableError::Record {
                record: count,
                why: format!("{} bytes after the last record", body.len() - at),
            });
        }
        Ok(Self { metadata, records })
    }

    /// The shipped table of `space`, made by `cargo xtask zoo-table`.
    pub fn embedded(space: ZooSpace) -> Self {
        let bytes: &[u8] = match space {
            ZooSpace::Nb201 => include_bytes!("../../data/zoo-nb201.ufhzoo"),
            ZooSpace::Chain => include_bytes!("../../data/zoo-chain.ufhzoo"),
        };
        Self::from_bytes(bytes).expect("the shipped zoo table is valid")
    }
}
