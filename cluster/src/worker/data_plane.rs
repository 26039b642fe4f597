//! Establishing one core's data links for a job: bind a listener, report
//! its address, wait for every subtask's address, then dial the cores of
//! higher subtasks and accept those of lower ones. Dialing only upwards
//! makes the order deadlock-free: the highest subtask dials nobody.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;

use spate::SpateError;
use spate::distributed::{LinkSetup, RemoteLinks};
use spate_net::{Endpoint, Hello, Link, LinkListener, NetConfig, SessionFence};

use super::links::NetLinks;
use super::pressure::{PressureBoard, spawn_sampler};
use super::rendezvous::Rendezvous;
use crate::protocol::SubtaskSlot;

/// What every core of one deployment shares.
#[derive(Clone)]
pub(crate) struct DataPlane {
    pub(crate) worker: u32,
    pub(crate) epoch: u64,
    pub(crate) job: u64,
    pub(crate) subtask_offset: usize,
    pub(crate) host: IpAddr,
    pub(crate) net: NetConfig,
    pub(crate) buffers_per_channel: u32,
    pub(crate) rendezvous: Arc<Rendezvous>,
    pub(crate) pressure: Arc<PressureBoard>,
}

impl DataPlane {
    /// The engine's per-core link setup for this deployment.
    pub(crate) fn link_setup(self) -> LinkSetup {
        Arc::new(move |subtask| {
            let plane = self.clone();
            Box::pin(async move {
                plane
                    .establish(subtask)
                    .await
                    .map(|l| Rc::new(l) as Rc<dyn RemoteLinks>)
            })
        })
    }

    async fn establish(&self, subtask: usize) -> Result<NetLinks, SpateError> {
        let core = subtask.saturating_sub(self.subtask_offset);
        let fail = |reason: String| SpateError::Runtime {
            core: subtask,
            reason,
        };
        let local = Endpoint {
            worker: self.worker,
            core: core as u16,
        };
        let fence = SessionFence {
            local,
            session: self.job,
            epoch_min: 0,
        };
        let listener = LinkListener::bind(SocketAddr::new(self.host, 0), local, &self.net, fence)
            .map_err(|e| fail(format!("cannot open the data listener: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| fail(format!("the data listener has no address: {e}")))?;
        self.rendezvous.report(core, addr.to_string());
        // Blocks this executor, which runs nothing else before its links exist.
        let slots = self
            .rendezvous
            .wait_slots()
            .map_err(|e| fail(e.to_string()))?;
        let links = self.connect_all(subtask, &slots, &listener).await?;
        let sampled = links.iter().map(|(p, l)| (*p, Rc::downgrade(l))).collect();
        spawn_sampler(self.pressure.clone(), self.job, subtask as u32, sampled);
        Ok(NetLinks {
            links: std::cell::RefCell::new(links),
            buffers_per_channel: self.buffers_per_channel,
            payload_bytes_max: self.net.data_payload_max(),
        })
    }

    async fn connect_all(
        &self,
        me: usize,
        slots: &[SubtaskSlot],
        listener: &LinkListener,
    ) -> Result<HashMap<usize, Rc<Link>>, SpateError> {
        let fail = |reason: String| SpateError::Runtime { core: me, reason };
        let remote = |s: &SubtaskSlot| s.worker != self.worker;
        let mut links = HashMap::new();
        for (peer, slot) in slots
            .iter()
            .enumerate()
            .skip(me + 1)
            .filter(|(_, s)| remote(s))
        {
            let addr: SocketAddr = slot.addr.parse().map_err(|e| {
                fail(format!(
                    "subtask {peer}'s address `{}` is invalid: {e}",
                    slot.addr
                ))
            })?;
            let hello = Hello {
                from: Endpoint {
                    worker: self.worker,
                    core: me.saturating_sub(self.subtask_offset) as u16,
                },
                to: Endpoint {
                    worker: slot.worker,
                    core: slot.core,
                },
                epoch: self.epoch,
                session: self.job,
            };
            let link = Link::connect_with_pool(addr, hello, &self.net, listener.pool().clone())
                .await
                .map_err(|e| fail(format!("cannot link to subtask {peer}: {e}")))?;
            links.insert(peer, Rc::new(link));
        }
        let lower = slots.iter().take(me).filter(|s| remote(s)).count();
        for _ in 0..lower {
            let (link, hello) = listener
                .accept()
                .await
                .map_err(|e| fail(format!("accepting a data link failed: {e}")))?;
            let peer = slots
                .iter()
                .position(|s| {
                    s.worker == hello.from.worker
                        && usize::from(s.core) == usize::from(hello.from.core)
                })
                .filter(|&p| p < me)
                .ok_or_else(|| {
                    fail(format!(
                        "an unexpected peer ({}) linked to this core",
                        hello.from
                    ))
                })?;
            if links.insert(peer, Rc::new(link)).is_some() {
                return Err(fail(format!("subtask {peer} linked twice")));
            }
        }
        Ok(links)
    }
}
