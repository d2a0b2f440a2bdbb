//! Exchange Routing: the exchange puts a copy of each published message in every queue whose
//! binding matches the message's routing key, and in no other. AMQP 0-9-1 Model Explained
//! (<https://www.rabbitmq.com/tutorials/amqp-concepts>): a direct exchange delivers to the
//! queue "whose binding key exactly matches the routing key", a fanout exchange "routes
//! messages to all of the queues that are bound to it", and a topic exchange matches the key
//! against each binding pattern, `*` standing for exactly one word and `#` for zero or more
//! (RabbitMQ tutorial 5, Topics).
//!
//! After each broker event the checker reads the exchange's last routing decision (the
//! broker's `routed` record) and compares its queues with the ones the bindings give, computed
//! here with the rule itself. A broker that treats `#` as `*` (`bug_topic_hash`) leaves
//! `orders.new.eu` out of the queue bound with `orders.#`, and the checker names the message,
//! its key and the queue it missed.

use crate::protocols::queue::{Part, Queue, QueueConfig, Routed};
use crate::sim::{Failure, Invariant, World};

pub struct ExchangeRouting {
    cfg: QueueConfig,
    /// The last decision checked (a broker restart starts its count again).
    last: Option<Routed>,
}

impl ExchangeRouting {
    pub fn new(cfg: &QueueConfig) -> Self {
        ExchangeRouting {
            cfg: cfg.clone(),
            last: None,
        }
    }

    fn names(&self, qs: &[usize]) -> String {
        if qs.is_empty() {
            return "no queue".into();
        }
        qs.iter()
            .map(|&q| format!("`{}`", self.cfg.queue_name(q)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Invariant<Queue> for ExchangeRouting {
    fn name(&self) -> &'static str {
        "Exchange Routing"
    }
    fn statement(&self) -> &'static str {
        "every published message is queued in every queue whose binding matches its routing key, and in no other"
    }
    fn check(&mut self, w: &World<Queue>) -> Result<(), Failure> {
        for n in w.changed() {
            let Some(Queue {
                part: Part::Broker(b),
                ..
            }) = &w.states[n]
            else {
                continue;
            };
            let Some(r) = &b.routed else { continue };
            if self.last.as_ref() == Some(r) {
                continue;
            }
            self.last = Some(r.clone());
            let want = self.cfg.bound_queues(&r.key);
            if r.queues != want {
                let missed: Vec<usize> = want
                    .iter()
                    .copied()
                    .filter(|q| !r.queues.contains(q))
                    .collect();
                let extra: Vec<usize> = r
                    .queues
                    .iter()
                    .copied()
                    .filter(|q| !want.contains(q))
                    .collect();
                let mut why = Vec::new();
                if !missed.is_empty() {
                    why.push(format!(
                        "missed {} (bound to match it)",
                        self.names(&missed)
                    ));
                }
                if !extra.is_empty() {
                    why.push(format!(
                        "also put it in {} (not bound to match it)",
                        self.names(&extra)
                    ));
                }
                return Err(Failure::new(
                    format!(
                        "m{} with routing key `{}` was queued in {}; the {:?} exchange {}",
                        r.id,
                        r.key,
                        self.names(&r.queues),
                        self.cfg.exchange,
                        why.join(" and ")
                    ),
                    vec![n],
                ));
            }
        }
        Ok(())
    }
}
