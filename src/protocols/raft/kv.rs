//! The replicated state machine: a key-value map with get, put and compare-and-set, and the
//! client session table of §8 ("the state machine tracks the latest serial number processed
//! for each client, along with the associated response") so a retried request whose first
//! attempt was already committed is answered without being applied twice.

use super::message::{KvCommand, LogEntry};
use crate::sim::client::{ClientId, ClientReply};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvStore {
    /// The map the clients read and write.
    data: BTreeMap<String, String>,
    /// Per client: the latest operation sequence number applied and its answer. Clients have
    /// one operation outstanding at a time, so one remembered answer per client is enough.
    sessions: BTreeMap<ClientId, (u64, ClientReply)>,
}

impl KvStore {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(|s| s.as_str())
    }
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.data.iter()
    }

    /// Applies one committed entry. Returns the client's answer, or `None` for a no-op and for
    /// an operation the client has already moved past (a stale duplicate).
    pub fn apply(&mut self, entry: &LogEntry) -> Option<ClientReply> {
        if let Some(c) = entry.client
            && let Some((seq, reply)) = self.sessions.get(&c.client)
        {
            if c.seq == *seq {
                return Some(reply.clone()); // a retry of an applied operation: same answer
            }
            if c.seq < *seq {
                return None;
            }
        }
        let reply = match &*entry.command {
            KvCommand::Noop => return None,
            KvCommand::Get { key } => ClientReply::Ok {
                value: self.data.get(key).cloned(),
            },
            KvCommand::Put { key, value } => ClientReply::Ok {
                value: self.data.insert(key.clone(), value.clone()),
            },
            KvCommand::Cas { key, from, to } => {
                let current = self.data.get(key);
                if current == from.as_ref() {
                    let previous = self.data.insert(key.clone(), to.clone());
                    ClientReply::Ok { value: previous }
                } else {
                    ClientReply::CompareFailed {
                        current: current.cloned(),
                    }
                }
            }
        };
        if let Some(c) = entry.client {
            self.sessions.insert(c.client, (c.seq, reply.clone()));
        }
        Some(reply)
    }
}
