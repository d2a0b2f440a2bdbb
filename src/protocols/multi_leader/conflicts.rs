//! Conflict handling: what a replica keeps when a write from another leader arrives
//! (Kleppmann, DDIA ch. 5, "Handling Write Conflicts"; Parker et al. 1983 for version
//! vectors). Both rules are idempotent and commutative, so replicas that have applied the same
//! writes hold the same values whatever the order they arrived in (convergence).

use super::config::Conflicts;
use crate::protocols::storage::Version;

/// One value of a key, with what orders it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sibling {
    pub value: String,
    /// Last-writer-wins stamp: the writer's clock in microseconds, then a per-write tiebreak.
    pub stamp: Version,
    /// Version vector (`VersionVectors` only): writes seen from each leader.
    pub vv: Vec<u64>,
}

/// `a` has seen everything `b` has.
pub fn dominates(a: &[u64], b: &[u64]) -> bool {
    (0..a.len().max(b.len()))
        .all(|i| a.get(i).copied().unwrap_or(0) >= b.get(i).copied().unwrap_or(0))
}

/// What applying a remote write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// It replaced what was there (or the key was new).
    Replaced,
    /// Already here (the same stamp, or a vector some local value dominates).
    Duplicate,
    /// Last-writer-wins: a local value has a higher stamp; the incoming write is discarded.
    Discarded,
    /// Version vectors: concurrent with a local value; kept next to it as a sibling.
    Sibling,
}

/// Applies `incoming` to the values `mine` of a key under the rule `conflicts`.
pub fn apply(conflicts: Conflicts, mine: &mut Vec<Sibling>, incoming: Sibling) -> Applied {
    match conflicts {
        // "attach a timestamp to each write, pick the biggest timestamp as the most 'recent,'
        // and discard any writes with an earlier timestamp" (DDIA ch. 5).
        Conflicts::LastWriterWins => match mine.first() {
            Some(s) if s.stamp > incoming.stamp => Applied::Discarded,
            Some(s) if s.stamp == incoming.stamp => Applied::Duplicate,
            _ => {
                *mine = vec![incoming];
                Applied::Replaced
            }
        },
        // Keep every value no other value has seen: the maximal vectors.
        Conflicts::VersionVectors => {
            if mine.iter().any(|s| dominates(&s.vv, &incoming.vv)) {
                return Applied::Duplicate;
            }
            mine.retain(|s| !dominates(&incoming.vv, &s.vv));
            let concurrent = !mine.is_empty();
            mine.push(incoming);
            if concurrent {
                Applied::Sibling
            } else {
                Applied::Replaced
            }
        }
    }
}

/// The values of a key in an order that does not depend on arrival, to compare replicas.
pub fn canonical(values: &[Sibling]) -> Vec<&Sibling> {
    let mut v: Vec<&Sibling> = values.iter().collect();
    v.sort_by(|a, b| (&a.vv, a.stamp, &a.value).cmp(&(&b.vv, b.stamp, &b.value)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: &str, stamp: u64, vv: &[u64]) -> Sibling {
        Sibling {
            value: value.into(),
            stamp: Version::new(stamp, 1),
            vv: vv.to_vec(),
        }
    }

    #[test]
    fn a_version_vector_dominates_another_when_it_has_seen_everything_it_has() {
        assert!(dominates(&[2, 1], &[1, 1]));
        assert!(dominates(&[1, 1], &[1, 1]));
        assert!(!dominates(&[2, 0], &[1, 1]));
        assert!(!dominates(&[1, 1], &[2, 0]));
        assert!(dominates(&[1, 0, 3], &[1]));
    }

    #[test]
    fn both_rules_reach_the_same_values_whatever_the_order_of_arrival() {
        let writes = [
            s("a", 5, &[1, 0, 0]),
            s("b", 7, &[0, 1, 0]),
            s("c", 6, &[2, 1, 0]),
            s("d", 3, &[0, 0, 1]),
        ];
        for rule in [Conflicts::LastWriterWins, Conflicts::VersionVectors] {
            let mut forward = Vec::new();
            for w in &writes {
                apply(rule, &mut forward, w.clone());
            }
            let mut backward = Vec::new();
            for w in writes.iter().rev().chain(writes.iter()) {
                apply(rule, &mut backward, w.clone());
            }
            assert_eq!(canonical(&forward), canonical(&backward), "{rule:?}");
        }
    }

    #[test]
    fn last_writer_wins_discards_a_lower_stamp_and_ignores_the_same_one() {
        let mut mine = vec![s("a", 5, &[])];
        assert_eq!(
            apply(Conflicts::LastWriterWins, &mut mine, s("b", 4, &[])),
            Applied::Discarded
        );
        assert_eq!(
            apply(Conflicts::LastWriterWins, &mut mine, s("a", 5, &[])),
            Applied::Duplicate
        );
        assert_eq!(mine, vec![s("a", 5, &[])]);
    }
}
