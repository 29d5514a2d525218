use super::*;
use crate::nasbench101::TabularBenchmark;
use crate::nasbench101::enumerate_unique_cells;

fn run(seed: f64) -> RepeatMetrics {
    let at = |f: f64| EpochMetrics {
        training_time: 100.0 * f + seed,
        train_accuracy: 0.5 + 0.4 * f,
        validation_accuracy: 0.45 + 0.4 * f + seed / 10_000.0,
        test_accuracy: 0.44 + 0.4 * f,
    };
    RepeatMetrics {
        halfway: at(0.5),
        end: at(1.0),
    }
}

/// A small file in the exact format: every model of at most 4 vertices, budgets
/// 4 and 108, three repeats each.
fn small_file() -> (Vec<u8>, Vec<(ModuleHash, Cell)>) {
    let cells = enumerate_unique_cells(4, 9);
    let mut writer = NasBench101Writer::new(Vec::new());
    for (model, (_, cell)) in cells.iter().enumerate() {
        for epochs in [4, 108] {
            for repeat in 0..3 {
                let seed = (model * 10 + repeat) as f64 + f64::from(epochs);
                writer
                    .write_run(cell, epochs, 1000 + model as i32, &run(seed))
                    .unwrap();
            }
        }
    }
    (writer.into_inner().unwrap(), cells)
}

fn load(bytes: &[u8]) -> Result<NasBench101, NasBenchError> {
    NasBench101::from_reader("test.tfrecord", bytes)
}

#[test]
fn reads_back_what_was_written() {
    let (bytes, cells) = small_file();
    let benchmark = load(&bytes).unwrap();
    assert_eq!(benchmark.len(), 91);
    assert_eq!(benchmark.budgets(), &[4, 108]);
    for (model, (key, cell)) in cells.iter().enumerate() {
        let view = benchmark.model(key).unwrap();
        assert_eq!(view.cell, *cell);
        assert_eq!(view.trainable_parameters, 1000 + model as u64);
        for repeat in 0..3 {
            let seed = (model * 10 + repeat) as f64 + 108.0;
            assert_eq!(view.runs(1)[repeat], run(seed));
        }
    }
}

#[test]
fn binary_cache_is_used_when_fresh() {
    let dir = std::env::temp_dir().join(format!("ufh-nb101-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("small.tfrecord");
    std::fs::write(&path, small_file().0).unwrap();
    let (first, report) = NasBench101::open_cached(&path, None).unwrap();
    assert!(!report.from_cache && report.cache_write_error.is_none());
    assert_eq!(report.records, 91 * 6);
    let (second, report) = NasBench101::open_cached(&path, None).unwrap();
    assert!(report.from_cache);
    assert_eq!(second.len(), first.len());
    for i in 0..first.len() {
        assert_eq!(second.model_at(i).runs(0), first.model_at(i).runs(0));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The error text of loading `bytes`.
fn error_of(bytes: &[u8]) -> String {
    load(bytes).unwrap_err().to_string()
}

fn file_with(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut writer = NasBench101Writer::new(Vec::new());
    for payload in payloads {
        writer.write_payload(payload).unwrap();
    }
    writer.into_inner().unwrap()
}

#[test]
fn corrupt_files_name_file_record_and_offset() {
    let (bytes, _) = small_file();
    // Truncated: the last frame loses its CRC.
    let err = error_of(&bytes[..bytes.len() - 2]);
    assert!(
        err.starts_with("test.tfrecord: record 545 at byte "),
        "{err}"
    );
    assert!(err.contains("truncated payload"), "{err}");
    // A flipped payload byte in the first record.
    let mut flipped = bytes.clone();
    flipped[20] ^= 0x20;
    let err = error_of(&flipped);
    assert!(
        err.starts_with("test.tfrecord: record 0 at byte 0: payload CRC mismatch"),
        "{err}"
    );

    let cell = Cell::from_strings(
        "0110000100010000",
        "input,conv3x3-bn-relu,maxpool3x3,output",
    )
    .unwrap();
    let good = NasBench101Writer::<Vec<u8>>::payload(&cell, 108, 5, &run(1.0));
    let text = String::from_utf8(good.clone()).unwrap();
    let first_len = 12 + good.len() as u64 + 4;
    let cases: Vec<(String, &str)> = vec![
        (text.replacen('[', "{", 1), "malformed JSON row"),
        (text.replacen("conv", "conv5x5", 1), "unknown op \"conv5x5"),
        (text.replacen(",\"0", ",\"1", 1), "not above the diagonal"),
        (text.replacen("maxpool3x3", "input", 1), "impossible cell"),
        (
            text.replacen(&cell.module_hash().to_string(), &"0".repeat(32), 1),
            "does not match the cell",
        ),
        (text.replacen("\"C", "\"!C", 1), "malformed base64"),
    ];
    for (corrupt, expected) in cases {
        let file = file_with(&[good.clone(), corrupt.into_bytes()]);
        let err = error_of(&file);
        let prefix = format!("test.tfrecord: record 1 at byte {first_len}: ");
        assert!(err.starts_with(&prefix), "{err}");
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
}

#[test]
fn bad_protobuf_and_missing_repeats_are_errors() {
    let cell = enumerate_unique_cells(3, 9)[2].1;
    let good = NasBench101Writer::<Vec<u8>>::payload(&cell, 108, 5, &run(1.0));
    let text = String::from_utf8(good.clone()).unwrap();
    // Valid base64 of bytes that are not a protobuf message.
    let not_proto = BASE64.encode([0xffu8, 0xff, 0xff]);
    let metrics_start = text.rfind(",\"").unwrap() + 2;
    let corrupt = format!("{}{not_proto}\"]", &text[..metrics_start]);
    let err = error_of(&file_with(&[corrupt.into_bytes()]));
    assert!(err.contains("malformed metrics protobuf"), "{err}");

    // Two repeats only: the table is incomplete and nothing is returned.
    let err = error_of(&file_with(&[good.clone(), good]));
    assert_eq!(
        err,
        format!(
            "test.tfrecord: model {} has 2 of 3 repeats at 108 epochs",
            cell.module_hash()
        )
    );
}

/// A temporary directory for one test, removed at the end.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ufh-nb101-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A frame that claims 2^30 bytes, with a valid length CRC, in a 16-byte file:
/// an error, and the buffer holds what arrived, not what was claimed.
#[test]
fn a_huge_claimed_length_is_not_allocated() {
    let length = (1u64 << 30).to_le_bytes();
    let mut bytes = length.to_vec();
    bytes.extend_from_slice(&super::super::tfrecord::masked_crc32c(&length).to_le_bytes());
    bytes.extend_from_slice(b"abcd");
    assert_eq!(bytes.len(), 16);
    let mut reader = TfRecordReader::new(&bytes[..]);
    let mut payload = Vec::new();
    let err = reader.next_record(&mut payload).unwrap_err();
    assert!(err.to_string().contains("truncated payload"), "{err}");
    assert!(
        payload.capacity() <= 1 << 20,
        "{} bytes reserved",
        payload.capacity()
    );
}

#[test]
fn empty_and_cut_short_files_are_rejected() {
    let err = error_of(&[]);
    assert_eq!(err, "test.tfrecord: holds no records");
    // Cut exactly at a model boundary: every record whole, models missing.
    let (bytes, _) = small_file();
    let mut reader = TfRecordReader::new(&bytes[..]);
    let mut payload = Vec::new();
    for _ in 0..90 * 6 {
        reader.next_record(&mut payload).unwrap();
    }
    let cut = reader.position().offset as usize;
    let err = error_of(&bytes[..cut]);
    assert!(
        err.contains("holds 90 models of at most 4 vertices")
            && err.contains("has 91: the file is incomplete"),
        "{err}"
    );
    let dir = scratch("dir");
    let err = NasBench101::open(&dir).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: is a directory, not a NAS-Bench-101 file",
            dir.display()
        )
    );
    let err = NasBench101::open_cached(&dir, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("is a directory, not a NAS-Bench-101 file"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each error's chain (what `{:#}` prints) says every cause once.
#[test]
fn errors_say_their_cause_once() {
    let (bytes, _) = small_file();
    let mut flipped = bytes.clone();
    flipped[20] ^= 0x20;
    let mut bad_length = bytes.clone();
    bad_length[3] ^= 1;
    let dir = scratch("chain");
    let missing = NasBench101::open(dir.join("missing.tfrecord")).unwrap_err();
    let errors = [
        load(&flipped).unwrap_err(),
        load(&bad_length).unwrap_err(),
        load(&bytes[..bytes.len() - 2]).unwrap_err(),
        missing,
    ];
    for err in errors {
        let mut messages = vec![err.to_string()];
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            messages.push(cause.to_string());
            source = cause.source();
        }
        let chain = messages.join(": ");
        for cause in &messages[1..] {
            assert!(!messages[0].contains(cause.as_str()), "repeated: {chain}");
        }
        for part in ["CRC mismatch", "No such file"] {
            assert!(chain.matches(part).count() <= 1, "{chain}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The cache is keyed on content: a flipped byte with size and modification time
/// kept is noticed, and any spelling of the path finds a fresh cache.
#[test]
fn the_cache_follows_the_content_not_the_path_or_the_clock() {
    let dir = scratch("stale");
    let path = dir.join("small.tfrecord");
    let (bytes, _) = small_file();
    std::fs::write(&path, &bytes).unwrap();
    let (_, report) = NasBench101::open_cached(&path, None).unwrap();
    assert!(!report.from_cache);
    let dotted = dir.join(".").join("small.tfrecord");
    let (_, report) = NasBench101::open_cached(&dotted, None).unwrap();
    assert!(report.from_cache, "another spelling of the path re-parsed");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut flipped = bytes.clone();
    flipped[20] ^= 0x20;
    std::fs::write(&path, &flipped).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let err = NasBench101::open_cached(&path, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("payload CRC mismatch"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_rename_leaves_no_partial_file() {
    let dir = scratch("partial");
    // A non-empty directory where the file should go: the rename fails.
    let target = dir.join("table.ufh-table");
    std::fs::create_dir_all(target.join("occupied")).unwrap();
    let err = write_atomically(&target, |f| f.write_all(b"data")).unwrap_err();
    assert!(err.kind() != io::ErrorKind::NotFound, "{err}");
    assert!(!dir.join("table.ufh-table.partial").exists());
    // And on a failed write.
    let err = write_atomically(&dir.join("other"), |_| Err(io::Error::other("disk full")));
    assert!(err.is_err());
    assert!(!dir.join("other.partial").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Values no training run can have are rejected, naming the record and field;
/// a binary table holding one is rejected when it is read.
#[test]
fn impossible_metric_values_are_rejected() {
    let cell = enumerate_unique_cells(3, 9)[2].1;
    let good = run(1.0);
    let cases: Vec<(RepeatMetrics, u32, i32, &str)> = vec![
        (
            RepeatMetrics {
                end: EpochMetrics {
                    validation_accuracy: f64::NAN,
                    ..good.end
                },
                ..good
            },
            108,
            5,
            "end validation_accuracy is NaN",
        ),
        (
            RepeatMetrics {
                end: EpochMetrics {
                    validation_accuracy: f64::NEG_INFINITY,
                    ..good.end
                },
                ..good
            },
            108,
            5,
            "end validation_accuracy is -inf",
        ),
        (
            RepeatMetrics {
                halfway: EpochMetrics {
                    test_accuracy: 7.0,
                    ..good.halfway
                },
                ..good
            },
            108,
            5,
            "halfway test_accuracy is 7",
        ),
        (
            RepeatMetrics {
                end: EpochMetrics {
                    train_accuracy: -0.5,
                    ..good.end
                },
                ..good
            },
            108,
            5,
            "end train_accuracy is -0.5",
        ),
        (
            RepeatMetrics {
                end: EpochMetrics {
                    training_time: -1.0,
                    ..good.end
                },
                ..good
            },
            108,
            5,
            "end training_time is -1",
        ),
        (
            RepeatMetrics {
                halfway: EpochMetrics {
                    training_time: f64::NAN,
                    ..good.halfway
                },
                ..good
            },
            108,
            5,
            "halfway training_time is NaN",
        ),
        (good, 0, 5, "epochs is 0"),
        (good, 108, 0, "trainable_parameters is 0"),
    ];
    for (metrics, epochs, parameters, expected) in cases {
        let payload = NasBench101Writer::<Vec<u8>>::payload(&cell, epochs, parameters, &metrics);
        let err = error_of(&file_with(&[payload]));
        assert!(
            err.starts_with("test.tfrecord: record 0 at byte 0: model "),
            "{err}"
        );
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    // The binary cache holds the same invariants: forge a value, fix the CRC.
    let table = load(&small_file().0).unwrap().table;
    let mut bytes = Vec::new();
    table.write_binary(&mut bytes, "m").unwrap();
    let runs_start = 8 + 4 + 4 + 1 + 4 + 4 * 2 + 4 + 8 + 91 * 39;
    let validation_end = runs_start + 6 * 8;
    bytes[validation_end..validation_end + 8].copy_from_slice(&7.0f64.to_le_bytes());
    let body = bytes.len() - 4;
    let crc = crc32c::crc32c(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    let err = ModelTable::read_binary(&bytes).unwrap_err().to_string();
    assert!(err.contains("end validation_accuracy is 7"), "{err}");
}
