//! Published Once: with deduplication on, a message published again (a retry with the same
//! `Nats-Msg-Id`) within the duplicate window is stored only once, and every acknowledged
//! publish names the sequence that holds its id. NATS: "JetStream support idempotent message
//! writes by ignoring duplicate messages as indicated by the Nats-Msg-Id header"
//! (<https://docs.nats.io/using-nats/developer/develop_jetstream/model_deep_dive>).
//!
//! Stated on the broker's disk: when a message is appended whose id was stored less than
//! `duplicate_window` before, the id is stored twice within the window. A broker that
//! ignores the id (`bug_no_dedup`) does that on the first retry after a lost `PubAck`. A
//! retry after the window is allowed (the window's limit) and only counted.

use crate::protocols::queue::MsgId;
use crate::protocols::queue::invariants::Names;
use crate::protocols::stream::{Part, Seq, Stream};
use crate::sim::{Failure, Invariant, NodeId, SimTime, World};
use std::collections::BTreeMap;

pub struct PublishedOnce {
    names: Names,
    window: SimTime,
    broker: Option<NodeId>,
    /// How much of the stream has been read.
    stream_read: usize,
    /// The latest store of each id: (sequence, time).
    latest: BTreeMap<MsgId, (Seq, SimTime)>,
    /// Per node: how much of its acknowledged log has been read.
    acked_read: Vec<usize>,
}

impl PublishedOnce {
    pub fn new(nodes: usize, window: SimTime) -> Self {
        PublishedOnce {
            names: Names::new(nodes),
            window,
            broker: None,
            stream_read: 0,
            latest: BTreeMap::new(),
            acked_read: vec![0; nodes],
        }
    }
}

impl Invariant<Stream> for PublishedOnce {
    fn name(&self) -> &'static str {
        "Published Once"
    }
    fn statement(&self) -> &'static str {
        "a message id published again within the duplicate window is stored once, and every \
         acknowledged publish names the sequence that holds its id"
    }
    fn check(&mut self, w: &World<Stream>) -> Result<(), Failure> {
        self.names.learn(w);
        for n in w.changed() {
            if let Some(Stream {
                part: Part::Broker(_),
                ..
            }) = &w.states[n]
            {
                self.broker = Some(n);
            }
        }
        let Some(b) = self.broker else {
            return Ok(());
        };
        let stream = &w.durable[b].disk.messages;
        for m in &stream[self.stream_read.min(stream.len())..] {
            if let Some(&(first, at)) = self.latest.get(&m.msg_id)
                && m.stored_at.saturating_sub(at) < self.window
            {
                return Err(Failure::new(
                    format!(
                        "m{} is stored twice on {}: as s{first} at {at} and again as s{} at {}, \
                         within the duplicate window of {}",
                        m.msg_id,
                        self.names.of(b),
                        m.seq,
                        m.stored_at,
                        self.window
                    ),
                    vec![b],
                ));
            }
            self.latest.insert(m.msg_id, (m.seq, m.stored_at));
        }
        self.stream_read = stream.len();
        for n in w.changed() {
            let acked = &w.durable[n].log.acked;
            for &(id, seq) in &acked[self.acked_read[n].min(acked.len())..] {
                let holds = w.durable[b].disk.get(seq).map(|m| m.msg_id);
                if holds != Some(id) {
                    let what = holds.map_or("is not in the stream".to_string(), |h| {
                        format!("holds m{h}")
                    });
                    return Err(Failure::new(
                        format!(
                            "m{id} was acknowledged to {} as s{seq}, but s{seq} {what} on {}",
                            self.names.of(n),
                            self.names.of(b)
                        ),
                        vec![n, b],
                    ));
                }
            }
            self.acked_read[n] = acked.len();
        }
        Ok(())
    }
}
