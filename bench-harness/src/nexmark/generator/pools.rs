//! The process-wide string pool that generated strings are slices of, so that
//! generating an event allocates nothing for its strings.
//!
//! All pre-generated text lives in one `String`: `extra` padding, random text
//! for item names and descriptions, credit card digits, and lists of names,
//! e-mail addresses, channels, URLs and the fixed vocabularies. It is built
//! once per process from a fixed seed (not the config's), so it is identical in
//! every process and run, and a pooled [`Str`] is just an offset and a length.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::super::text::Str;
use super::rng::Rng;
use super::vocab::{
    CHANNELS, FIRST_NAMES, HOT_CHANNELS, LAST_NAMES, MIN_TEXT_LEN, US_CITIES, US_STATES,
};

/// Size of the `extra` padding pool (nexmark-flink also pads from a 1 MiB string).
const EXTRA_POOL_BYTES: usize = 1 << 20;
/// Size of the pool item names and descriptions are cut from.
const TEXT_POOL_BYTES: usize = 1 << 16;
/// Distinct e-mail addresses.
const EMAILS: usize = 1 << 16;
/// Distinct 4-digit groups in the credit card pool (a card is 4 consecutive groups).
const CARD_GROUPS: usize = 1 << 16;
/// Fixed seed of the pool.
const POOL_SEED: u64 = 0x706f_6f6c_7321;

static POOLS: OnceLock<Pools> = OnceLock::new();

/// The pool, built on first use (a few milliseconds).
pub(crate) fn pools() -> &'static Pools {
    POOLS.get_or_init(Pools::build)
}

/// The pool's text ("" before any generator exists, when no pooled `Str` can exist either).
pub(crate) fn pool_text() -> &'static str {
    // Built on first use: a process may receive pooled strings from another
    // process before its own generator has run.
    pools().all.as_str()
}

/// A slice of the pool: what a pooled [`Str`] holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    start: u32,
    len: u32,
}

impl Piece {
    /// Its length in bytes.
    #[inline]
    pub(crate) fn len(self) -> usize {
        self.len as usize
    }

    /// The `Str` of it.
    #[inline]
    pub(crate) fn into_str(self) -> Str {
        Str::pooled(self.start, self.len)
    }

    /// The sub-piece `[from, from + len)`.
    #[inline]
    fn sub(self, from: usize, len: usize) -> Piece {
        Piece {
            start: self.start + from as u32,
            len: len as u32,
        }
    }
}

/// A list of strings stored back to back in the pool.
#[derive(Default)]
struct List {
    /// Piece `k` ends at `ends[k]` and starts where piece `k - 1` ends.
    ends: Vec<u32>,
    start: u32,
}

impl List {
    fn len(&self) -> u64 {
        self.ends.len() as u64
    }

    #[inline]
    fn get(&self, k: u64) -> Piece {
        let k = k as usize;
        let start = match k.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(self.start),
            None => self.start,
        };
        let end = self.ends.get(k).copied().unwrap_or(start);
        Piece {
            start,
            len: end - start,
        }
    }
}

/// The pool and where each kind of string is in it.
pub(crate) struct Pools {
    all: String,
    extra: Piece,
    text: Piece,
    cards: Piece,
    names: List,
    emails: List,
    states: List,
    cities: List,
    hot_channels: List,
    hot_urls: List,
    channels: List,
    channel_urls: List,
}

/// Appends pieces to the pool text.
struct Builder {
    all: String,
}

impl Builder {
    fn piece(&mut self, text: &str) -> Piece {
        let start = self.all.len() as u32;
        self.all.push_str(text);
        Piece {
            start,
            len: text.len() as u32,
        }
    }

    fn list<S: AsRef<str>>(&mut self, items: impl IntoIterator<Item = S>) -> List {
        let mut list = List {
            ends: Vec::new(),
            start: self.all.len() as u32,
        };
        for item in items {
            self.all.push_str(item.as_ref());
            list.ends.push(self.all.len() as u32);
        }
        list
    }
}

impl Pools {
    fn build() -> Pools {
        let mut rng = Rng::from_seed(POOL_SEED);
        let mut b = Builder {
            all: String::with_capacity(4 << 20),
        };
        let extra: String = (0..EXTRA_POOL_BYTES).map(|_| letter(&mut rng)).collect();
        let extra = b.piece(&extra);
        let text: String = (0..TEXT_POOL_BYTES)
            .map(|_| text_char(&mut rng, ' '))
            .collect();
        let text = b.piece(&text);
        let mut cards = String::with_capacity(CARD_GROUPS * 5);
        for _ in 0..CARD_GROUPS {
            let _ = write!(cards, "{:04} ", rng.below(10_000));
        }
        let cards = b.piece(&cards);
        let names = b.list(
            FIRST_NAMES
                .iter()
                .flat_map(|first| LAST_NAMES.iter().map(move |last| format!("{first} {last}"))),
        );
        let emails: Vec<String> = (0..EMAILS)
            .map(|_| {
                let user = random_text(&mut rng, 7, ' ');
                let domain = random_text(&mut rng, 5, ' ');
                format!("{}@{}.com", user.trim(), domain.trim())
            })
            .collect();
        let emails = b.list(emails);
        let states = b.list(US_STATES);
        let cities = b.list(US_CITIES);
        let hot_channels = b.list(HOT_CHANNELS);
        let hot_urls: Vec<String> = HOT_CHANNELS.iter().map(|_| base_url(&mut rng)).collect();
        let hot_urls = b.list(hot_urls);
        let channel_urls: Vec<String> = (0..CHANNELS)
            .map(|i| {
                let mut url = base_url(&mut rng);
                if rng.below(10) > 0 {
                    // nexmark-flink's id: |Integer.reverse(i)| in 32-bit arithmetic,
                    // where |i32::MIN| stays negative.
                    let id = (i as u32).reverse_bits() as i32;
                    let _ = write!(url, "&channel_id={}", id.wrapping_abs());
                }
                url
            })
            .collect();
        let channels = b.list((0..CHANNELS).map(|i| format!("channel-{i}")));
        let channel_urls = b.list(channel_urls);
        Pools {
            all: b.all,
            extra,
            text,
            cards,
            names,
            emails,
            states,
            cities,
            hot_channels,
            hot_urls,
            channels,
            channel_urls,
        }
    }

    /// Padding so that `current_size + len` averages `avg_size`: uniform in
    /// `desired ± 20%` (nexmark-flink's `nextExtra`), cut from the extra pool.
    #[inline]
    pub(crate) fn extra(&self, rng: &mut Rng, current_size: usize, avg_size: u32) -> Piece {
        let avg = avg_size as usize;
        if current_size > avg {
            return self.extra.sub(0, 0);
        }
        let desired = avg - current_size;
        let delta = (2 * desired + 5) / 10; // round(desired * 0.2)
        let jitter = if delta == 0 {
            0
        } else {
            rng.below(2 * delta as u64) as usize
        };
        let pool = self.extra.len();
        let len = (desired - delta + jitter).min(pool);
        let start = rng.below((pool - len) as u64) as usize;
        self.extra.sub(start, len)
    }

    /// Random text of 3 to `max_len - 1` letters and spaces, trimmed
    /// (nexmark-flink's `nextString`), cut from the text pool.
    #[inline]
    pub(crate) fn text(&self, rng: &mut Rng, max_len: u64) -> Piece {
        let len = (MIN_TEXT_LEN + rng.below(max_len.saturating_sub(MIN_TEXT_LEN))) as usize;
        let start = rng.below((self.text.len() - len) as u64) as usize;
        let raw = self.text.sub(start, len);
        let s = self.str_of(raw);
        let lead = s.len() - s.trim_start().len();
        let body = s.trim().len();
        raw.sub(lead, body)
    }

    /// "First Last".
    #[inline]
    pub(crate) fn name(&self, rng: &mut Rng) -> Piece {
        self.names.get(rng.below(self.names.len()))
    }

    /// `user@domain.com`.
    #[inline]
    pub(crate) fn email(&self, rng: &mut Rng) -> Piece {
        self.emails.get(rng.below(self.emails.len()))
    }

    /// "dddd dddd dddd dddd".
    #[inline]
    pub(crate) fn credit_card(&self, rng: &mut Rng) -> Piece {
        self.cards
            .sub(5 * rng.below(CARD_GROUPS as u64 - 3) as usize, 19)
    }

    /// A US state.
    #[inline]
    pub(crate) fn state(&self, rng: &mut Rng) -> Piece {
        self.states.get(rng.below(self.states.len()))
    }

    /// A US city.
    #[inline]
    pub(crate) fn city(&self, rng: &mut Rng) -> Piece {
        self.cities.get(rng.below(self.cities.len()))
    }

    /// Channel and URL of a bid: one of the 4 hot channels half of the time,
    /// otherwise one of 10 000 `channel-N` (nexmark-flink's `HOT_CHANNELS_RATIO` 2).
    #[inline]
    pub(crate) fn channel_and_url(&self, rng: &mut Rng) -> (Piece, Piece) {
        if rng.below(2) > 0 {
            let i = rng.below(self.hot_channels.len());
            (self.hot_channels.get(i), self.hot_urls.get(i))
        } else {
            let i = rng.below(self.channels.len());
            (self.channels.get(i), self.channel_urls.get(i))
        }
    }

    fn str_of(&self, piece: Piece) -> &str {
        let start = piece.start as usize;
        self.all.get(start..start + piece.len()).unwrap_or("")
    }
}

fn letter(rng: &mut Rng) -> char {
    char::from(b'a' + rng.below(26) as u8)
}

/// A letter, or `special` one time in 13.
fn text_char(rng: &mut Rng, special: char) -> char {
    if rng.below(13) == 0 {
        special
    } else {
        letter(rng)
    }
}

/// nexmark-flink's `nextString` built character by character (for the pool).
fn random_text(rng: &mut Rng, max_len: u64, special: char) -> String {
    let len = MIN_TEXT_LEN + rng.below(max_len - MIN_TEXT_LEN);
    (0..len).map(|_| text_char(rng, special)).collect()
}

fn base_url(rng: &mut Rng) -> String {
    let mut part = || random_text(rng, 5, '_');
    format!(
        "https://www.nexmark.com/{}/{}/{}/item.htm?query=1",
        part(),
        part(),
        part()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_strings_look_right() {
        let p = pools();
        let mut rng = Rng::from_seed(11);
        for _ in 0..1000 {
            let card = p.credit_card(&mut rng).into_str();
            assert_eq!(card.len(), 19);
            assert_eq!(card.split(' ').count(), 4);
            assert!(p.name(&mut rng).into_str().contains(' '));
            assert!(p.email(&mut rng).into_str().ends_with(".com"));
            let t = p.text(&mut rng, 20).into_str();
            assert!(t.len() < 20 && *t == *t.trim());
            let (channel, url) = p.channel_and_url(&mut rng);
            assert!(channel.len() > 0);
            assert!(url.into_str().starts_with("https://www.nexmark.com/"));
            assert!(US_STATES.contains(&&*p.state(&mut rng).into_str()));
        }
        assert_eq!(p.channels.get(9_999).into_str(), "channel-9999");
        assert_eq!(p.names.len(), 99);
        assert_eq!(p.names.get(0).into_str(), "Peter Shultz");
        // A pooled Str equals the same text held in an Arc.
        assert_eq!(p.cities.get(1).into_str(), Str::from("Los Angeles"));
        let url1 = p.channel_urls.get(1).into_str();
        assert!(url1.ends_with("&channel_id=-2147483648") || !url1.contains('&'));
    }

    #[test]
    fn extra_pads_to_the_average() {
        let p = pools();
        let mut rng = Rng::from_seed(12);
        let n = 20_000;
        let total: usize = (0..n).map(|_| p.extra(&mut rng, 32, 100).len()).sum();
        let avg = total as f64 / n as f64;
        assert!((67.0..69.5).contains(&avg), "{avg}");
        assert_eq!(p.extra(&mut rng, 300, 100).len(), 0);
    }
}
