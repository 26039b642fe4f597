//! The backpressure of a worker's sending channels, for the coordinator's
//! operations API: each core samples its links' counters on its own
//! executor (links are not `Send`) and posts them here; the heartbeat
//! thread sends the most backpressured channels with its heartbeats.

use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use std::sync::Mutex;
use std::time::Duration;

use spate_net::Link;

use crate::coordinator::state::CHANNELS_REPORTED_MAX;
use crate::protocol::ChannelPressure;

/// How often a core samples its links.
const SAMPLE_INTERVAL_MS: u64 = 1_000;

/// The latest sample of every core of the running share.
#[derive(Default)]
pub(crate) struct PressureBoard {
    inner: Mutex<Board>,
}

#[derive(Default)]
struct Board {
    job: u64,
    /// Per sending subtask: its channels.
    cores: BTreeMap<u32, Vec<ChannelPressure>>,
}

impl PressureBoard {
    /// A new share of `job` starts: earlier samples are void.
    pub(crate) fn start(&self, job: u64) {
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        b.job = job;
        b.cores.clear();
    }

    fn post(&self, job: u64, subtask: u32, channels: Vec<ChannelPressure>) {
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // A sampler of an earlier share that has not noticed its end yet.
        if b.job == job {
            b.cores.insert(subtask, channels);
        }
    }

    /// The job and its most backpressured channels (at most
    /// [`CHANNELS_REPORTED_MAX`]), or `None` before any sample.
    pub(crate) fn report(&self) -> Option<(u64, Vec<ChannelPressure>)> {
        let b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if b.cores.is_empty() {
            return None;
        }
        let mut all: Vec<ChannelPressure> = b.cores.values().flatten().cloned().collect();
        all.sort_by(|x, y| y.backpressure_ratio.total_cmp(&x.backpressure_ratio));
        all.truncate(CHANNELS_REPORTED_MAX);
        Some((b.job, all))
    }
}

/// Samples the sending channels of `links` (by peer subtask) every
/// [`SAMPLE_INTERVAL_MS`] on the current executor, until every link is
/// gone (the share ended).
pub(crate) fn spawn_sampler(
    board: std::sync::Arc<PressureBoard>,
    job: u64,
    subtask: u32,
    links: Vec<(usize, Weak<Link>)>,
) {
    if links.is_empty() {
        return;
    }
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS)).await;
            let live: Vec<(usize, Rc<Link>)> = links
                .iter()
                .filter_map(|(peer, l)| l.upgrade().map(|l| (*peer, l)))
                .collect();
            if live.is_empty() {
                return;
            }
            let mut channels = Vec::new();
            for (peer, link) in &live {
                let Ok(m) = link.metrics() else {
                    continue; // Closed: its counters are gone with it.
                };
                channels.extend(m.senders.iter().map(|c| ChannelPressure {
                    subtask,
                    peer: *peer as u32,
                    channel: c.channel,
                    backpressure_ratio: c.backpressure_ratio,
                    outstanding_credit: c.outstanding_credit,
                    queued_frames: c.queued_frames as u64,
                }));
            }
            board.post(job, subtask, channels);
        }
    })
    .detach();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(subtask: u32, ratio: f64) -> ChannelPressure {
        ChannelPressure {
            subtask,
            peer: 9,
            channel: 1,
            backpressure_ratio: ratio,
            outstanding_credit: 2,
            queued_frames: 0,
        }
    }

    #[test]
    fn reports_the_current_share_most_backpressured_first_and_bounded() {
        let board = PressureBoard::default();
        assert!(board.report().is_none());
        board.start(4);
        board.post(4, 0, vec![channel(0, 0.1), channel(0, 0.9)]);
        board.post(4, 1, vec![channel(1, 0.5)]);
        board.post(3, 2, vec![channel(2, 1.0)]); // an earlier share's sampler
        let (job, channels) = board.report().unwrap_or_default();
        assert_eq!(job, 4);
        let ratios: Vec<f64> = channels.iter().map(|c| c.backpressure_ratio).collect();
        assert_eq!(ratios, [0.9, 0.5, 0.1]);
        board.post(
            4,
            0,
            (0..200).map(|i| channel(0, f64::from(i) / 200.0)).collect(),
        );
        assert_eq!(
            board.report().map(|r| r.1.len()),
            Some(CHANNELS_REPORTED_MAX)
        );
        board.start(5);
        assert!(board.report().is_none(), "a new share starts empty");
    }
}
