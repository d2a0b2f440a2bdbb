"""Curated realistic mutants of the consensus protocols, one small textual change each.

Each entry: (name, protocol, file, old, new). `old` must occur exactly once in `file`.
"""

MUTANTS = [
    ("paxos-promise-in-memory", "paxos", "src/protocols/paxos/mod.rs",
     """        if ballot > self.durable.promised {
            self.durable.promised = ballot;
            ctx.persist(self.durable.clone());
        }
        let last_accepted""",
     """        if ballot > self.durable.promised {
            self.durable.promised = ballot;
        }
        let last_accepted"""),
    ("paxos-learn-one-short", "paxos", "src/protocols/paxos/mod.rs",
     "if by.len() < Self::majority(ctx.nodes) || self.learned.is_some() {",
     "if by.len() < Self::majority(ctx.nodes) - 1 || self.learned.is_some() {"),
    ("paxos-accept-below-promise", "paxos", "src/protocols/paxos/mod.rs",
     "if ballot < self.durable.promised && !self.cfg.accept_without_promise_check {",
     "if ballot < self.durable.promised && self.cfg.accept_without_promise_check {"),
    ("multi-paxos-promise-in-memory", "multi_paxos", "src/protocols/multi_paxos/mod.rs",
     """        if ballot > self.durable.promised {
            self.durable.promised = ballot;
            ctx.persist(self.durable.clone());
        }
        if from != ctx.id {
            self.outbid(ballot, ctx);
            if self.role == Role::Follower {""",
     """        if ballot > self.durable.promised {
            self.durable.promised = ballot;
        }
        if from != ctx.id {
            self.outbid(ballot, ctx);
            if self.role == Role::Follower {"""),
    ("multi-paxos-decide-one-short", "multi_paxos", "src/protocols/multi_paxos/mod.rs",
     "if f.acks.len() < Self::majority(ctx.nodes) {",
     "if f.acks.len() < Self::majority(ctx.nodes) - 1 {"),
    ("raft-ack-whole-log", "raft", "src/protocols/raft/replication.rs",
     """                success: true,
                match_index: last_new,""",
     """                success: true,
                match_index: self.last_log_index(),"""),
    ("raft-commit-without-last-new-bound", "raft", "src/protocols/raft/replication.rs",
     "self.commit_index = self.commit_index.max(leader_commit.min(last_new));",
     "self.commit_index = self.commit_index.max(leader_commit);"),
    ("raft-ignore-higher-term-in-response", "raft", "src/protocols/raft/replication.rs",
     """        if term > self.current_term {
            self.become_follower(term, None, ctx);
            return;
        }
        if self.role != Role::Leader || term < self.current_term {
            return; // a stale answer""",
     """        if self.role != Role::Leader || term < self.current_term {
            return; // a stale answer"""),
    ("raft-no-timer-reset-on-append", "raft", "src/protocols/raft/mod.rs",
     """        self.last_leader_contact = Some(ctx.now);
        self.reset_election_timer(ctx);""",
     """        self.last_leader_contact = Some(ctx.now);"""),
    ("raft-leader-reads-own-state", "raft", "src/protocols/raft/replication.rs",
     """        let command = match req.op {
            Op::Get { key } => KvCommand::Get { key },""",
     """        if let Op::Get { key } = &req.op {
            let value = self.kv.get(key).map(str::to_string);
            ctx.reply_to_client(req.from, ClientReply::Ok { value });
            return;
        }
        let command = match req.op {
            Op::Get { key } => KvCommand::Get { key },"""),
    ("raft-stale-term-vote-counted", "raft", "src/protocols/raft/election.rs",
     "if self.role != Role::Candidate || term < self.current_term || !vote_granted {",
     "if self.role != Role::Candidate || !vote_granted {"),
    ("zab-proposal-from-older-epoch", "zab", "src/protocols/zab/mod.rs",
     """                if epoch != self.durable.current_epoch {
                    // A proposal of an earlier epoch""",
     """                if epoch > self.durable.current_epoch {
                    // A proposal of an earlier epoch"""),
    ("zab-reack-equal-epoch-any-leader", "zab", "src/protocols/zab/mod.rs",
     "let rejoin = epoch == d.accepted_epoch && d.accepted_from == Some(from);",
     "let rejoin = epoch == d.accepted_epoch;"),
    ("zab-established-one-ack-short", "zab", "src/protocols/zab/mod.rs",
     "LeaderStage::Synchronization if l.synced.len() >= q => {",
     "LeaderStage::Synchronization if l.synced.len() + 1 >= q => {"),
]

SWEEPS = {
    "paxos": ["scenarios/paxos/chaos.ron", "scenarios/paxos/chaos-hard.ron"],
    "multi_paxos": ["scenarios/multi_paxos/chaos.ron", "scenarios/multi_paxos/chaos-hard.ron"],
    "raft": ["scenarios/raft/chaos.ron", "scenarios/raft/chaos-hard.ron",
             "scenarios/raft/stale-vote-response.ron", "scenarios/raft/stale-entries-ack.ron"],
    "zab": ["scenarios/zab/chaos.ron", "scenarios/zab/chaos-hard.ron",
            "scenarios/zab/chaos-delays.ron", "scenarios/zab/old-epoch-proposal.ron"],
}
