//! One connection to one broker: Kafka's length-prefixed frames, request
//! headers with correlation ids, and the API versions both sides speak.
//!
//! Connections are blocking and owned by one thread (a source's fetcher, a
//! sink's producer, a committer): Kafka answers a connection's requests in
//! order, so one request at a time needs no demultiplexing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::config::ClientConfig;
use crate::error::{KafkaError, Result};

/// An open connection to a broker.
pub(crate) struct Connection {
    stream: TcpStream,
    broker: String,
    client_id: StrBytes,
    correlation_id: i32,
    frame_bytes_max: usize,
    /// API key → the highest version the broker speaks.
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `broker` (`host:port`) and asks which API versions it speaks.
    pub(crate) fn open(broker: &str, config: &ClientConfig) -> Result<Self> {
        let io = |op: &str, source| KafkaError::Io {
            broker: broker.into(),
            op: op.into(),
            source,
        };
        let addrs = broker
            .to_socket_addrs()
            .map_err(|e| io("resolving the address", e))?;
        let timeout = Duration::from_millis(config.connect_timeout_ms.max(1));
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            io(
                "connecting",
                last.unwrap_or_else(|| std::io::Error::other("the address resolved to nothing")),
            )
        })?;
        let request_timeout = Some(Duration::from_millis(config.request_timeout_ms.max(1)));
        stream
            .set_read_timeout(request_timeout)
            .and_then(|()| stream.set_write_timeout(request_timeout))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| io("configuring the socket", e))?;
        let mut conn = Self {
            stream,
            broker: broker.into(),
            client_id: StrBytes::from_string(config.client_id.clone()),
            correlation_id: 0,
            frame_bytes_max: config.frame_bytes_max,
            versions: HashMap::new(),
        };
        conn.negotiate()?;
        Ok(conn)
    }

    fn negotiate(&mut self) -> Result<()> {
        // Version 0 needs no knowledge of the broker; every broker speaks it.
        let resp = self.call_version(&ApiVersionsRequest::default(), 0)?;
        KafkaError::check(&self.broker, "ApiVersions", String::new, resp.error_code)?;
        self.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// The version of `R` to use: the highest both speak, at most `ours_max`
    /// and at least `ours_min` (below it Spate lacks a field it needs).
    pub(crate) fn version<R: Request>(&self, ours_min: i16, ours_max: i16) -> Result<i16> {
        let api = api_name(R::KEY);
        let unsupported = |speaks: String| KafkaError::Unsupported {
            broker: self.broker.clone(),
            api,
            need: format!("version {ours_min} to {ours_max} ({speaks})"),
        };
        // A broker may serve an API it does not list (tansu 0.6 omits
        // EndTxn): try our highest version; a broker that cannot serve it
        // answers with an error or closes the connection, which is reported.
        let Some(&(min, max)) = self.versions.get(&R::KEY) else {
            tracing::debug!(
                "{} does not list {api}; trying version {ours_max}",
                self.broker
            );
            return Ok(ours_max);
        };
        let version = max.min(ours_max);
        if version < ours_min || version < min {
            return Err(unsupported(format!("it speaks {min} to {max}")));
        }
        Ok(version)
    }

    /// Sends `req` at the best common version and waits for the answer.
    pub(crate) fn call<R: Request>(
        &mut self,
        req: &R,
        ours_min: i16,
        ours_max: i16,
    ) -> Result<(R::Response, i16)> {
        let version = self.version::<R>(ours_min, ours_max)?;
        Ok((self.call_version(req, version)?, version))
    }

    fn call_version<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let api = api_name(R::KEY);
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = self.correlation_id;
        header.client_id = Some(self.client_id.clone());
        let mut body = BytesMut::with_capacity(256);
        body.put_i32(0);
        let encoded = header
            .encode(&mut body, R::header_version(version))
            .and_then(|()| req.encode(&mut body, version));
        encoded.map_err(|e| KafkaError::Internal {
            reason: format!("encoding a {api} request: {e}"),
        })?;
        let len = i32::try_from(body.len() - 4).map_err(|_| KafkaError::Internal {
            reason: format!("a {api} request of {} bytes", body.len()),
        })?;
        body[..4].copy_from_slice(&len.to_be_bytes());
        let io = |broker: &str, op: String, source| KafkaError::Io {
            broker: broker.into(),
            op,
            source,
        };
        if let Err(e) = self.stream.write_all(&body) {
            return Err(io(&self.broker, format!("sending a {api} request"), e));
        }
        let frame = match self.read_frame() {
            Ok(f) => f,
            // Not Kafka's framing: no retry will make it so.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(KafkaError::Protocol {
                    broker: self.broker.clone(),
                    api,
                    reason: e.to_string(),
                });
            }
            Err(e) => return Err(io(&self.broker, format!("reading the {api} response"), e)),
        };
        self.decode_response::<R>(frame, version)
    }

    fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= self.frame_bytes_max)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the response announces {len} bytes, beyond frame_bytes_max {}",
                        self.frame_bytes_max
                    ),
                )
            })?;
        let mut frame = vec![0u8; len];
        self.stream.read_exact(&mut frame)?;
        Ok(Bytes::from(frame))
    }

    fn decode_response<R: Request>(&self, mut frame: Bytes, version: i16) -> Result<R::Response> {
        let api = api_name(R::KEY);
        let malformed = |reason: String| KafkaError::Protocol {
            broker: self.broker.clone(),
            api,
            reason,
        };
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
            .map_err(|e| malformed(format!("bad header: {e}")))?;
        if header.correlation_id != self.correlation_id {
            return Err(malformed(format!(
                "correlation id {} answers no request (expected {})",
                header.correlation_id, self.correlation_id
            )));
        }
        let resp = R::Response::decode(&mut frame, version)
            .map_err(|e| malformed(format!("version {version}: {e}")))?;
        if frame.has_remaining() {
            return Err(malformed(format!(
                "{} bytes after the end of the message",
                frame.remaining()
            )));
        }
        Ok(resp)
    }
}

/// Kafka's name of an API, for messages.
pub(crate) fn api_name(key: i16) -> &'static str {
    match kafka_protocol::messages::ApiKey::try_from(key) {
        Ok(k) => api_key_name(k),
        Err(_) => "unknown",
    }
}

fn api_key_name(key: kafka_protocol::messages::ApiKey) -> &'static str {
    use kafka_protocol::messages::ApiKey as K;
    match key {
        K::Produce => "Produce",
        K::Fetch => "Fetch",
        K::ListOffsets => "ListOffsets",
        K::Metadata => "Metadata",
        K::FindCoordinator => "FindCoordinator",
        K::ApiVersions => "ApiVersions",
        K::CreateTopics => "CreateTopics",
        K::InitProducerId => "InitProducerId",
        K::AddPartitionsToTxn => "AddPartitionsToTxn",
        K::EndTxn => "EndTxn",
        _ => "a Kafka",
    }
}
