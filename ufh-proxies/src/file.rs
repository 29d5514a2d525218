//! A versioned, checksummed file of a zoo's networks (their statistics and
//! accuracies), so that statistics are computed once and the GP reads them back.
//!
//! Format, little-endian: `UFHSTATS`, format version (u32), metadata length (u32)
//! and UTF-8 bytes (free text: what made the file), network count (u64); per network
//! its accuracy (f64) and instance count (u32), per instance 22 tensors, each its
//! rank (u8), its dimensions (u32 each) and its values (f32 each); and last the
//! CRC32C of everything before it (u32).

use std::io::{self, Write};

use crate::fitness::Network;
use crate::tensor::Tensor;
use crate::tree::Stat;

const MAGIC: &[u8; 8] = b"UFHSTATS";
const VERSION: u32 = 1;

/// Why a statistics file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsFileError {
    /// Not a ufh statistics file, or a version this build cannot read.
    #[error("not a ufh statistics file of version {VERSION}: {0}")]
    Format(String),
    /// The checksum does not match: the file is corrupt or truncated.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC32C stored in the file.
        stored: u32,
        /// CRC32C of the bytes read.
        computed: u32,
    },
    /// The file ends inside network `network`.
    #[error("truncated at byte {offset}, inside network {network}")]
    Truncated {
        /// Where reading stopped.
        offset: usize,
        /// The network being read.
        network: usize,
    },
    /// A tensor whose dimensions overflow.
    #[error("network {network}, instance {instance}, tensor {tensor}: {reason}")]
    Tensor {
        /// The network.
        network: usize,
        /// The instance.
        instance: usize,
        /// The tensor (0..22).
        tensor: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Writes `networks` with `metadata` in the header.
pub fn write_stats<W: Write>(mut out: W, networks: &[Network], metadata: &str) -> io::Result<()> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    let len = u32::try_from(metadata.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "metadata over 4 GiB"))?;
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(metadata.as_bytes());
    bytes.extend_from_slice(&(networks.len() as u64).to_le_bytes());
    for (index, network) in networks.iter().enumerate() {
        bytes.extend_from_slice(&network.accuracy.to_le_bytes());
        bytes.extend_from_slice(&(network.instances.len() as u32).to_le_bytes());
        for instance in &network.instances {
            if instance.len() != Stat::ALL.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "network {index} has an instance of {} tensors, not 22",
                        instance.len()
                    ),
                ));
            }
            for tensor in instance {
                bytes.push(tensor.shape().len() as u8);
                for &d in tensor.shape() {
                    bytes.extend_from_slice(&(d as u32).to_le_bytes());
                }
                for &v in tensor.data() {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    let crc = crc32c::crc32c(&bytes);
    out.write_all(&bytes)?;
    out.write_all(&crc.to_le_bytes())?;
    out.flush()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    network: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StatsFileError> {
        if self.bytes.len() - self.at < n {
            return Err(StatsFileError::Truncated {
                offset: self.bytes.len(),
                network: self.network,
            });
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, StatsFileError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

/// Reads a file written by [`write_stats`]: its networks and metadata.
pub fn read_stats(bytes: &[u8]) -> Result<(Vec<Network>, String), StatsFileError> {
    if bytes.len() < MAGIC.len() + 8 || &bytes[..8] != MAGIC {
        return Err(StatsFileError::Format("missing UFHSTATS magic".into()));
    }
    let (body, stored) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes(stored.try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(StatsFileError::Checksum { stored, computed });
    }
    let mut r = Reader {
        bytes: body,
        at: 8,
        network: 0,
    };
    let version = r.u32()?;
    if version != VERSION {
        return Err(StatsFileError::Format(format!(
            "file has version {version}"
        )));
    }
    let len = r.u32()? as usize;
    let metadata = String::from_utf8(r.take(len)?.to_vec())
        .map_err(|_| StatsFileError::Format("metadata is not UTF-8".into()))?;
    let count = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
    let mut networks = Vec::new();
    for network in 0..count as usize {
        r.network = network;
        let accuracy = f64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
        let n_instances = r.u32()? as usize;
        let mut instances = Vec::with_capacity(n_instances.min(1024));
        for instance in 0..n_instances {
            let mut tensors = Vec::with_capacity(Stat::ALL.len());
            for tensor in 0..Stat::ALL.len() {
                let rank = usize::from(r.take(1)?[0]);
                let mut shape = Vec::with_capacity(rank);
                for _ in 0..rank {
                    shape.push(r.u32()? as usize);
                }
                let bad = |reason: String| StatsFileError::Tensor {
                    network,
                    instance,
                    tensor,
                    reason,
                };
                let bytes_needed = shape
                    .iter()
                    .try_fold(4usize, |n, &d| n.checked_mul(d))
                    .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
                // A shape claiming more than the file holds is a cut file (with a
                // consistent checksum): `take` reports where it ends.
                let data = r
                    .take(bytes_needed)?
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect();
                tensors.push(Tensor::new(shape, data));
            }
            instances.push(tensors);
        }
        networks.push(Network {
            instances,
            accuracy,
        });
    }
    if r.at != body.len() {
        return Err(StatsFileError::Format(format!(
            "{} trailing bytes",
            body.len() - r.at
        )));
    }
    Ok((networks, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fitness::tests::zoo;

    #[test]
    fn round_trip_and_damage() {
        let networks = zoo(2, 5);
        let mut bytes = Vec::new();
        write_stats(&mut bytes, &networks, "synthetic zoo").unwrap();
        let (back, metadata) = read_stats(&bytes).unwrap();
        assert_eq!(metadata, "synthetic zoo");
        assert_eq!(back, networks);
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        assert!(matches!(
            read_stats(&flipped),
            Err(StatsFileError::Checksum { .. })
        ));
        // Cut short and re-checksummed: the error names the network.
        let mut cut = bytes[..bytes.len() - 4 - 100].to_vec();
        let crc = crc32c::crc32c(&cut);
        cut.extend_from_slice(&crc.to_le_bytes());
        assert!(
            matches!(
                read_stats(&cut),
                Err(StatsFileError::Truncated { network: 4, .. })
            ),
            "{:?}",
            read_stats(&cut)
        );
        assert!(matches!(
            read_stats(b"not a stats file"),
            Err(StatsFileError::Format(_))
        ));
    }
}
