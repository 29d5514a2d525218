//! A zoo's statistics as a NumPy `.npz` archive, so that Python users, and anyone
//! comparing against a Python GP, read exactly the tensors and accuracies the GP
//! evolves on: `np.load(path)`.
//!
//! Arrays (uncompressed `.npy` members):
//! * `accuracy`: float64 `[networks]`, each network's accuracy;
//! * `instances`: uint32 `[networks]`, each network's ReLU-Conv-BN instances;
//! * `group`: uint32 `[networks]`, a group index the writer chooses (for example
//!   evolution set and held-out spaces; the metadata names them);
//! * `n{network:05}_i{instance:03}_{stat}`: float32, one statistic of one instance
//!   in its own shape (`[N, C, H, W]` activations, `[out, in, k, k]` weights),
//!   `stat` one of [`Stat::ALL`]'s names (`T1D` … `T4GP`);
//! * `metadata`: uint8, UTF-8 text of what made the archive
//!   (`bytes(z["metadata"]).decode()`).
//!
//! [`read_npz`] reads an archive back, checking every array it needs.

use std::borrow::Borrow;
use std::io::{Read, Seek, Write};

use ndarray::{Array1, ArrayD, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter, WriteNpyExt};

use crate::fitness::Network;
use crate::tensor::Tensor;
use crate::tree::Stat;

/// Why an archive could not be written or read; names the array.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NpzError {
    /// Writing failed.
    #[error("writing array {array}: {source}")]
    Write {
        /// The array being written.
        array: String,
        /// What failed.
        source: ndarray_npy::WriteNpzError,
    },
    /// Reading failed: the archive is not one, or an array is missing or of the
    /// wrong type.
    #[error("reading array {array}: {source}")]
    Read {
        /// The array being read.
        array: String,
        /// What failed.
        source: ndarray_npy::ReadNpzError,
    },
    /// The arrays disagree with one another.
    #[error("array {array}: {reason}")]
    Inconsistent {
        /// The array.
        array: String,
        /// What is wrong.
        reason: String,
    },
}

/// The member name of one statistic.
fn tensor_name(network: usize, instance: usize, stat: Stat) -> String {
    format!("n{network:05}_i{instance:03}_{stat:?}")
}

/// Adds one array, the error naming it.
fn add<W: Write + Seek, T: WriteNpyExt + ?Sized>(
    npz: &mut NpzWriter<W>,
    name: String,
    array: &T,
) -> Result<(), NpzError> {
    npz.add_array(name.as_str(), array)
        .map_err(|source| NpzError::Write {
            array: name,
            source,
        })
}

/// Writes `networks` with their `groups` (one per network) and `metadata`.
///
/// # Panics
/// If `groups` is not as long as `networks`.
pub fn write_npz<W: Write + Seek, N: Borrow<Network>>(
    out: W,
    networks: &[N],
    groups: &[u32],
    metadata: &str,
) -> Result<W, NpzError> {
    assert_eq!(groups.len(), networks.len(), "one group per network");
    let mut npz = NpzWriter::new(out);
    let accuracy: Array1<f64> = networks.iter().map(|n| n.borrow().accuracy).collect();
    add(&mut npz, "accuracy".into(), &accuracy)?;
    let instances: Array1<u32> = networks
        .iter()
        .map(|n| u32::try_from(n.borrow().instances.len()).unwrap_or(u32::MAX))
        .collect();
    add(&mut npz, "instances".into(), &instances)?;
    let group: Array1<u32> = groups.iter().copied().collect();
    add(&mut npz, "group".into(), &group)?;
    let text: Array1<u8> = metadata.bytes().collect();
    add(&mut npz, "metadata".into(), &text)?;
    for (n, network) in networks.iter().enumerate() {
        for (i, instance) in network.borrow().instances.iter().enumerate() {
            for (&stat, tensor) in Stat::ALL.iter().zip(instance) {
                let array = ArrayD::from_shape_vec(IxDyn(tensor.shape()), tensor.data().to_vec())
                    .expect("a tensor's data fills its shape");
                add(&mut npz, tensor_name(n, i, stat), &array)?;
            }
        }
    }
    npz.finish().map_err(|source| NpzError::Write {
        array: "the archive's directory".into(),
        source,
    })
}

/// Reads an archive [`write_npz`] wrote: the networks, their groups and the
/// metadata.
pub fn read_npz<R: Read + Seek>(input: R) -> Result<(Vec<Network>, Vec<u32>, String), NpzError> {
    let mut npz = NpzReader::new(input).map_err(|source| NpzError::Read {
        array: "the archive's directory".into(),
        source,
    })?;
    let read_err = |array: &str| {
        let array = array.to_string();
        move |source| NpzError::Read { array, source }
    };
    let accuracy: Array1<f64> = npz.by_name("accuracy").map_err(read_err("accuracy"))?;
    let instances: Array1<u32> = npz.by_name("instances").map_err(read_err("instances"))?;
    let group: Array1<u32> = npz.by_name("group").map_err(read_err("group"))?;
    let text: Array1<u8> = npz.by_name("metadata").map_err(read_err("metadata"))?;
    for (name, len) in [("instances", instances.len()), ("group", group.len())] {
        if len != accuracy.len() {
            return Err(NpzError::Inconsistent {
                array: name.into(),
                reason: format!("{len} entries for {} networks", accuracy.len()),
            });
        }
    }
    let metadata = String::from_utf8(text.to_vec()).map_err(|e| NpzError::Inconsistent {
        array: "metadata".into(),
        reason: format!("not UTF-8: {e}"),
    })?;
    let mut networks = Vec::with_capacity(accuracy.len());
    for (n, (&accuracy, &count)) in accuracy.iter().zip(&instances).enumerate() {
        let mut all = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let mut tensors = Vec::with_capacity(Stat::ALL.len());
            for stat in Stat::ALL {
                let name = tensor_name(n, i, stat);
                let array: ArrayD<f32> = npz.by_name(&name).map_err(read_err(&name))?;
                let shape = array.shape().to_vec();
                let data = array.as_standard_layout().iter().copied().collect();
                tensors.push(Tensor::new(shape, data));
            }
            all.push(tensors);
        }
        networks.push(Network {
            instances: all,
            accuracy,
        });
    }
    Ok((networks, group.to_vec(), metadata))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::fitness::tests::zoo;

    /// An archive reads back to the same networks, groups and metadata; a missing
    /// array is an error that names it.
    #[test]
    fn archives_round_trip_and_missing_arrays_are_named() {
        let networks = zoo(3, 4);
        let groups = [0, 0, 1, 2];
        let bytes = write_npz(
            Cursor::new(Vec::new()),
            &networks,
            &groups,
            "zoo 3, σ ∈ [0.2, 2)",
        )
        .unwrap()
        .into_inner();
        let (back, back_groups, metadata) = read_npz(Cursor::new(&bytes)).unwrap();
        assert_eq!(back, networks);
        assert_eq!(back_groups, groups);
        assert_eq!(metadata, "zoo 3, σ ∈ [0.2, 2)");

        // Leave out the last network's last tensor: the reader names it.
        let mut npz = NpzWriter::new(Cursor::new(Vec::new()));
        let accuracy: Array1<f64> = networks.iter().map(|n| n.accuracy).collect();
        npz.add_array("accuracy", &accuracy).unwrap();
        let instances: Array1<u32> = networks.iter().map(|n| n.instances.len() as u32).collect();
        npz.add_array("instances", &instances).unwrap();
        npz.add_array("group", &Array1::from(groups.to_vec()))
            .unwrap();
        npz.add_array("metadata", &Array1::<u8>::zeros(0)).unwrap();
        let last = networks.len() - 1;
        let last_instance = networks[last].instances.len() - 1;
        for (n, network) in networks.iter().enumerate() {
            for (i, instance) in network.instances.iter().enumerate() {
                for (&stat, tensor) in Stat::ALL.iter().zip(instance) {
                    if (n, i, stat) == (last, last_instance, Stat::T4GP) {
                        continue;
                    }
                    let array =
                        ArrayD::from_shape_vec(IxDyn(tensor.shape()), tensor.data().to_vec())
                            .unwrap();
                    npz.add_array(tensor_name(n, i, stat), &array).unwrap();
                }
            }
        }
        let bytes = npz.finish().unwrap().into_inner();
        let err = read_npz(Cursor::new(&bytes)).unwrap_err().to_string();
        let name = tensor_name(last, last_instance, Stat::T4GP);
        assert!(err.contains(&name), "{err}");
    }
}
