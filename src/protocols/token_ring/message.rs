//! The token ring's messages and timers: the token with its generation, position and
//! members, its ack, the regeneration handshake (`Regenerate` / `Promise` / `Here`), `Stale`
//! and `Join`.

use crate::sim::Message;

/// The token. `position % n` is the node it is addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    /// Bumped by each regeneration; older generations are refused once a majority promised.
    pub generation: u64,
    /// Absolute ring position: grows by one per ring slot, slots of non-members included.
    pub position: u64,
    /// The position the generation was created at: laps are counted from there.
    pub origin: u64,
    /// Nodes that accepted this token during its previous full rotation.
    pub visited_prev: u32,
    /// Nodes that accepted it so far in the current rotation.
    pub visited_cur: u32,
    /// The ring, one bit per node: the token is passed only to members.
    pub members: u128,
}

impl Token {
    /// The token as sent to ring position `to`: rotation counters roll over at each lap.
    pub fn advanced(self, to: u64, nodes: usize) -> Token {
        let n = nodes as u64;
        let laps = (to - self.origin) / n - (self.position - self.origin) / n;
        let (visited_prev, visited_cur) = match laps {
            0 => (self.visited_prev, self.visited_cur),
            1 => (self.visited_cur, 0),
            _ => (0, 0),
        };
        Token {
            position: to,
            visited_prev,
            visited_cur,
            ..self
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenMsg {
    Token(Token),
    /// The receiver took the token at this (generation, position).
    TokenAck {
        generation: u64,
        position: u64,
    },
    /// The receiver refused a token older than the generation it promised (to a candidacy
    /// that may have failed): the holder renumbers its token above it.
    Stale {
        position: u64,
        promised: u64,
    },
    /// A candidate asks for promises for a new generation.
    Regenerate {
        generation: u64,
    },
    /// The sender will refuse tokens older than `generation`.
    Promise {
        generation: u64,
    },
    /// The sender is alive but makes no promise for `generation` (it saw the token lately, or
    /// promised as much already): a candidate that wins still puts it in the new ring.
    Here {
        generation: u64,
    },
    /// The sender has not had the token for a whole rotation (restarted, healed, or left out of
    /// a regenerated ring): the next holder adds it to the ring.
    Join,
}

impl Message for TokenMsg {
    fn kind(&self) -> &'static str {
        match self {
            TokenMsg::Token(_) => "Token",
            TokenMsg::TokenAck { .. } => "TokenAck",
            TokenMsg::Stale { .. } => "Stale",
            TokenMsg::Regenerate { .. } => "Regenerate",
            TokenMsg::Promise { .. } => "Promise",
            TokenMsg::Here { .. } => "Here",
            TokenMsg::Join => "Join",
        }
    }
    fn label(&self) -> String {
        match self {
            TokenMsg::Token(t) => format!(
                "token g{} @{} (last lap {} nodes)",
                t.generation, t.position, t.visited_prev
            ),
            TokenMsg::TokenAck {
                generation,
                position,
            } => format!("ack g{generation} @{position}"),
            TokenMsg::Stale { position, promised } => {
                format!("stale @{position}: promised g{promised}")
            }
            TokenMsg::Regenerate { generation } => format!("regenerate g{generation}?"),
            TokenMsg::Promise { generation } => format!("promise g{generation}"),
            TokenMsg::Here { generation } => format!("here, no promise for g{generation}"),
            TokenMsg::Join => "join the ring".to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RingTimer {
    /// End of the hold or of the critical section: pass the token on.
    Pass,
    /// No `TokenAck` yet: resend or give up.
    Ack,
    /// Token-loss detection.
    Loss,
    /// A candidacy that did not gather a majority in time.
    Election,
    /// The end of a candidacy's gathering: every live node reachable has answered by now.
    Gather,
    /// No token for a whole rotation: announce this node with `Join`.
    Join,
}
