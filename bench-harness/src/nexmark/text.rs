//! `Str`: the immutable, cheap-to-clone string used by every Nexmark field.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::generator::pool_text;

/// An immutable string that clones without allocating; 16 bytes.
///
/// Generated events hold slices of the generator's process-wide string pool
/// (offset and length: no allocation, no reference count); strings read from
/// files or built at run time share one `Arc<str>`. Equality, ordering and
/// hashing are those of the text, whatever the representation, so a `Str` can
/// be looked up by `&str` in hash maps.
#[derive(Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Str(Repr);

// Two 4-byte fields fit beside `Arc<str>`'s non-null pointer, so the enum is
// 16 bytes, which keeps `Event` small enough to be copied without a `memcpy` call.
// Across processes a pooled string stays an offset and a length: the pool is
// identical in every process (built from a fixed seed).
#[derive(Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
enum Repr {
    Pooled { start: u32, len: u32 },
    Shared(Arc<str>),
}

impl Str {
    /// A slice of the generator's string pool.
    pub(crate) fn pooled(start: u32, len: u32) -> Self {
        Str(Repr::Pooled { start, len })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Pooled { start, len } => {
                let (start, len) = (*start as usize, *len as usize);
                pool_text().get(start..start + len).unwrap_or("")
            }
            Repr::Shared(s) => s,
        }
    }

    /// The text's bytes. A pooled string is sliced from the pool as bytes,
    /// which skips `as_str`'s char-boundary checks: they read the byte after
    /// the end, often on another cache line, and that read was most of the
    /// cost of hashing a row's strings for its checksum. The pool is ASCII
    /// (tested), so every slice of it is the same text either way.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Pooled { start, len } => {
                let (start, len) = (*start as usize, *len as usize);
                pool_text()
                    .as_bytes()
                    .get(start..start + len)
                    .unwrap_or(b"")
            }
            Repr::Shared(s) => s.as_bytes(),
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Str::pooled(0, 0)
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Str {
    // Bytes compare as the text does (`str` equality and order are bytewise).
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Str {
    // Hash exactly as `str` does, so `Borrow<str>` look-ups work and checksums do
    // not depend on the representation.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // What `str::hash` writes (`Hasher::write_str`'s definition).
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str(Repr::Shared(Arc::from(s)))
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(Repr::Shared(Arc::from(s)))
    }
}

impl From<Arc<str>> for Str {
    fn from(s: Arc<str>) -> Self {
        Str(Repr::Shared(s))
    }
}

impl From<Box<str>> for Str {
    fn from(s: Box<str>) -> Self {
        Str(Repr::Shared(Arc::from(s)))
    }
}

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor)
    }
}

struct StrVisitor;

impl Visitor<'_> for StrVisitor {
    type Value = Str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    // Taking `&str` (not `String`) lets serde_json skip an intermediate `String`.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
        Ok(Str::from(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Str, E> {
        Ok(Str::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn representation_does_not_matter() {
        assert_send_sync_static::<Str>();
        let a = Str::from("Portland");
        let b = Str::from(String::from("Portland"));
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), Ordering::Equal);
        let mut m = HashMap::new();
        m.insert(b.clone(), 1);
        assert_eq!(m.get("Portland"), Some(&1));
        assert_eq!(m.get(&a), Some(&1));
        assert_eq!(a.len(), 8);
        assert_eq!(format!("{a}/{b:?}"), "Portland/\"Portland\"");
    }

    #[test]
    fn pooled_strings_hash_and_read_as_their_text() {
        use crate::nexmark::{Event, Generator, GeneratorConfig, StableHasher};
        assert!(pool_text().is_ascii());
        let hash = |f: &dyn Fn(&mut StableHasher)| {
            let mut h = StableHasher::new();
            f(&mut h);
            h.finish()
        };
        let config = GeneratorConfig {
            events_max: Some(2_000),
            ..GeneratorConfig::default()
        };
        let mut pooled = 0;
        for e in Generator::new(config, 0, 1).unwrap() {
            let texts: Vec<Str> = match e {
                Event::Person(p) => vec![p.name, p.email_address, p.credit_card, p.city, p.extra],
                Event::Auction(a) => vec![a.item_name, a.description, a.extra],
                Event::Bid(b) => vec![b.channel, b.url, b.extra],
            };
            for t in texts {
                pooled += usize::from(matches!(t.0, Repr::Pooled { .. }));
                assert_eq!(t.as_bytes(), t.as_str().as_bytes());
                assert_eq!(hash(&|h| t.hash(h)), hash(&|h| t.as_str().hash(h)));
                let other = Str::from(t.as_str());
                assert_eq!(t, other);
                assert_eq!(t.cmp(&Str::from("m")), t.as_str().cmp("m"));
            }
        }
        assert!(pooled > 1_000, "{pooled} pooled strings");
        let shared = Str::from("caf\u{e9}");
        assert_eq!(hash(&|h| shared.hash(h)), hash(&|h| "caf\u{e9}".hash(h)));
    }

    #[test]
    fn small_and_serde_roundtrip() {
        assert_eq!(std::mem::size_of::<Str>(), 16);
        assert_eq!(Str::default(), "");
        let s = Str::from("a \"quoted\" word");
        let json = serde_json::to_string(&s).unwrap();
        let back: Str = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
