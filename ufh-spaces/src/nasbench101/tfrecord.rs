//! TFRecord framing: length, masked CRC32C of the length, payload, masked CRC32C of
//! the payload. Read and written natively, both checks verified.

use std::io::{self, Read, Write};

/// TFRecord's CRC mask: `((crc >> 15) | (crc << 17)) + 0xa282ead8`, wrapping.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// What went wrong in one frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Reading failed (the cause is the source, not repeated in this message).
    #[error("read failed")]
    Io(#[from] io::Error),
    /// The file ends inside a frame.
    #[error("truncated {part}: {needed} bytes needed, {available} available")]
    Truncated {
        /// Which part of the frame.
        part: &'static str,
        /// Bytes the part needs.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// A CRC check failed.
    #[error("{part} CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// `length` or `payload`.
        part: &'static str,
        /// Masked CRC in the file.
        stored: u32,
        /// Masked CRC of the bytes read.
        computed: u32,
    },
    /// A length no record can have.
    #[error("record length {0} exceeds the 1 GiB limit")]
    TooLong(u64),
}

/// Where a record was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPosition {
    /// Index of the record in the file, from 0.
    pub index: u64,
    /// Byte offset of the record's frame.
    pub offset: u64,
}

/// Reads TFRecord frames one at a time into a reused buffer.
#[derive(Debug)]
pub struct TfRecordReader<R> {
    reader: R,
    offset: u64,
    index: u64,
}

/// Longest payload accepted: NAS-Bench-101's records are about 1 KB.
const MAX_RECORD: u64 = 1 << 30;
/// Bytes reserved ahead of a payload before any arrive.
const PREALLOCATE: usize = 64 << 10;

impl<R: Read> TfRecordReader<R> {
    /// A reader at the start of a file.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            offset: 0,
            index: 0,
        }
    }

    /// Position of the next record.
    pub fn position(&self) -> RecordPosition {
        RecordPosition {
            index: self.index,
            offset: self.offset,
        }
    }

    /// Reads the next payload into `payload` (cleared first). `Ok(None)` at a clean
    /// end of file; an error leaves the reader unusable, and its position names the
    /// frame that failed.
    pub fn next_record(
        &mut self,
        payload: &mut Vec<u8>,
    ) -> Result<Option<RecordPosition>, FrameError> {
        let position = self.position();
        let mut header = [0u8; 12];
        let got = read_up_to(&mut self.reader, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < header.len() {
            return Err(FrameError::Truncated {
                part: "header",
                needed: header.len() as u64,
                available: got as u64,
            });
        }
        let length_bytes: [u8; 8] = header[..8].try_into().expect("8 bytes");
        let stored = u32::from_le_bytes(header[8..].try_into().expect("4 bytes"));
        let computed = masked_crc32c(&length_bytes);
        if stored != computed {
            return Err(FrameError::Crc {
                part: "length",
                stored,
                computed,
            });
        }
        let length = u64::from_le_bytes(length_bytes);
        if length > MAX_RECORD {
            return Err(FrameError::TooLong(length));
        }
        // The claimed length is not trusted with an allocation: the buffer grows
        // with the bytes that actually arrive (a 16-byte file claiming 2^30 bytes
        // allocates a few bytes, not 1 GiB).
        payload.clear();
        payload.reserve((length as usize + 4).min(PREALLOCATE));
        let got = (&mut self.reader).take(length + 4).read_to_end(payload)?;
        if got < length as usize + 4 {
            return Err(FrameError::Truncated {
                part: "payload",
                needed: length + 4,
                available: got as u64,
            });
        }
        let stored = u32::from_le_bytes(payload[length as usize..].try_into().expect("4 bytes"));
        payload.truncate(length as usize);
        let computed = masked_crc32c(payload);
        if stored != computed {
            return Err(FrameError::Crc {
                part: "payload",
                stored,
                computed,
            });
        }
        self.offset += 12 + length + 4;
        self.index += 1;
        Ok(Some(position))
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes TFRecord frames.
#[derive(Debug)]
pub struct TfRecordWriter<W> {
    writer: W,
}

impl<W: Write> TfRecordWriter<W> {
    /// A writer on `writer` (wrap files in a `BufWriter`).
    pub fn new(writer: W) -> Self {
        Self { writer }
    }

    /// Writes one framed record.
    pub fn write_record(&mut self, payload: &[u8]) -> io::Result<()> {
        let length = (payload.len() as u64).to_le_bytes();
        self.writer.write_all(&length)?;
        self.writer
            .write_all(&masked_crc32c(&length).to_le_bytes())?;
        self.writer.write_all(payload)?;
        self.writer.write_all(&masked_crc32c(payload).to_le_bytes())
    }

    /// The underlying writer, flushed.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.writer.flush()?;
        Ok(self.writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_and_mask_match_known_values() {
        // CRC-32C check value of "123456789" (RFC 3720).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc32c(b""), 0xa282_ead8);
        assert_eq!(
            masked_crc32c(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn frames_round_trip_and_report_positions() {
        let mut writer = TfRecordWriter::new(Vec::new());
        writer.write_record(b"first").unwrap();
        writer.write_record(b"").unwrap();
        writer.write_record(b"third record").unwrap();
        let bytes = writer.into_inner().unwrap();
        let mut reader = TfRecordReader::new(&bytes[..]);
        let mut payload = Vec::new();
        let mut seen = Vec::new();
        while let Some(position) = reader.next_record(&mut payload).unwrap() {
            seen.push((position, payload.clone()));
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[1].0,
            RecordPosition {
                index: 1,
                offset: 21
            }
        );
        assert_eq!(seen[2].1, b"third record");
    }

    #[test]
    fn corruption_is_detected_where_it_is() {
        let mut writer = TfRecordWriter::new(Vec::new());
        writer.write_record(b"payload").unwrap();
        let bytes = writer.into_inner().unwrap();
        let mut payload = Vec::new();

        let mut bad_length = bytes.clone();
        bad_length[0] ^= 1;
        assert!(matches!(
            TfRecordReader::new(&bad_length[..]).next_record(&mut payload),
            Err(FrameError::Crc { part: "length", .. })
        ));
        let mut bad_payload = bytes.clone();
        bad_payload[13] ^= 1;
        assert!(matches!(
            TfRecordReader::new(&bad_payload[..]).next_record(&mut payload),
            Err(FrameError::Crc {
                part: "payload",
                ..
            })
        ));
        assert!(matches!(
            TfRecordReader::new(&bytes[..bytes.len() - 1]).next_record(&mut payload),
            Err(FrameError::Truncated {
                part: "payload",
                ..
            })
        ));
        assert!(matches!(
            TfRecordReader::new(&bytes[..5]).next_record(&mut payload),
            Err(FrameError::Truncated { part: "header", .. })
        ));
    }
}
