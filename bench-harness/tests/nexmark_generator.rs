//! The Nexmark generator: determinism across splits, ordering bounds and distributions.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use spate_bench::nexmark::generator::OfKind;
use spate_bench::nexmark::{
    Event, EventKind, Generator, GeneratorConfig, NexmarkError, WATERMARK_OUT_OF_ORDERNESS_MS,
};

fn cfg(events: u64) -> GeneratorConfig {
    GeneratorConfig {
        events_max: Some(events),
        ..GeneratorConfig::default()
    }
}

/// Shuffled groups and delayed bids, at a rate where they cross milliseconds.
fn disordered(events: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed: 99,
        rate_events_per_s: 50_000,
        out_of_order_group_size: 100,
        prob_delayed_event: 0.1,
        occasional_delay_ms: 3_000,
        ..cfg(events)
    }
}

fn all(cfg: &GeneratorConfig) -> Vec<Event> {
    Generator::new(cfg.clone(), 0, 1)
        .expect("generator")
        .collect()
}

#[test]
fn union_of_splits_is_the_same_stream_for_any_split_count() {
    for config in [cfg(20_000), disordered(20_000)] {
        let whole = all(&config);
        assert_eq!(whole.len(), 20_000);
        for splits in [1usize, 2, 3, 7] {
            let mut merged: Vec<Option<Event>> = vec![None; whole.len()];
            for index in 0..splits {
                let mut g = Generator::new(config.clone(), index, splits).expect("split");
                let mut expected_number = index as u64;
                while let Some(n) = g.next_event_number() {
                    assert_eq!(n, expected_number, "split {index}/{splits} skips a number");
                    let event = g.next_event().expect("event");
                    merged[n as usize] = Some(event);
                    expected_number += splits as u64;
                }
                assert!(g.next_event().is_none());
            }
            let merged: Vec<Event> = merged.into_iter().map(|e| e.expect("covered")).collect();
            assert!(merged == whole, "{splits} splits differ from 1");
        }
    }
}

#[test]
fn fill_and_random_access_agree_with_next_event() {
    let config = disordered(5_000);
    let whole = all(&config);
    let mut g = Generator::new(config, 1, 3).expect("split");
    assert_eq!(g.remaining(), Some(1_667));
    let mut batch = Vec::new();
    let mut numbers = 1u64;
    loop {
        let before = batch.len();
        let n = g.fill(&mut batch, 100);
        assert_eq!(n, batch.len() - before);
        if n == 0 {
            break;
        }
    }
    assert_eq!(batch.len(), 1_667);
    for event in &batch {
        assert_eq!(*event, whole[numbers as usize]);
        assert_eq!(g.event_at(numbers), *event);
        assert_eq!(g.event_timestamp_ms(numbers), event.date_time());
        numbers += 3;
    }
    assert_eq!(g.remaining(), Some(0));
    assert_eq!(g.watermark_hint(), i64::MAX);
}

/// Max over the stream of (largest earlier timestamp - timestamp); also checks
/// that each watermark hint bounds the events after it.
#[test]
fn reading_one_kind_skips_the_others_and_resumes_where_it_stopped() {
    let kinds = [EventKind::Person, EventKind::Auction, EventKind::Bid];
    for config in [cfg(5_000), disordered(5_000)] {
        for splits in [1usize, 3] {
            for split in 0..splits {
                let whole: Vec<Event> = Generator::new(config.clone(), split, splits)
                    .unwrap()
                    .collect();
                let g = Generator::new(config.clone(), split, splits).unwrap();
                for (k, e) in whole.iter().enumerate() {
                    assert_eq!(g.kind_at((split + k * splits) as u64), e.kind());
                }
                for kind in kinds {
                    let want: Vec<&Event> = whole.iter().filter(|e| e.kind() == kind).collect();
                    // Few numbers per call (a person is 1 in 50), and a
                    // restart from the resume position every 7 calls.
                    let mut g = Generator::new(config.clone(), split, splits).unwrap();
                    let (mut got, mut passed, mut calls) = (Vec::new(), 0, 0);
                    loop {
                        calls += 1;
                        if calls % 7 == 0 {
                            let at = g.resume_position();
                            g = Generator::new(config.clone(), split, splits).unwrap();
                            g.seek(at).unwrap();
                        }
                        match g.next_event_of(kind, &mut 16) {
                            OfKind::Event(e) => got.push(e),
                            OfKind::Passed => passed += 1,
                            OfKind::Exhausted => break,
                        }
                    }
                    assert_eq!(got.iter().collect::<Vec<_>>(), want, "{kind:?}");
                    // Persons and auctions (1 and 3 in 50) leave runs of 16
                    // numbers without one; bids (46 in 50) never do.
                    assert_eq!(passed > 0, kind != EventKind::Bid, "{kind:?}");
                }
            }
        }
    }
}

fn max_lateness(g: &mut Generator, hint_every: u64) -> i64 {
    let mut max_seen = i64::MIN;
    let mut worst = 0;
    let mut hint = i64::MIN;
    for i in 0.. {
        if i % hint_every == 0 {
            hint = g.watermark_hint();
        }
        let Some(e) = g.next_event() else { break };
        let t = e.date_time();
        assert!(
            t >= hint,
            "event {i} at {t} is below the watermark hint {hint}"
        );
        worst = worst.max(max_seen.saturating_sub(t));
        max_seen = max_seen.max(t);
    }
    worst
}

#[test]
fn no_event_is_later_than_the_watermark_delay_over_a_million_events() {
    let mut in_order = Generator::new(cfg(1_000_000), 0, 1).expect("default");
    assert_eq!(in_order.max_out_of_orderness_ms(), 0);
    assert_eq!(max_lateness(&mut in_order, 1_000), 0);

    let mut shuffled = Generator::new(disordered(1_000_000), 0, 1).expect("disordered");
    let bound = shuffled.max_out_of_orderness_ms();
    assert!(bound <= WATERMARK_OUT_OF_ORDERNESS_MS);
    let worst = max_lateness(&mut shuffled, 1_000);
    assert!(
        worst > 2_000 && worst <= bound,
        "worst {worst}, bound {bound}"
    );
}

#[test]
fn watermark_hint_bounds_every_later_event() {
    for config in [cfg(30_000), disordered(30_000)] {
        let whole = all(&config);
        let mut g = Generator::new(config, 2, 5).expect("split");
        let mut suffix_min = vec![i64::MAX; whole.len() + 1];
        for i in (0..whole.len()).rev() {
            suffix_min[i] = suffix_min[i + 1].min(whole[i].date_time());
        }
        while let Some(n) = g.next_event_number() {
            assert!(g.watermark_hint() <= suffix_min[n as usize]);
            g.next_event();
        }
    }
}

#[test]
fn proportions_ids_and_timestamps_follow_nexmark() {
    let events = all(&cfg(50_000));
    let (mut persons, mut auctions, mut bids) = (0u64, 0u64, 0u64);
    for (i, e) in events.iter().enumerate() {
        // 10 M events/s: event i is i / 10 000 ms after the base time.
        assert_eq!(e.date_time(), 1_767_225_600_000 + i as i64 / 10_000);
        match e {
            Event::Person(p) => {
                assert_eq!(p.id, 1_000 + persons);
                persons += 1;
            }
            Event::Auction(a) => {
                assert_eq!(a.id, 1_000 + auctions);
                auctions += 1;
                assert!(a.expires > a.date_time);
                assert!(a.reserve >= a.initial_bid);
                assert!((10..15).contains(&a.category));
                // Sellers exist already or are at most 10 ids ahead.
                assert!(a.seller >= 1_000 && a.seller < 1_000 + persons + 10);
            }
            Event::Bid(b) => {
                bids += 1;
                assert!(b.auction >= 1_000 && b.auction < 1_000 + auctions + 10);
                assert!(b.bidder >= 1_000 && b.bidder < 1_000 + persons + 10);
                assert!((100..=100_000_000).contains(&b.price));
            }
        }
    }
    assert_eq!((persons, auctions, bids), (1_000, 3_000, 46_000));
    assert!(matches!(events[0], Event::Person(_)));
    assert!(matches!(events[1], Event::Auction(_)));
    assert!(matches!(events[4], Event::Bid(_)));
}

#[test]
fn distributions_are_nexmark_like() {
    let events = all(&GeneratorConfig {
        rate_events_per_s: 1_000,
        ..cfg(200_000)
    });
    let bids: Vec<_> = events.iter().filter_map(Event::as_bid).collect();
    let auctions: Vec<_> = events.iter().filter_map(Event::as_auction).collect();
    let persons: Vec<_> = events.iter().filter_map(Event::as_person).collect();
    let frac = |n: usize, d: usize| n as f64 / d as f64;

    // Hot auction ratio 2: half the bids go to the batch's hot auction, plus a
    // few random picks that happen to be one.
    let hot_auction = bids
        .iter()
        .filter(|b| (b.auction - 1_000) % 100 == 0)
        .count();
    assert!((0.49..0.53).contains(&frac(hot_auction, bids.len())));
    // Hot bidder ratio 4: 3/4 of the bids are by the batch's second person.
    let hot_bidder = bids
        .iter()
        .filter(|b| (b.bidder - 1_000) % 100 == 1)
        .count();
    assert!((0.74..0.77).contains(&frac(hot_bidder, bids.len())));
    let hot_seller = auctions
        .iter()
        .filter(|a| (a.seller - 1_000) % 100 == 0)
        .count();
    assert!((0.73..0.77).contains(&frac(hot_seller, auctions.len())));
    let hot_channel = bids
        .iter()
        .filter(|b| ["Google", "Facebook", "Baidu", "Apple"].contains(&b.channel.as_str()))
        .count();
    assert!((0.48..0.52).contains(&frac(hot_channel, bids.len())));

    // Sizes: `extra` pads each event type to its average size.
    let bid_size = |b: &&spate_bench::nexmark::Bid| 32 + b.extra.len();
    let avg_bid = bids.iter().map(bid_size).sum::<usize>() as f64 / bids.len() as f64;
    assert!((99.0..100.5).contains(&avg_bid), "{avg_bid}");
    let auction_size = |a: &&spate_bench::nexmark::Auction| {
        48 + a.item_name.len() + a.description.len() + a.extra.len()
    };
    let avg_auction =
        auctions.iter().map(auction_size).sum::<usize>() as f64 / auctions.len() as f64;
    assert!((495.0..505.0).contains(&avg_auction), "{avg_auction}");
    let person_size = |p: &&spate_bench::nexmark::Person| {
        8 + p.name.len()
            + p.email_address.len()
            + p.credit_card.len()
            + p.city.len()
            + p.state.len()
            + p.extra.len()
    };
    let avg_person = persons.iter().map(person_size).sum::<usize>() as f64 / persons.len() as f64;
    assert!((195.0..205.0).contains(&avg_person), "{avg_person}");

    // About 100 auctions open at a time: mean length is ~ the time of 100 auctions.
    let mean_len = auctions
        .iter()
        .map(|a| a.expires - a.date_time)
        .sum::<i64>() as f64
        / auctions.len() as f64;
    assert!((1_560.0..1_780.0).contains(&mean_len), "{mean_len}");
    let states = ["AZ", "CA", "ID", "OR", "WA", "WY"];
    assert!(persons.iter().all(|p| states.contains(&p.state.as_str())));
}

#[test]
fn seed_changes_content_but_not_shape() {
    let a = all(&cfg(2_000));
    let b = all(&GeneratorConfig {
        seed: 1,
        ..cfg(2_000)
    });
    assert_ne!(a, b);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.date_time(), y.date_time());
        assert_eq!(std::mem::discriminant(x), std::mem::discriminant(y));
    }
}

#[test]
fn delays_change_only_bid_timestamps() {
    let plain = all(&GeneratorConfig {
        rate_events_per_s: 50_000,
        ..cfg(20_000)
    });
    let delayed = all(&GeneratorConfig {
        rate_events_per_s: 50_000,
        prob_delayed_event: 0.1,
        ..cfg(20_000)
    });
    let mut moved = 0;
    for (p, d) in plain.iter().zip(&delayed) {
        match (p, d) {
            (Event::Bid(p), Event::Bid(d)) => {
                let shift = p.date_time - d.date_time;
                assert!((0..=3_000).contains(&shift));
                moved += usize::from(shift > 0);
                assert_eq!(
                    (p.auction, p.price, &p.extra),
                    (d.auction, d.price, &d.extra)
                );
            }
            _ => assert_eq!(p, d),
        }
    }
    assert!((1_600..2_100).contains(&moved), "{moved}");
}

#[test]
fn invalid_configs_and_splits_are_errors() {
    let bad = [
        GeneratorConfig {
            rate_events_per_s: 0,
            ..cfg(1)
        },
        GeneratorConfig {
            auction_proportion: 0,
            ..cfg(1)
        },
        GeneratorConfig {
            out_of_order_group_size: 953,
            ..cfg(1)
        },
        GeneratorConfig {
            prob_delayed_event: 0.5,
            occasional_delay_ms: 5_000,
            ..cfg(1)
        },
        GeneratorConfig {
            out_of_order_group_size: 100,
            rate_events_per_s: 10,
            ..cfg(1)
        },
    ];
    for config in bad {
        assert!(matches!(
            Generator::new(config, 0, 1),
            Err(NexmarkError::InvalidConfig(_))
        ));
    }
    assert!(Generator::new(cfg(1), 0, 0).is_err());
    assert!(Generator::new(cfg(1), 3, 3).is_err());
    // More splits than events: the extra splits are simply empty.
    let mut g = Generator::new(cfg(2), 5, 8).expect("empty split");
    assert!(g.next_event().is_none());
}

#[test]
fn generators_can_move_to_their_core() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Generator>();
    send_sync::<Event>();
}

#[test]
fn unbounded_generator_keeps_going() {
    let mut g = Generator::new(GeneratorConfig::default(), 0, 4).expect("unbounded");
    assert_eq!(g.remaining(), None);
    let mut out = Vec::new();
    assert_eq!(g.fill(&mut out, 10_000), 10_000);
    assert_eq!(g.next_event_number(), Some(40_000));
}
