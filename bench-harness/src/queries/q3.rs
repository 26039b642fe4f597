//! q3: local item suggestion, an unwindowed stream-stream join.

use spate::keyed::{KeyedContext, ListState, OpenContext, ValueState};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::{DataStream, Result};

use crate::nexmark::rows::Q3Row;
use crate::nexmark::{Event, Str};

/// One side of the join, keyed by the person id (= the auction's seller).
#[derive(Clone, Debug, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
enum Side {
    Seller { name: Str, city: Str, state: Str },
    Auction { id: u64 },
}

/// Auctions of category 10 joined with their sellers from OR, ID or CA.
/// Either side may arrive first; each match is emitted once.
pub fn q3(events: &DataStream<Event>) -> DataStream<Q3Row> {
    events
        .flat_map(|e: Event| match e {
            Event::Person(p) if matches!(&*p.state, "OR" | "ID" | "CA") => Some((
                p.id,
                Side::Seller {
                    name: p.name,
                    city: p.city,
                    state: p.state,
                },
            )),
            Event::Auction(a) if a.category == 10 => Some((a.seller, Side::Auction { id: a.id })),
            _ => None,
        })
        .key_by(|(id, _): &(u64, Side)| *id)
        .process(SellerJoin::default())
}

#[derive(Clone, Default)]
struct SellerJoin {
    seller: Option<ValueState<u64, (Str, Str, Str)>>,
    waiting: Option<ListState<u64, u64>>,
}

impl KeyedProcessFunction<u64, (u64, Side), Q3Row> for SellerJoin {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.seller = Some(ctx.value_state("seller", None)?);
        self.waiting = Some(ctx.list_state("waiting auctions", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (_, side): (u64, Side),
        ctx: &mut KeyedContext<'_, u64, Q3Row>,
    ) -> Result<()> {
        let (Some(seller), Some(waiting)) = (self.seller, self.waiting) else {
            return Err(spate::SpateError::internal("q3 state not opened"));
        };
        match side {
            Side::Seller { name, city, state } => {
                for auction in waiting.get(ctx)? {
                    ctx.collect(Q3Row {
                        name: name.clone(),
                        city: city.clone(),
                        state: state.clone(),
                        auction,
                    });
                }
                waiting.clear(ctx)?;
                seller.update(ctx, (name, city, state))?;
            }
            Side::Auction { id } => match seller.value(ctx)? {
                Some((name, city, state)) => ctx.collect(Q3Row {
                    name,
                    city,
                    state,
                    auction: id,
                }),
                None => waiting.add(ctx, id)?,
            },
        }
        Ok(())
    }
}
