//! `'connector' = 'nexmark'`: the bench harness's deterministic generator,
//! one table per event type with nexmark-flink's column names.

use spate::sources::SplitInfo;
use spate_bench::nexmark::generator::OfKind;
use spate_bench::nexmark::{Event, EventKind as Kind, Generator, GeneratorConfig};

use super::{ReadPoll, RowReader, check_known_options, connector_error, number_option};
use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::row::Row;
use crate::value::{DataType, Value};

/// Event numbers one poll looks at per row it may return: a person is 1
/// event in 50, so a poll of persons ends after about `count_max` of them
/// or this many numbers each, whichever comes first.
const NUMBERS_PER_ROW_MAX: u64 = 64;

const PERSON: &[(&str, DataType)] = &[
    ("id", DataType::BigInt),
    ("name", DataType::String),
    ("emailAddress", DataType::String),
    ("creditCard", DataType::String),
    ("city", DataType::String),
    ("state", DataType::String),
    ("dateTime", DataType::Timestamp),
    ("extra", DataType::String),
];

const AUCTION: &[(&str, DataType)] = &[
    ("id", DataType::BigInt),
    ("itemName", DataType::String),
    ("description", DataType::String),
    ("initialBid", DataType::BigInt),
    ("reserve", DataType::BigInt),
    ("dateTime", DataType::Timestamp),
    ("expires", DataType::Timestamp),
    ("seller", DataType::BigInt),
    ("category", DataType::BigInt),
    ("extra", DataType::String),
];

const BID: &[(&str, DataType)] = &[
    ("auction", DataType::BigInt),
    ("bidder", DataType::BigInt),
    ("price", DataType::BigInt),
    ("channel", DataType::String),
    ("url", DataType::String),
    ("dateTime", DataType::Timestamp),
    ("extra", DataType::String),
];

const OPTIONS: &[&str] = &[
    "nexmark.table",
    "events.num",
    "next-event.rate",
    "seed",
    "person.proportion",
    "auction.proportion",
    "bid.proportion",
];

/// Reads one split of the generated events of one type.
pub struct NexmarkReader {
    generator: Generator,
    kind: Kind,
    /// For each declared physical column, the field of the event it reads.
    fields: Vec<usize>,
}

/// What a table's options resolve to.
pub struct NexmarkPlan {
    config: GeneratorConfig,
    kind: Kind,
    fields: Vec<usize>,
}

impl NexmarkReader {
    /// Resolves the table's options and columns.
    pub fn plan(table: &TableDef) -> Result<NexmarkPlan, SqlError> {
        check_known_options(table, OPTIONS, &[])?;
        let kind_name = table
            .option("nexmark.table")
            .map(str::to_owned)
            .unwrap_or_else(|| table.name.to_ascii_lowercase());
        let kind = match kind_name.as_str() {
            "person" => Kind::Person,
            "auction" => Kind::Auction,
            "bid" => Kind::Bid,
            other => {
                return Err(connector_error(
                    table,
                    format!(
                        "'nexmark.table' = '{other}' is not an event type; expected 'person', 'auction' or 'bid'"
                    ),
                ));
            }
        };
        let columns = match kind {
            Kind::Person => PERSON,
            Kind::Auction => AUCTION,
            Kind::Bid => BID,
        };
        let mut fields = Vec::new();
        for i in table.physical_columns() {
            let Some(f) = table.schema.fields.get(i) else {
                continue;
            };
            let Some(j) = columns
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(&f.name))
            else {
                return Err(connector_error(
                    table,
                    format!(
                        "column `{}` is not a field of nexmark's {kind_name}; expected some of: {}",
                        f.name,
                        columns
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let want = columns.get(j).map(|c| c.1).unwrap_or(DataType::Null);
            if want != f.ty {
                return Err(connector_error(
                    table,
                    format!("column `{}` must be declared {want}, not {}", f.name, f.ty),
                ));
            }
            fields.push(j);
        }
        let mut config = GeneratorConfig {
            events_max: number_option(table, "events.num")?,
            ..GeneratorConfig::default()
        };
        if let Some(r) = number_option(table, "next-event.rate")? {
            config.rate_events_per_s = r;
        }
        if let Some(s) = number_option(table, "seed")? {
            config.seed = s;
        }
        if let Some(p) = number_option(table, "person.proportion")? {
            config.person_proportion = p;
        }
        if let Some(p) = number_option(table, "auction.proportion")? {
            config.auction_proportion = p;
        }
        if let Some(p) = number_option(table, "bid.proportion")? {
            config.bid_proportion = p;
        }
        config
            .validate()
            .map_err(|e| connector_error(table, format!("invalid generator options: {e}")))?;
        Ok(NexmarkPlan {
            config,
            kind,
            fields,
        })
    }

    /// Opens split `split`.
    pub fn open(table: &TableDef, split: SplitInfo) -> Result<Self, SqlError> {
        let plan = Self::plan(table)?;
        let generator = Generator::new(plan.config, split.index, split.count)
            .map_err(|e| connector_error(table, e.to_string()))?;
        Ok(NexmarkReader {
            generator,
            kind: plan.kind,
            fields: plan.fields,
        })
    }

    fn row(&self, e: Event) -> Option<Row> {
        let field = |j: usize| -> Value {
            match &e {
                Event::Bid(b) => match j {
                    0 => Value::Int(b.auction as i64),
                    1 => Value::Int(b.bidder as i64),
                    2 => Value::Int(b.price as i64),
                    3 => Value::Str(b.channel.clone()),
                    4 => Value::Str(b.url.clone()),
                    5 => Value::Timestamp(b.date_time),
                    _ => Value::Str(b.extra.clone()),
                },
                Event::Auction(a) => match j {
                    0 => Value::Int(a.id as i64),
                    1 => Value::Str(a.item_name.clone()),
                    2 => Value::Str(a.description.clone()),
                    3 => Value::Int(a.initial_bid as i64),
                    4 => Value::Int(a.reserve as i64),
                    5 => Value::Timestamp(a.date_time),
                    6 => Value::Timestamp(a.expires),
                    7 => Value::Int(a.seller as i64),
                    8 => Value::Int(a.category as i64),
                    _ => Value::Str(a.extra.clone()),
                },
                Event::Person(p) => match j {
                    0 => Value::Int(p.id as i64),
                    1 => Value::Str(p.name.clone()),
                    2 => Value::Str(p.email_address.clone()),
                    3 => Value::Str(p.credit_card.clone()),
                    4 => Value::Str(p.city.clone()),
                    5 => Value::Str(p.state.clone()),
                    6 => Value::Timestamp(p.date_time),
                    _ => Value::Str(p.extra.clone()),
                },
            }
        };
        // The table's fields index into its own event type only.
        (e.kind() == self.kind).then(|| {
            let mut values = crate::row_pool::take(self.fields.len());
            values.extend(self.fields.iter().map(|&j| field(j)));
            Row::insert(values)
        })
    }
}

impl RowReader for NexmarkReader {
    fn read(&mut self, out: &mut Vec<Row>, count_max: usize) -> spate::Result<ReadPoll> {
        // Up to `count_max` rows per poll; the other event types are passed
        // over without being generated, looking at no more than
        // `NUMBERS_PER_ROW_MAX` event numbers per row asked for.
        let mut numbers_left = (count_max as u64).saturating_mul(NUMBERS_PER_ROW_MAX);
        for _ in 0..count_max {
            match self.generator.next_event_of(self.kind, &mut numbers_left) {
                OfKind::Event(e) => {
                    if let Some(r) = self.row(e) {
                        out.push(r);
                    }
                }
                OfKind::Passed => break,
                OfKind::Exhausted => return Ok(ReadPoll::Exhausted),
            }
        }
        Ok(ReadPoll::Ready)
    }

    fn position(&self) -> u64 {
        self.generator.resume_position()
    }

    fn seek(&mut self, position: u64) -> spate::Result<()> {
        self.generator
            .seek(position)
            .map_err(|e| spate::SpateError::Checkpoint {
                reason: format!("restoring a nexmark table's position: {e}"),
            })
    }
}
