//! The replicated key-value state machine shared by Multi-Paxos and ZAB (the same get/put/cas
//! workload as Raft), with per-client sessions so a retried operation takes effect once.

use crate::sim::client::{ClientId, ClientReply, Op};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use xxhash_rust::xxh3::Xxh3;

/// One client operation as it travels through the log: who asked, which of their operations,
/// and what to do. `(client, seq)` identifies the operation across retries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientOp {
    pub client: ClientId,
    pub seq: u64,
    pub op: Op,
}

impl std::fmt::Display for ClientOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.op)
    }
}

/// The state machine: the data, and each client's last applied operation with its reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KvStore {
    pub data: BTreeMap<String, String>,
    /// Last applied `seq` per client and its reply: a retried operation is answered from here
    /// instead of being applied twice.
    pub sessions: BTreeMap<ClientId, (u64, ClientReply)>,
    /// Number of commands applied (no-ops included).
    pub applied: u64,
    /// A hash chain over every applied command, so two nodes that applied the same number of
    /// commands can be compared in O(1) (State Machine Safety).
    pub chain: u64,
}

impl KvStore {
    /// Applies one log command (`None` is a no-op) and returns the reply for its client.
    pub fn apply(&mut self, cmd: Option<&ClientOp>) -> Option<ClientReply> {
        self.applied += 1;
        let mut h = Xxh3::new();
        self.chain.hash(&mut h);
        cmd.hash(&mut h);
        self.chain = h.finish();
        let c = cmd?;
        if let Some((seq, reply)) = self.sessions.get(&c.client)
            && *seq >= c.seq
        {
            return Some(reply.clone()); // a duplicate: already applied once
        }
        let reply = match &c.op {
            Op::Get { key } => ClientReply::Ok {
                value: self.data.get(key).cloned(),
            },
            Op::Put { key, value } => ClientReply::Ok {
                value: self.data.insert(key.clone(), value.clone()),
            },
            Op::Cas { key, from, to } => {
                let current = self.data.get(key);
                if current == from.as_ref() {
                    let prev = self.data.insert(key.clone(), to.clone());
                    ClientReply::Ok { value: prev }
                } else {
                    ClientReply::CompareFailed {
                        current: current.cloned(),
                    }
                }
            }
            Op::Request(_) => ClientReply::Fail {
                reason: "a key-value store takes get, put and cas".into(),
            },
        };
        self.sessions.insert(c.client, (c.seq, reply.clone()));
        Some(reply)
    }

    /// The reply already given to this operation, if it was applied.
    pub fn answered(&self, client: ClientId, seq: u64) -> Option<&ClientReply> {
        match self.sessions.get(&client) {
            Some((s, reply)) if *s == seq => Some(reply),
            _ => None,
        }
    }
}
