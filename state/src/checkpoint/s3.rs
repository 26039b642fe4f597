//! Checkpoint storage in an S3-compatible bucket, through `object_store`.
//!
//! `object_store` is tokio-based and the engine runs on glommio, so the
//! requests run on one dedicated thread with its own current-thread tokio
//! runtime. Callers hand it futures through a bounded queue and wait for
//! the answer; they are background threads (the uploader, recovery), never
//! an executor. Large files stream through in chunks in both directions,
//! so memory stays bounded by the chunk size times the queue depths.
//!
//! Puts are conditional (`If-None-Match: *`), so an existing object is
//! never replaced; manifests are a single PUT, which S3 makes visible
//! whole or not at all.

use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutPayload, WriteMultipart,
};
use tokio::sync::{Semaphore, mpsc};

use super::storage::{CheckpointStorage, PutSummary, StoredObject, check_name, io_error};
use crate::error::StateError;

/// Files up to this size go up in one PUT; larger ones in parts.
pub const SINGLE_PUT_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Part size of multipart uploads and of streamed reads.
pub const CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one multipart upload in flight at once.
const PARTS_IN_FLIGHT_MAX: usize = 4;
/// Chunks queued between a caller thread and the runtime, per transfer.
const CHUNKS_QUEUED_MAX: usize = 2;

/// Where and how to reach the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL, e.g. `http://127.0.0.1:9000`; empty for AWS itself.
    pub endpoint: String,
    /// Bucket name.
    pub bucket: String,
    /// Object name prefix inside the bucket (a job's directory), e.g.
    /// `jobs/q5/`; empty for the bucket root.
    pub prefix: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Allow plain `http://` endpoints (local test servers).
    pub allow_http: bool,
    /// Requests running at once on the I/O thread.
    pub requests_in_flight_max: usize,
    /// Requests waiting for the I/O thread; callers wait beyond that.
    pub queue_len_max: usize,
    /// Timeout of one HTTP request.
    pub request_timeout_ms: u64,
}

impl S3Config {
    /// A configuration with the defaults for everything but the location
    /// and credentials.
    pub fn new(endpoint: &str, bucket: &str, access_key_id: &str, secret_access_key: &str) -> Self {
        S3Config {
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            prefix: String::new(),
            region: "us-east-1".into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            allow_http: endpoint.starts_with("http://"),
            requests_in_flight_max: 8,
            queue_len_max: 64,
            request_timeout_ms: 30_000,
        }
    }
}

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A bucket (and prefix) of an S3-compatible store.
#[derive(Debug)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    prefix: String,
    location: String,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl S3Storage {
    /// Connects lazily: builds the client and starts the I/O thread; the
    /// first request reaches the endpoint.
    pub fn new(config: &S3Config) -> Result<Self, StateError> {
        let location = format!("s3://{}/{}", config.bucket, config.prefix);
        let fail = |reason: String| StateError::Storage {
            operation: "configure",
            path: PathBuf::from(&location),
            reason,
        };
        if !config.prefix.is_empty() {
            check_name("configure", config.prefix.trim_end_matches('/'))?;
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_allow_http(config.allow_http)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(config.allow_http)
                    .with_timeout(Duration::from_millis(config.request_timeout_ms)),
            );
        if !config.endpoint.is_empty() {
            builder = builder.with_endpoint(&config.endpoint);
        }
        let store = Arc::new(builder.build().map_err(|e| fail(e.to_string()))?);
        let (jobs, jobs_rx) = mpsc::channel(config.queue_len_max.max(1));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot build the I/O runtime: {e}")))?;
        let in_flight = config.requests_in_flight_max.max(1);
        let thread = std::thread::Builder::new()
            .name("spate-s3-io".into())
            .spawn(move || runtime.block_on(serve(jobs_rx, in_flight)))
            .map_err(|e| fail(format!("cannot start the I/O thread: {e}")))?;
        let mut prefix = config.prefix.trim_end_matches('/').to_string();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        Ok(S3Storage {
            store,
            prefix,
            location,
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    fn key(&self, operation: &'static str, name: &str) -> Result<ObjectPath, StateError> {
        check_name(operation, name)?;
        Ok(ObjectPath::from(format!("{}{name}", self.prefix)))
    }

    fn error(&self, operation: &'static str, name: &str, e: &object_store::Error) -> StateError {
        let reason = match e {
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => {
                "object exists; checkpoint objects are never replaced".to_string()
            }
            other => other.to_string(),
        };
        StateError::Storage {
            operation,
            path: PathBuf::from(format!("{}{name}", self.location)),
            reason,
        }
    }

    fn stopped(&self, operation: &'static str, name: &str) -> StateError {
        StateError::Storage {
            operation,
            path: PathBuf::from(format!("{}{name}", self.location)),
            reason: "the S3 I/O thread has stopped".into(),
        }
    }

    /// Runs `future` on the I/O thread and waits for its result.
    fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        name: &str,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StateError> {
        let stopped = || self.stopped(operation, name);
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::pin(async move {
            let _ignored = reply.send(future.await);
        });
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.blocking_send(job).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())
    }

    fn put_new(&self, name: &str, bytes: Vec<u8>) -> Result<PutSummary, StateError> {
        let key = self.key("put", name)?;
        let summary = PutSummary {
            size_bytes: bytes.len() as u64,
            crc32c: crc32c::crc32c(&bytes),
        };
        let store = Arc::clone(&self.store);
        let put = async move {
            store
                .put_opts(&key, PutPayload::from(bytes), PutMode::Create.into())
                .await
        };
        self.run("put", name, put)?
            .map_err(|e| self.error("put", name, &e))?;
        Ok(summary)
    }

    /// Streams a large local file up in parts. The caller's thread reads
    /// the file; the I/O thread uploads.
    fn put_multipart(
        &self,
        name: &str,
        local: &Path,
        mut file: File,
    ) -> Result<PutSummary, StateError> {
        if self.size(name)?.is_some() {
            return Err(StateError::Storage {
                operation: "put",
                path: PathBuf::from(format!("{}{name}", self.location)),
                reason: "object exists; checkpoint objects are never replaced".into(),
            });
        }
        let key = self.key("put", name)?;
        let (chunks, mut chunks_rx) = mpsc::channel::<Vec<u8>>(CHUNKS_QUEUED_MAX);
        let store = Arc::clone(&self.store);
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::pin(async move {
            let result = async {
                let upload = store.put_multipart(&key).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK_BYTES);
                while let Some(chunk) = chunks_rx.recv().await {
                    writer.wait_for_capacity(PARTS_IN_FLIGHT_MAX).await?;
                    writer.write(&chunk);
                }
                writer.finish().await
            }
            .await;
            let _ignored = reply.send(result);
        });
        let stopped = || self.stopped("put", name);
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .blocking_send(job)
            .map_err(|_| stopped())?;
        let shown = local.display().to_string();
        let mut sink = PutSummary {
            size_bytes: 0,
            crc32c: 0,
        };
        loop {
            let mut chunk = vec![0u8; CHUNK_BYTES];
            let n = read_full(&mut file, &mut chunk).map_err(|e| io_error("read", &shown, &e))?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
            sink.crc32c = crc32c::crc32c_append(sink.crc32c, &chunk);
            sink.size_bytes += n as u64;
            if chunks.blocking_send(chunk).is_err() {
                break; // The upload failed; its error comes back below.
            }
        }
        drop(chunks);
        answer
            .recv()
            .map_err(|_| stopped())?
            .map_err(|e| self.error("put", name, &e))?;
        Ok(sink)
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(buf.get_mut(filled..).unwrap_or_default())?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// The I/O thread: runs queued jobs, at most `in_flight` at once, until
/// the storage is dropped.
async fn serve(mut jobs: mpsc::Receiver<Job>, in_flight: usize) {
    let permits = Arc::new(Semaphore::new(in_flight));
    while let Some(job) = jobs.recv().await {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        tokio::spawn(async move {
            job.await;
            drop(permit);
        });
    }
}

impl Drop for S3Storage {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ignored = thread.join();
        }
    }
}

impl CheckpointStorage for S3Storage {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn put_file(&self, name: &str, local: &Path) -> Result<PutSummary, StateError> {
        let shown = local.display().to_string();
        let mut file = File::open(local).map_err(|e| io_error("open", &shown, &e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error("stat", &shown, &e))?
            .len();
        if len > SINGLE_PUT_BYTES_MAX {
            return self.put_multipart(name, local, file);
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error("read", &shown, &e))?;
        self.put_new(name, bytes)
    }

    fn put_bytes(&self, name: &str, bytes: &[u8]) -> Result<PutSummary, StateError> {
        self.put_new(name, bytes.to_vec())
    }

    fn put_manifest(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.put_new(name, bytes.to_vec()).map(|_| ())
    }

    fn read_into(&self, name: &str, sink: &mut dyn Write) -> Result<u64, StateError> {
        let key = self.key("read", name)?;
        let store = Arc::clone(&self.store);
        let (chunks, mut chunks_rx) = mpsc::channel(CHUNKS_QUEUED_MAX);
        let stream = async move {
            match store.get(&key).await {
                Err(e) => {
                    let _ignored = chunks.send(Err(e)).await;
                }
                Ok(result) => {
                    let mut stream = result.into_stream();
                    while let Some(chunk) = stream.next().await {
                        let failed = chunk.is_err();
                        if chunks.send(chunk).await.is_err() || failed {
                            return;
                        }
                    }
                }
            }
        };
        let job: Job = Box::pin(stream);
        let stopped = || self.stopped("read", name);
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .blocking_send(job)
            .map_err(|_| stopped())?;
        let mut total = 0u64;
        while let Some(chunk) = chunks_rx.blocking_recv() {
            let chunk = chunk.map_err(|e| self.error("read", name, &e))?;
            sink.write_all(&chunk)
                .map_err(|e| io_error("read", &format!("{}{name}", self.location), &e))?;
            total += chunk.len() as u64;
        }
        Ok(total)
    }

    fn size(&self, name: &str) -> Result<Option<u64>, StateError> {
        let key = self.key("stat", name)?;
        let store = Arc::clone(&self.store);
        match self.run("stat", name, async move { store.head(&key).await })? {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("stat", name, &e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StateError> {
        // object_store lists by directory; filter the rest by string.
        let dir = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let root = format!("{}{dir}", self.prefix);
        let store = Arc::clone(&self.store);
        let listed = self.run("list", prefix, async move {
            let root = (!root.is_empty()).then(|| ObjectPath::from(root));
            let mut stream = store.list(root.as_ref());
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                out.push(meta?);
            }
            Ok::<_, object_store::Error>(out)
        })?;
        let listed = listed.map_err(|e| self.error("list", prefix, &e))?;
        let mut out: Vec<StoredObject> = listed
            .into_iter()
            .filter_map(|meta| {
                let name = meta
                    .location
                    .as_ref()
                    .strip_prefix(self.prefix.as_str())?
                    .to_string();
                name.starts_with(prefix).then_some(StoredObject {
                    name,
                    size_bytes: meta.size,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn delete(&self, name: &str) -> Result<(), StateError> {
        let key = self.key("delete", name)?;
        let store = Arc::clone(&self.store);
        match self.run("delete", name, async move { store.delete(&key).await })? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("delete", name, &e)),
        }
    }
}
