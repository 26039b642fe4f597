//! The wire format: a fixed 32-byte [`FrameHeader`], then the payload.
//!
//! [`FrameEncoder`] writes frames into a `BytesMut`; [`FrameDecoder`] is fed
//! arbitrary chunks of the inbound byte stream and yields complete, verified
//! [`Frame`]s, with data payloads landing in aligned pooled buffers.

mod decode;
mod encode;
mod grant;
mod header;
mod kind;

pub use decode::{Frame, FrameDecoder, Payload};
pub use encode::FrameEncoder;
pub use grant::CreditGrant;
pub use header::{FrameHeader, HEADER_LEN, MAGIC, PROTOCOL_VERSION};
pub use kind::{FrameKind, Lane};
