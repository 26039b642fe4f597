//! The thread that writes a sink subtask's batches, so the core hands a
//! batch over and goes on. Commands run in order: a flush answers once
//! every batch before it is acknowledged by the broker.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use crate::client::{Client, ProducerIdentity};
use crate::error::{KafkaError, Result};
use crate::records::OutRecord;

/// What the sink asks of its producer thread.
pub(crate) enum Command {
    /// Append records to a partition (inside the open transaction, if any).
    Batch {
        partition: i32,
        records: Vec<OutRecord>,
    },
    /// Answer once everything before is acknowledged; with transactions,
    /// answer the open transaction and whether it holds records.
    Flush(SyncSender<Result<Option<(ProducerIdentity, bool)>>>),
    /// Open the transaction `{prefix}-{subtask}-{counter}`, first aborting
    /// what earlier runs left open under that id and the ones after it.
    Begin {
        counter: u64,
        answer: SyncSender<Result<u64>>,
    },
}

/// How the thread writes.
pub(crate) struct ProducerPlan {
    pub topic: String,
    /// `Some(prefix-subtask)` for a transactional producer.
    pub transactional: Option<String>,
    pub transaction_timeout_ms: i32,
}

struct Txn {
    identity: ProducerIdentity,
    added: HashSet<i32>,
    sequences: HashMap<i32, i32>,
    records: u64,
}

/// Runs the producer until the sink drops its end of the channel.
pub(crate) fn run(
    mut client: Client,
    plan: ProducerPlan,
    commands: Receiver<Command>,
    closed: &AtomicBool,
) {
    let mut txn: Option<Txn> = None;
    let mut failed: Option<String> = None;
    for cmd in commands {
        if closed.load(Ordering::Acquire) {
            return;
        }
        match cmd {
            Command::Batch { partition, records } => {
                if failed.is_none()
                    && let Err(e) = write(&mut client, &plan, txn.as_mut(), partition, &records)
                {
                    failed = Some(e.to_string());
                }
            }
            Command::Flush(answer) => {
                let result = match &failed {
                    Some(reason) => Err(failure(&plan, reason)),
                    None => Ok(txn.as_ref().map(|t| (t.identity.clone(), t.records > 0))),
                };
                let _ = answer.send(result);
            }
            Command::Begin { counter, answer } => {
                let result = match (&failed, &plan.transactional) {
                    (Some(reason), _) => Err(failure(&plan, reason)),
                    (None, Some(base)) => begin(&mut client, &plan, base, counter).map(|(t, k)| {
                        txn = Some(t);
                        k
                    }),
                    (None, None) => Err(KafkaError::Internal {
                        reason: "a transaction was begun on an at-least-once sink".into(),
                    }),
                };
                if let Err(e) = &result {
                    failed.get_or_insert_with(|| e.to_string());
                }
                let _ = answer.send(result);
            }
        }
    }
}

fn failure(plan: &ProducerPlan, reason: &str) -> KafkaError {
    KafkaError::InvalidConfig {
        reason: format!("writing to topic `{}` failed earlier: {reason}", plan.topic),
    }
}

fn write(
    client: &mut Client,
    plan: &ProducerPlan,
    txn: Option<&mut Txn>,
    partition: i32,
    records: &[OutRecord],
) -> Result<()> {
    let Some(t) = txn else {
        client.send(&plan.topic, partition, records)?;
        return Ok(());
    };
    if t.added.insert(partition) {
        client.add_partitions_to_txn(&t.identity, &plan.topic, &[partition])?;
    }
    let sequence = t.sequences.entry(partition).or_insert(0);
    // The same sequence numbers on a retry let the broker drop a copy.
    client.send_in_transaction(&t.identity, &plan.topic, partition, *sequence, records)?;
    *sequence = sequence.wrapping_add(records.len() as i32);
    t.records += records.len() as u64;
    Ok(())
}

/// Registers `{base}-{counter}`; an id an earlier run used comes back with
/// a later epoch (its open transaction now aborted), so the next one is
/// tried until a fresh id. Returns the transaction and its counter.
fn begin(
    client: &mut Client,
    plan: &ProducerPlan,
    base: &str,
    mut counter: u64,
) -> Result<(Txn, u64)> {
    let mut aborted = 0u64;
    loop {
        let id = format!("{base}-{counter}");
        let identity = client.init_producer_id(&id, plan.transaction_timeout_ms)?;
        if identity.epoch == 0 {
            if aborted > 0 {
                tracing::info!(
                    "fenced {aborted} transactional id(s) an earlier run of `{base}` left behind"
                );
            }
            let txn = Txn {
                identity,
                added: HashSet::new(),
                sequences: HashMap::new(),
                records: 0,
            };
            return Ok((txn, counter));
        }
        aborted += 1;
        counter += 1;
    }
}
