//! Checkpoint storage: the immutable files, manifests and stores under
//! asynchronous incremental checkpoints (issue 5).
//!
//! The flow of one checkpoint, as the engine drives it:
//!
//! 1. Each subtask's asynchronous part writes its state into local SST
//!    files with [`SstWriter`]: a full file or a delta of the keys changed
//!    since the last checkpoint, as [`CompactionPolicy`] decides.
//! 2. The coordinator assembles the [`Manifest`] (new files plus the files
//!    shared with the last completed checkpoint) and hands it with the
//!    local files to [`CheckpointUploader::try_submit`], which never blocks.
//! 3. The uploader thread uploads the files [`CheckpointStorage`] does not
//!    hold yet, writes the manifest last and atomically, applies retention
//!    through [`CheckpointRegistry`], and reports a [`CheckpointOutcome`].
//! 4. On start, [`open_registry`] rebuilds the registry from the manifests
//!    and collects orphans; [`select_recovery`] picks the newest checkpoint
//!    whose files all check out, and restore reads each state's chain
//!    through [`MergeIter`] over [`SstReader::key_groups`].
//!
//! Storage layout: `manifests/chk-<id, 20 digits>.json` and `shared/<file>`.

mod compaction;
mod local;
mod manifest;
mod merge;
mod recovery;
mod registry;
mod rocks_files;
mod s3;
mod savepoint;
mod sst_format;
mod sst_reader;
mod sst_writer;
mod storage;
mod thread_class;
mod uploader;

pub use compaction::{ChainStats, CompactionPolicy, NextFile};
pub use local::{LocalDirStorage, TEMP_PREFIX};
pub use manifest::{
    FileKind, FileRef, KeyGroupSpan, MANIFEST_BYTES_MAX, MANIFEST_DIR, Manifest, SHARED_DIR,
    SinkTransactionRef, SourceOffset, StateDescriptor, StoredManifest, SubtaskState,
    manifest_object_name, parse_manifest_object_name, read_manifest, read_manifests,
    shared_object_name,
};
pub use merge::{MergeIter, Tombstones, compact_into};
pub use recovery::{RecoverySelection, RejectedCheckpoint, VerifyLevel, select_recovery};
pub use registry::{CheckpointRegistry, Deletions, HeldFile, OpenedRegistry, open_registry};
pub use rocks_files::{download_instance, file_crc32c, open_instance};
pub use s3::{S3Config, S3Storage};
pub use savepoint::{
    SAVEPOINT_FILE_BYTES_MAX, SavepointSummary, savepoint_scratch_dir, write_savepoint,
};
pub use sst_format::{
    BLOCK_BYTES_TARGET_DEFAULT, FOOTER_BYTES, Footer, KEY_BYTES_MAX, SST_FORMAT_VERSION, SST_MAGIC,
    SstEntry, VALUE_BYTES_MAX, key_group_of_key,
};
pub use sst_reader::{SstIter, SstReader, SstSource, verify_sst_bytes};
pub use sst_writer::{SstSummary, SstWriter};
pub use storage::{
    CheckpointStorage, CrcSink, PutSummary, StoredObject, io_error, validate_object_name,
};
pub use thread_class::ThreadClass;
pub use uploader::{
    CheckpointOutcome, CheckpointUploader, CompletedCheckpoint, LocalFile, UploadRequest,
};
