//! q8: monitor new users — people who opened an auction in the same 10 s
//! tumbling window in which they registered (a window join).

use spate::window::{TimeWindow, TumblingEventTimeWindows, WindowCollector};
use spate::{DataStream, Result};

use super::TUMBLE_MS;
use crate::nexmark::rows::Q8Row;
use crate::nexmark::{Event, Str};

#[derive(Clone, Debug, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
enum Side {
    Person(Str),
    Auction,
}

/// Persons and auctions, keyed by person id and seller, meet in 10 s
/// windows; a window with the person and at least one auction emits one row.
pub fn q8(events: &DataStream<Event>) -> DataStream<Q8Row> {
    events
        .flat_map(|e: Event| match e {
            Event::Person(p) => Some((p.id, Side::Person(p.name))),
            Event::Auction(a) => Some((a.seller, Side::Auction)),
            Event::Bid(_) => None,
        })
        .key_by(|(id, _): &(u64, Side)| *id)
        .window(TumblingEventTimeWindows::of(TUMBLE_MS as u64))
        .process(
            |id: &u64,
             w: &TimeWindow,
             items: &[(u64, Side)],
             out: &mut WindowCollector<'_, Q8Row>|
             -> Result<()> {
                let opened = items.iter().any(|(_, s)| matches!(s, Side::Auction));
                if opened {
                    for (_, s) in items {
                        if let Side::Person(name) = s {
                            out.collect(Q8Row {
                                id: *id,
                                name: name.clone(),
                                window_start: w.start,
                            });
                        }
                    }
                }
                Ok(())
            },
        )
}
