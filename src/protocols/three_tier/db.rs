//! The database tier: a table of keys and values. Its service model (workers, service time,
//! queue) is what the whole system waits for.

use super::{ThreeTier, TierMsg};
use crate::sim::{Ctx, NodeId, Op};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Database {
    pub table: BTreeMap<String, String>,
    /// Queries answered since the start (or the last restart).
    pub queries: u64,
}

impl Database {
    pub fn on_message(&mut self, from: NodeId, msg: TierMsg, ctx: &mut Ctx<ThreeTier>) {
        let TierMsg::Query { id, op } = msg else {
            return;
        };
        self.queries += 1;
        let value = match op {
            Op::Get { key } => {
                ctx.count("db_reads", 1);
                self.table.get(&key).cloned()
            }
            Op::Put { key, value } => {
                ctx.count("db_writes", 1);
                self.table.insert(key, value.clone());
                ctx.persist(self.table.clone());
                Some(value)
            }
            Op::Cas { key, from, to } => {
                ctx.count("db_writes", 1);
                let current = self.table.get(&key).cloned();
                if current == from {
                    self.table.insert(key, to.clone());
                    ctx.persist(self.table.clone());
                    Some(to)
                } else {
                    current
                }
            }
            Op::Request(_) => None,
        };
        ctx.send(from, TierMsg::Rows { id, value });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Command, SimTime};
    use rand::SeedableRng;

    #[test]
    fn a_query_reads_or_writes_the_table_and_answers_the_asker() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut out = Vec::new();
        let mut db = Database::default();
        let mut ctx = Ctx::new(2, 3, SimTime::ZERO, &mut rng, &mut out);
        let put = Op::Put {
            key: "k1".into(),
            value: "5".into(),
        };
        db.on_message(1, TierMsg::Query { id: 9, op: put }, &mut ctx);
        db.on_message(
            1,
            TierMsg::Query {
                id: 10,
                op: Op::Get { key: "k1".into() },
            },
            &mut ctx,
        );
        let sends: Vec<_> = out
            .iter()
            .filter_map(|c| match c {
                Command::Send { to, msg } => Some((*to, msg.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            sends,
            vec![
                (
                    1,
                    TierMsg::Rows {
                        id: 9,
                        value: Some("5".into())
                    }
                ),
                (
                    1,
                    TierMsg::Rows {
                        id: 10,
                        value: Some("5".into())
                    }
                ),
            ]
        );
        assert!(
            out.iter()
                .any(|c| matches!(c, Command::Persist(t) if t.len() == 1))
        );
    }
}
