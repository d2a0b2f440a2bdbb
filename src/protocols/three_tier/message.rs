//! The messages of the three tiers, named as a web developer would.

use crate::sim::{Message, Op};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TierMsg {
    /// Client → app server: serve this user request.
    Request { id: u64, op: Op },
    /// App server → database: run this read or write.
    Query { id: u64, op: Op },
    /// Database → app server: the result (the value read, or the value written).
    Rows { id: u64, value: Option<String> },
    /// App server → client: the answer to the request.
    Response { id: u64, value: Option<String> },
}

impl Message for TierMsg {
    fn kind(&self) -> &'static str {
        match self {
            TierMsg::Request { .. } => "Request",
            TierMsg::Query { .. } => "Query",
            TierMsg::Rows { .. } => "Rows",
            TierMsg::Response { .. } => "Response",
        }
    }
    fn label(&self) -> String {
        match self {
            TierMsg::Request { id, op } | TierMsg::Query { id, op } => format!("#{id} {op}"),
            TierMsg::Rows { id, value } | TierMsg::Response { id, value } => {
                format!("#{id} {}", value.as_deref().unwrap_or("-"))
            }
        }
    }
}
