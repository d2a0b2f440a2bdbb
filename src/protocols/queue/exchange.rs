//! Exchanges and bindings, after AMQP 0-9-1 as RabbitMQ implements it ("AMQP 0-9-1 Model
//! Explained", <https://www.rabbitmq.com/tutorials/amqp-concepts>, and the tutorials
//! "Publish/Subscribe", "Routing" and "Topics").
//!
//! A producer publishes to the exchange with a routing key; the exchange puts a copy of the
//! message in every queue whose binding matches the key, and in no other:
//!
//! | exchange | a queue bound with `b` gets a message with key `k` when |
//! |---|---|
//! | `Direct` | `b == k` |
//! | `Fanout` | always (the binding is ignored): publish/subscribe |
//! | `Topic` | `b` matches `k` word by word (words split on `.`), `*` standing for exactly one word and `#` for zero or more |
//!
//! A message that matches no binding is unroutable and dropped (RabbitMQ without the
//! `mandatory` flag); it is still confirmed. Without `queues` the broker has one queue and
//! every message goes to it: the default exchange, where the routing key is the queue's name.
//!
//! ```text
//!                         ┌─ binding "orders.*.eu" ─► queue eu     ─► consumer1
//!   Publish(key) ─► exchange ─ binding "orders.#" ──► queue orders ─► consumer2
//!                         └─ binding "#" ───────────► queue audit  ─► consumer3
//! ```

use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

/// How the exchange matches routing keys against bindings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Exchange {
    /// A queue gets the messages whose routing key equals one of its binding keys.
    #[default]
    Direct,
    /// Every bound queue gets a copy of every message (publish/subscribe).
    Fanout,
    /// Binding patterns over dot-separated words: `*` is one word, `#` zero or more.
    Topic,
}

/// One queue bound to the exchange: `(name: "eu", bindings: ["orders.*.eu"])`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSpec {
    /// The queue's name, shown in notes and explanations.
    pub name: String,
    /// Its binding keys (patterns for a topic exchange; ignored by a fanout exchange).
    pub bindings: Vec<String>,
}

/// A routing key as carried by a `Publish`. Hashed only when not empty, so a publish to the
/// default exchange (no key) hashes as it did before exchanges existed and the golden digests
/// of those scenarios stay the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoutingKey(pub String);

impl Hash for RoutingKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if !self.0.is_empty() {
            self.0.hash(state);
        }
    }
}

/// Whether topic pattern `pattern` matches routing key `key`. `bug_hash` makes `#` match
/// exactly one word, like `*` (the `bug_topic_hash` variant).
pub fn topic_matches(pattern: &str, key: &str, bug_hash: bool) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    words_match(&p, &k, bug_hash)
}

fn words_match(p: &[&str], k: &[&str], bug_hash: bool) -> bool {
    match p.split_first() {
        None => k.is_empty(),
        Some((&"#", rest)) if !bug_hash => (0..=k.len()).any(|i| words_match(rest, &k[i..], false)),
        Some((&w, rest)) if w == "*" || w == "#" => {
            !k.is_empty() && words_match(rest, &k[1..], bug_hash)
        }
        Some((&w, rest)) => k.first() == Some(&w) && words_match(rest, &k[1..], bug_hash),
    }
}

/// The queues (indexes into `queues`) that get a message published with `key`, in order.
/// Without queues, the one default queue (index 0) gets every message.
pub fn route(exchange: Exchange, queues: &[QueueSpec], key: &str, bug_hash: bool) -> Vec<usize> {
    if queues.is_empty() {
        return vec![0];
    }
    (0..queues.len())
        .filter(|&q| {
            let b = &queues[q].bindings;
            match exchange {
                Exchange::Direct => b.iter().any(|b| b == key),
                Exchange::Fanout => true,
                Exchange::Topic => b.iter().any(|b| topic_matches(b, key, bug_hash)),
            }
        })
        .collect()
}

/// The routing key a producer gives message `id`: one of `keys`, picked by a hash of the id
/// (SplitMix64's finaliser), so every observer can tell a message's key from its id. Empty
/// when there are no keys (the default exchange).
pub fn key_of(keys: &[String], id: u64) -> &str {
    if keys.is_empty() {
        return "";
    }
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    &keys[(z % keys.len() as u64) as usize]
}

/// Checks a binding or routing key: dot-separated non-empty words; in a pattern, `*` and `#`
/// only as whole words.
pub fn check_words(what: &str, s: &str, pattern: bool) -> Result<(), String> {
    for w in s.split('.') {
        if w.is_empty() {
            return Err(format!(
                "{what} `{s}`: expected dot-separated non-empty words (like `orders.new.eu`)"
            ));
        }
        let wild = w.contains('*') || w.contains('#');
        if wild && !pattern {
            return Err(format!(
                "{what} `{s}`: a routing key has no wildcards (`*` and `#` belong in bindings)"
            ));
        }
        if wild && w != "*" && w != "#" {
            return Err(format!(
                "{what} `{s}`: `*` and `#` must be whole words (`orders.*.eu`, not `orders.e*`)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str, bindings: &[&str]) -> QueueSpec {
        QueueSpec {
            name: name.into(),
            bindings: bindings.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rule_star_substitutes_for_exactly_one_word_and_hash_for_zero_or_more() {
        // "* (star) can substitute for exactly one word. # (hash) can substitute for zero or
        // more words." (RabbitMQ tutorial 5, Topics)
        assert!(topic_matches("orders.*.eu", "orders.new.eu", false));
        assert!(!topic_matches("orders.*.eu", "orders.eu", false));
        assert!(!topic_matches("orders.*.eu", "orders.new.big.eu", false));
        assert!(topic_matches("orders.#", "orders", false));
        assert!(topic_matches("orders.#", "orders.new.eu", false));
        assert!(topic_matches("#.eu", "orders.paid.eu", false));
        assert!(topic_matches("#", "payments.us", false));
        assert!(!topic_matches("orders.#", "payments.eu", false));
        assert!(topic_matches("a.#.z", "a.z", false));
        assert!(topic_matches("a.#.z", "a.b.c.z", false));
    }

    #[test]
    fn bug_topic_hash_makes_hash_match_exactly_one_word() {
        assert!(topic_matches("orders.#", "orders.new", true));
        assert!(!topic_matches("orders.#", "orders.new.eu", true));
        assert!(!topic_matches("orders.#", "orders", true));
        assert!(topic_matches("orders.*.eu", "orders.new.eu", true));
    }

    #[test]
    fn rule_each_exchange_type_routes_to_the_queues_whose_binding_matches() {
        let qs = [
            q("eu", &["orders.*.eu"]),
            q("orders", &["orders.#"]),
            q("new", &["orders.new.eu"]),
        ];
        // "A direct exchange delivers messages to queues based on the message routing key":
        // an exact match.
        assert_eq!(route(Exchange::Direct, &qs, "orders.new.eu", false), [2]);
        // "A fanout exchange routes messages to all of the queues that are bound to it and the
        // routing key is ignored."
        assert_eq!(route(Exchange::Fanout, &qs, "x", false), [0, 1, 2]);
        assert_eq!(
            route(Exchange::Topic, &qs, "orders.new.eu", false),
            [0, 1, 2]
        );
        assert_eq!(route(Exchange::Topic, &qs, "orders.paid.us", false), [1]);
        assert_eq!(
            route(Exchange::Topic, &qs, "payments.eu", false),
            [] as [usize; 0]
        );
        assert_eq!(route(Exchange::Topic, &[], "anything", false), [0]);
    }

    #[test]
    fn keys_are_a_function_of_the_id_and_spread_over_the_list() {
        let keys: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let mut seen = [0; 3];
        for id in 0..300 {
            let k = key_of(&keys, id);
            assert_eq!(k, key_of(&keys, id));
            seen[keys.iter().position(|x| x == k).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&n| n > 60), "{seen:?}");
        assert_eq!(key_of(&[], 5), "");
    }

    #[test]
    fn malformed_keys_and_patterns_are_refused_with_what_was_expected() {
        assert!(check_words("binding", "orders.*.eu", true).is_ok());
        assert!(check_words("binding", "orders..eu", true).is_err());
        let e = check_words("routing key", "orders.*", false).unwrap_err();
        assert!(e.contains("no wildcards"), "{e}");
        let e = check_words("binding", "orders.e*", true).unwrap_err();
        assert!(e.contains("whole words"), "{e}");
    }
}
