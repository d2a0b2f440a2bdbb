//! Learners agree: "a learner never learns that a value has been chosen unless it actually has
//! been", and since "only a single value is chosen" (Paxos Made Simple, 2.1), no two learners
//! ever learn different values.
//!
//! A learned value lives in volatile state and is lost in a crash, so the checker remembers the
//! first value any learner learned and compares every later one against it, crashed learners
//! included. Unlike Single Value Chosen, which counts acceptances, this looks at what the
//! learners concluded: a learner that decides on too few replies disagrees here even when the
//! acceptors never chose two values.

use crate::protocols::paxos::Paxos;
use crate::sim::{Failure, Invariant, NodeId, World};

#[derive(Default)]
pub struct LearnerAgreement {
    /// The first value learned by anyone, and by whom.
    first: Option<(String, NodeId)>,
}

impl Invariant<Paxos> for LearnerAgreement {
    fn name(&self) -> &'static str {
        "Learner Agreement"
    }
    fn statement(&self) -> &'static str {
        "No two learners learn different values."
    }
    fn check(&mut self, w: &World<Paxos>) -> Result<(), Failure> {
        for n in w.changed() {
            let Some(Some(v)) = w.states[n].as_ref().map(|s| s.learned.as_ref()) else {
                continue;
            };
            match &self.first {
                None => self.first = Some((v.clone(), n)),
                Some((first, by)) if first != v => {
                    return Err(Failure::new(
                        format!("n{} learned {first}, n{} learned {v}", by + 1, n + 1),
                        vec![*by, n],
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::paxos::invariants::test_world::{Cluster, learned};

    #[test]
    fn two_learners_with_the_same_value_pass() {
        let mut c = Cluster::new(3);
        let mut inv = LearnerAgreement::default();
        learned(&mut c, 0, "apple");
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        learned(&mut c, 2, "apple");
        assert_eq!(c.check(&mut inv, Some(2)), Ok(()));
    }

    #[test]
    fn a_second_value_fails_even_after_the_first_learner_crashed() {
        let mut c = Cluster::new(3);
        let mut inv = LearnerAgreement::default();
        learned(&mut c, 0, "apple");
        assert_eq!(c.check(&mut inv, Some(0)), Ok(()));
        c.states[0] = None;
        learned(&mut c, 1, "banana");
        let f = c.check(&mut inv, Some(1)).expect_err("disagreement");
        assert_eq!(f.nodes, vec![0, 1]);
        assert!(f.explanation.contains("banana"), "{}", f.explanation);
    }
}
