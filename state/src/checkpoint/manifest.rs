//! The manifest of one checkpoint: what every subtask needs to restore
//! (files, key groups, source offsets, state descriptors). It is JSON, so
//! people and `spate checkpoints inspect` can read it, wrapped in an
//! envelope whose CRC32C covers the body's exact bytes:
//!
//! ```text
//! {"format":"spate-checkpoint-manifest","version":1,"body_crc32c":305419896,
//! "body":{ ...Manifest... }}
//! ```
//!
//! A manifest is written last and atomically; a checkpoint without a valid
//! manifest does not exist.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::sst_format::corrupt;
use super::storage::{CheckpointStorage, validate_object_name};
use crate::error::StateError;
use crate::key_group::{KeyGroupRange, MAX_PARALLELISM_LIMIT};

/// Envelope `format` field.
pub const MANIFEST_FORMAT: &str = "spate-checkpoint-manifest";
/// Envelope version this crate writes and reads.
pub const MANIFEST_VERSION: u32 = 1;
/// Where manifests live in checkpoint storage.
pub const MANIFEST_DIR: &str = "manifests/";
/// Where checkpoint files live in checkpoint storage.
pub const SHARED_DIR: &str = "shared/";
/// Largest manifest accepted when reading.
pub const MANIFEST_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// One checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Increasing checkpoint number.
    pub checkpoint_id: u64,
    /// The job the checkpoint belongs to.
    pub job_id: String,
    /// Wall-clock creation time, Unix milliseconds.
    pub created_at_ms: u64,
    /// Version of the job's state schema; a restore checks it.
    pub state_schema_version: u32,
    /// The max parallelism (number of key groups) the state was split with.
    pub max_parallelism: u16,
    /// One entry per operator subtask.
    pub subtasks: Vec<SubtaskState>,
}

/// What one subtask stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubtaskState {
    /// The operator (stable id in the job graph).
    pub operator: String,
    /// Subtask index.
    pub subtask: u32,
    /// Key groups the subtask owned.
    pub key_groups: KeyGroupSpan,
    /// Files, per state oldest first: a full file then its deltas.
    pub files: Vec<FileRef>,
    /// Source positions to rewind to (sources only).
    pub source_offsets: Vec<SourceOffset>,
    /// The states the subtask declared.
    pub states: Vec<StateDescriptor>,
    /// Pre-committed sink transactions that completing this checkpoint
    /// commits, and that recovery from it commits again (idempotently).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sink_transactions: Vec<SinkTransactionRef>,
    /// Counters since the job started (records produced, records written
    /// and their checksum per sink), so a recovered job reports each
    /// committed record once.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub counters: std::collections::BTreeMap<String, u64>,
    /// Small values of the subtask's operators at the checkpoint, by name
    /// (`<node>/watermark`: an operator's current watermark).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub operator_values: std::collections::BTreeMap<String, i64>,
}

/// A sink's pre-committed transaction, as the sink encoded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkTransactionRef {
    /// The sink (stable id in the job graph).
    pub sink: String,
    /// The checkpoint that pre-committed it.
    pub checkpoint_id: u64,
    /// The sink's handle (e.g. the files to publish).
    #[serde(with = "hex_bytes")]
    pub handle: Vec<u8>,
}

/// A file of the checkpoint, stored under [`SHARED_DIR`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Object name below `shared/`; unique, never reused for other bytes.
    pub name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// CRC32C of the whole file.
    pub crc32c: u32,
    /// Full snapshot or delta.
    pub kind: FileKind,
    /// Key groups present in the file.
    pub key_groups: KeyGroupSpan,
    /// The state the file belongs to.
    pub state: String,
    /// The checkpoint that first uploaded the file; earlier than
    /// `checkpoint_id` when the file is shared.
    pub added_in: u64,
    /// RocksDB files only: the file's name in the instance's directory,
    /// where a restore puts it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_name: Option<String>,
}

impl FileRef {
    /// The object name in checkpoint storage.
    pub fn object_name(&self) -> String {
        shared_object_name(&self.name)
    }
}

/// How a file combines with the others of its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Every live entry: starts a chain.
    Full,
    /// Changes since the previous file of the chain, tombstones included.
    Delta,
    /// A table file of a RocksDB instance's own checkpoint: immutable, and
    /// shared by every checkpoint of the instance that still holds it.
    RocksSst,
    /// Metadata of a RocksDB instance's checkpoint (`MANIFEST-*`,
    /// `CURRENT`, `OPTIONS-*`): written by every checkpoint.
    RocksMeta,
}

impl FileKind {
    /// Whether the file is a RocksDB instance's own file rather than a
    /// canonical state file.
    pub fn is_rocks(self) -> bool {
        matches!(self, FileKind::RocksSst | FileKind::RocksMeta)
    }
}

/// A key-group range `[start, end)` as stored in manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyGroupSpan {
    /// First key group.
    pub start: u16,
    /// One past the last key group.
    pub end: u16,
}

impl KeyGroupSpan {
    /// The range as the rest of the crate uses it (validated).
    pub fn range(&self) -> Result<KeyGroupRange, StateError> {
        KeyGroupRange::new(self.start, self.end)
    }
}

impl From<KeyGroupRange> for KeyGroupSpan {
    fn from(r: KeyGroupRange) -> Self {
        KeyGroupSpan {
            start: r.start,
            end: r.end,
        }
    }
}

/// A source split's position, opaque to this crate (hex in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceOffset {
    /// The source split's id.
    pub split: String,
    /// The source's encoded position.
    #[serde(with = "hex_bytes")]
    pub offset: Vec<u8>,
}

/// A declared state, so a restore can check compatibility.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDescriptor {
    /// The state's name.
    pub name: String,
    /// `value`, `list`, `map`, `reducing`, `aggregating`, `timers`...
    pub kind: String,
    /// Version of the state's serialized form.
    pub schema_version: u32,
    /// Where the state's entries are when they are not in canonical files
    /// of their own: the name under which the files of the operator's
    /// RocksDB instance are listed (their `state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_in: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    format: String,
    version: u32,
    body_crc32c: u32,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// Object name of checkpoint `id`'s manifest; zero-padded so names sort
/// by id.
pub fn manifest_object_name(checkpoint_id: u64) -> String {
    format!("{MANIFEST_DIR}chk-{checkpoint_id:020}.json")
}

/// The checkpoint id in a manifest object name, `None` for other objects.
pub fn parse_manifest_object_name(name: &str) -> Option<u64> {
    let id = name
        .strip_prefix(MANIFEST_DIR)?
        .strip_prefix("chk-")?
        .strip_suffix(".json")?;
    if id.len() != 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// A file name with no directory part, safe to join to a directory.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Object name of a shared checkpoint file.
pub fn shared_object_name(file: &str) -> String {
    format!("{SHARED_DIR}{file}")
}

impl Manifest {
    /// Every file referenced, each once, in first-seen order.
    pub fn files(&self) -> impl Iterator<Item = &FileRef> {
        let mut seen = std::collections::HashSet::new();
        self.subtasks
            .iter()
            .flat_map(|s| s.files.iter())
            .filter(move |f| seen.insert(f.name.as_str()))
    }

    /// Bytes of all files the checkpoint references.
    pub fn referenced_bytes(&self) -> u64 {
        self.files().map(|f| f.size_bytes).sum()
    }

    /// Bytes of the files this checkpoint added (its incremental size).
    pub fn added_bytes(&self) -> u64 {
        self.files()
            .filter(|f| f.added_in == self.checkpoint_id)
            .map(|f| f.size_bytes)
            .sum()
    }

    /// Serializes the manifest in its envelope.
    pub fn encode(&self) -> Result<Vec<u8>, StateError> {
        self.validate("manifest being written")?;
        let body = serde_json::to_vec_pretty(self).map_err(|e| StateError::Internal {
            reason: format!("manifest serialization failed: {e}"),
        })?;
        let crc = crc32c::crc32c(&body);
        let mut out = format!(
            "{{\"format\":\"{MANIFEST_FORMAT}\",\"version\":{MANIFEST_VERSION},\"body_crc32c\":{crc},\n\"body\":"
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out.extend_from_slice(b"}\n");
        Ok(out)
    }

    /// Parses and checks a manifest read from `file`.
    pub fn decode(file: &str, bytes: &[u8]) -> Result<Manifest, StateError> {
        let envelope: Envelope<'_> =
            serde_json::from_slice(bytes).map_err(|e| json_error(file, bytes, &e))?;
        if envelope.format != MANIFEST_FORMAT {
            return Err(corrupt(
                file,
                0,
                format!("format is `{}`, not a manifest", envelope.format),
            ));
        }
        if envelope.version != MANIFEST_VERSION {
            return Err(corrupt(
                file,
                0,
                format!(
                    "manifest version {}, this build reads {MANIFEST_VERSION}",
                    envelope.version
                ),
            ));
        }
        let body = envelope.body.get().as_bytes();
        let body_offset = offset_in(bytes, body);
        let crc = crc32c::crc32c(body);
        if crc != envelope.body_crc32c {
            return Err(corrupt(
                file,
                body_offset,
                format!(
                    "manifest body CRC mismatch: stored {}, computed {crc}",
                    envelope.body_crc32c
                ),
            ));
        }
        let manifest: Manifest =
            serde_json::from_slice(body).map_err(|e| json_error(file, bytes, &e))?;
        manifest.validate(file)?;
        Ok(manifest)
    }

    /// Structural checks: ranges valid, names safe as paths, one entry per
    /// file name.
    fn validate(&self, file: &str) -> Result<(), StateError> {
        let fail = |reason: String| Err(corrupt(file, 0, reason));
        if self.max_parallelism == 0 || self.max_parallelism > MAX_PARALLELISM_LIMIT {
            return fail(format!(
                "max parallelism {} is invalid",
                self.max_parallelism
            ));
        }
        let mut by_name = std::collections::HashMap::new();
        for s in &self.subtasks {
            if s.key_groups.range().is_err() || s.key_groups.end > self.max_parallelism {
                return fail(format!(
                    "subtask {} has an invalid key-group range",
                    s.subtask
                ));
            }
            for f in &s.files {
                if let Err(e) = validate_object_name(&f.object_name()) {
                    return fail(format!("file name `{}`: {e}", f.name));
                }
                if f.key_groups.range().is_err() {
                    return fail(format!("file {} has an invalid key-group range", f.name));
                }
                if f.added_in > self.checkpoint_id {
                    return fail(format!("file {} was added in a later checkpoint", f.name));
                }
                if f.kind.is_rocks() && !f.local_name.as_deref().is_some_and(is_plain_file_name) {
                    return fail(format!(
                        "RocksDB file {} has no plain local file name",
                        f.name
                    ));
                }
                if let Some(other) = by_name.insert(f.name.as_str(), f)
                    && (other.size_bytes, other.crc32c) != (f.size_bytes, f.crc32c)
                {
                    return fail(format!(
                        "file {} is listed twice with different contents",
                        f.name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A manifest object found in storage, valid or not.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    /// Object name.
    pub name: String,
    /// Checkpoint id from the name.
    pub checkpoint_id: u64,
    /// The decoded manifest, or why it is not valid.
    pub manifest: Result<Manifest, StateError>,
}

/// Reads every manifest in `storage`, oldest first. A manifest that does
/// not decode is returned with its error (its checkpoint does not exist);
/// only a failure to list is an error.
pub fn read_manifests(storage: &dyn CheckpointStorage) -> Result<Vec<StoredManifest>, StateError> {
    let mut out = Vec::new();
    for object in storage.list(MANIFEST_DIR)? {
        let Some(checkpoint_id) = parse_manifest_object_name(&object.name) else {
            continue;
        };
        let manifest = read_named(storage, &object.name, checkpoint_id);
        out.push(StoredManifest {
            name: object.name,
            checkpoint_id,
            manifest,
        });
    }
    out.sort_by_key(|m| m.checkpoint_id);
    Ok(out)
}

/// Reads and checks the manifest of checkpoint `checkpoint_id`.
pub fn read_manifest(
    storage: &dyn CheckpointStorage,
    checkpoint_id: u64,
) -> Result<Manifest, StateError> {
    read_named(storage, &manifest_object_name(checkpoint_id), checkpoint_id)
}

/// Reads manifest object `name`, which must hold checkpoint `checkpoint_id`.
fn read_named(
    storage: &dyn CheckpointStorage,
    name: &str,
    checkpoint_id: u64,
) -> Result<Manifest, StateError> {
    let m = Manifest::decode(name, &storage.read(name, MANIFEST_BYTES_MAX)?)?;
    if m.checkpoint_id == checkpoint_id {
        Ok(m)
    } else {
        Err(corrupt(
            name,
            0,
            format!(
                "holds checkpoint {} under the name of {checkpoint_id}",
                m.checkpoint_id
            ),
        ))
    }
}

fn offset_in(whole: &[u8], part: &[u8]) -> u64 {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize) as u64
}

/// A JSON error with its line and column turned into a byte offset.
fn json_error(file: &str, bytes: &[u8], e: &serde_json::Error) -> StateError {
    let mut offset = 0usize;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if i + 1 == e.line() {
            offset += e.column().saturating_sub(1);
            break;
        }
        offset += line.len() + 1;
    }
    corrupt(
        file,
        offset.min(bytes.len()) as u64,
        format!("invalid manifest JSON: {e}"),
    )
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let hex = String::deserialize(d)?;
        if hex.len() % 2 != 0 {
            return Err(serde::de::Error::custom("hex string of odd length"));
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("invalid hex digit"))
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(id: u64) -> Manifest {
        Manifest {
            checkpoint_id: id,
            job_id: "job-1".into(),
            created_at_ms: 1_700_000_000_000,
            state_schema_version: 3,
            max_parallelism: 128,
            subtasks: vec![SubtaskState {
                operator: "sum".into(),
                subtask: 0,
                key_groups: KeyGroupSpan { start: 0, end: 64 },
                files: vec![FileRef {
                    name: "a.sst".into(),
                    size_bytes: 100,
                    crc32c: 7,
                    kind: FileKind::Full,
                    key_groups: KeyGroupSpan { start: 0, end: 64 },
                    state: "count".into(),
                    added_in: id,
                    local_name: None,
                }],
                source_offsets: vec![SourceOffset {
                    split: "0".into(),
                    offset: vec![0, 1, 0xfe],
                }],
                states: vec![StateDescriptor {
                    name: "count".into(),
                    kind: "value".into(),
                    schema_version: 1,
                    stored_in: None,
                }],
                sink_transactions: Vec::new(),
                counters: Default::default(),
                operator_values: Default::default(),
            }],
        }
    }

    #[test]
    fn round_trips_through_the_envelope() {
        let m = sample(5);
        let bytes = m.encode().unwrap();
        assert_eq!(Manifest::decode("m", &bytes).unwrap(), m);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\"offset\": \"0001fe\""), "{text}");
    }

    #[test]
    fn a_changed_body_byte_fails_the_crc() {
        let bytes = sample(5).encode().unwrap();
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("\"size_bytes\": 100", "\"size_bytes\": 900");
        let err = Manifest::decode("m.json", text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("CRC mismatch"), "{err}");
    }

    #[test]
    fn a_rocksdb_file_needs_a_plain_local_name() {
        let mut m = sample(1);
        m.subtasks[0].files[0].kind = FileKind::RocksSst;
        for bad in [None, Some(""), Some(".."), Some("a/b"), Some("../CURRENT")] {
            m.subtasks[0].files[0].local_name = bad.map(str::to_owned);
            let err = m.encode().unwrap_err().to_string();
            assert!(err.contains("no plain local file name"), "{bad:?}: {err}");
        }
        m.subtasks[0].files[0].local_name = Some("000012.sst".into());
        let bytes = m.encode().unwrap();
        assert_eq!(Manifest::decode("m", &bytes).unwrap(), m);
    }

    #[test]
    fn names_that_escape_the_directory_are_rejected() {
        let mut m = sample(1);
        m.subtasks[0].files[0].name = "../../etc/passwd".into();
        assert!(m.encode().is_err());
    }

    #[test]
    fn manifest_names_sort_by_id_and_parse_back() {
        assert!(manifest_object_name(9) < manifest_object_name(10));
        assert_eq!(
            parse_manifest_object_name(&manifest_object_name(42)),
            Some(42)
        );
        assert_eq!(parse_manifest_object_name("manifests/chk-1.json"), None);
        assert_eq!(parse_manifest_object_name("shared/x"), None);
    }
}
