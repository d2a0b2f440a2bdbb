//! Leader Completeness (Figure 3): "if a log entry is committed in a given term, then that
//! entry will be present in the logs of the leaders for all higher-numbered terms" (§5.4).
//!
//! Records every entry as it becomes committed on some server, with the smallest term in which
//! a server was seen knowing it committed (the leader that commits an entry knows first, so
//! this is the term it was committed in). Then every leader of a higher term must have it.
//! A leader's log is compared with each committed entry once per term: that it keeps them
//! afterwards is Leader Append-Only's business.
//!
//! With snapshots, a committed entry that a leader has folded into its snapshot is present as
//! far as its log can say: its snapshot's last included entry must have the committed term, and
//! what the snapshot holds is checked by Snapshot State.

use super::name;
use crate::protocols::raft::{LogEntry, Raft, Role, Term};
use crate::sim::{Failure, Invariant, World};

pub struct LeaderCompleteness {
    /// Entry `i` (1-based) known committed: (entry, term it was committed in).
    committed: Vec<(LogEntry, Term)>,
    /// Per node: the commit index already learned from it.
    learned: Vec<usize>,
    /// Per node: (term, n) when its log, as leader of `term`, was found to hold the first `n`
    /// committed entries (a leader only appends, so they need not be compared again).
    verified: Vec<(Term, usize)>,
}

impl LeaderCompleteness {
    pub fn new(nodes: usize) -> Self {
        LeaderCompleteness {
            committed: Vec::new(),
            learned: vec![0; nodes],
            verified: vec![(0, 0); nodes],
        }
    }
}

impl Invariant<Raft> for LeaderCompleteness {
    fn name(&self) -> &'static str {
        "Leader Completeness"
    }
    fn statement(&self) -> &'static str {
        "if a log entry is committed in a given term, then that entry will be present in the \
         logs of the leaders for all higher-numbered terms"
    }
    fn check(&mut self, w: &World<Raft>) -> Result<(), Failure> {
        let nodes = w.changed();
        // First learn what became committed.
        for n in nodes.clone() {
            let Some(s) = &w.states[n] else { continue };
            let log = s.held_log();
            let known = (s.commit_index().min(log.last_index())) as usize;
            if known < self.learned[n] {
                self.learned[n] = 0; // restarted
            }
            // Positions `i` (entry `i + 1`) this server holds: not those in its snapshot.
            for i in self.learned[n].max(log.snapshot_index as usize)..known {
                let held = log.get(i as u64 + 1).expect("within the held log");
                if i < self.committed.len() {
                    let (entry, term) = &mut self.committed[i];
                    if entry == held && s.current_term() < *term {
                        *term = s.current_term();
                    }
                } else if i == self.committed.len() {
                    self.committed.push((held.clone(), s.current_term()));
                } else {
                    break; // entries before this server's snapshot were never seen committed
                }
            }
            self.learned[n] = known;
        }
        // Then check every live leader against it.
        for (n, s) in w.live() {
            if s.role() != Role::Leader || !nodes.contains(&n) {
                continue;
            }
            let term = s.current_term();
            let from = match self.verified[n] {
                (t, upto) if t == term => upto,
                _ => 0,
            };
            for (i, (entry, committed_in)) in self.committed.iter().enumerate().skip(from) {
                if *committed_in >= term {
                    continue;
                }
                let log = s.held_log();
                let index = i as u64 + 1;
                let present = if index < log.snapshot_index {
                    true // folded into the snapshot: see the module header
                } else if index == log.snapshot_index {
                    log.snapshot_term == entry.term
                } else {
                    log.get(index) == Some(entry)
                };
                if !present {
                    return Err(Failure::new(
                        format!(
                            "leader {} of term {term} lacks entry {} ({} of term {}), committed in term {committed_in}",
                            name(n),
                            i + 1,
                            entry.command.label(),
                            entry.term
                        ),
                        vec![n],
                    ));
                }
            }
            self.verified[n] = (term, self.committed.len());
        }
        Ok(())
    }
}
