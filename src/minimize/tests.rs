use super::*;

#[test]
fn ddmin_finds_a_one_minimal_subset_and_keeps_the_order() {
    let items: Vec<u32> = (0..20).collect();
    let mut calls = 0;
    let small = ddmin(items, |c| {
        calls += 1;
        c.contains(&3) && c.contains(&7) && c.contains(&15)
    });
    assert_eq!(small, vec![3, 7, 15]);
    assert!(calls < 100, "{calls} tests");
}

#[test]
fn ddmin_returns_nothing_when_nothing_is_needed() {
    assert_eq!(ddmin(vec![1, 2, 3], |_| true), Vec::<i32>::new());
}

#[test]
fn ddmin_handles_a_property_of_pairs() {
    // Fails when a 5 comes before a 2 (an order-dependent property).
    let items = vec![5, 1, 4, 2, 9, 2, 5];
    let before = |c: &[i32]| {
        let first5 = c.iter().position(|&x| x == 5);
        let last2 = c.iter().rposition(|&x| x == 2);
        matches!((first5, last2), (Some(a), Some(b)) if a < b)
    };
    let small = ddmin(items, before);
    assert_eq!(small, vec![5, 2]);
}

/// The Raft bug sweep for `forget_vote_on_restart`: minimize its violating seed, then check
/// the result independently: it violates the same invariant as written, and removing any one
/// of its faults makes the violation go away (1-minimal).
#[test]
fn a_raft_counterexample_shrinks_to_a_few_faults_each_of_them_needed() {
    let file = "scenarios/raft/sweeps/forget-vote.ron";
    let text = crate::bundled::get(file).unwrap();
    let m = minimize(text, file, 2).unwrap().expect("seed 2 violates");
    assert_eq!(m.invariant, "Election Safety");
    assert!(
        m.faults_after >= 1 && m.faults_after < m.faults_before,
        "{m:?}"
    );
    assert!(m.events_after <= m.events_before);
    assert!(m.duration_after <= m.duration_before);
    let l = registry::load(&m.scenario, file, &RunOptions::default()).unwrap();
    let faults: Vec<(SimTime, Action)> = l
        .info
        .timeline
        .iter()
        .filter(|(_, a)| is_fault(a))
        .cloned()
        .collect();
    assert_eq!(faults.len(), m.faults_after);
    let captions = l
        .info
        .timeline
        .iter()
        .filter(|(_, a)| matches!(a, Action::Caption(c) if c.starts_with("Fault ")))
        .count();
    assert_eq!(captions, m.faults_after, "a caption per fault");
    let violated = |scenario: &str| matches!(first_violation(scenario, file, m.seed), Ok(Some((i, _, _))) if i == m.invariant);
    assert!(violated(&m.scenario));
    for k in 0..faults.len() {
        let mut fewer = faults.clone();
        let (_, gone) = fewer.remove(k);
        let r = Rewrite {
            seed: m.seed,
            duration: m.horizon,
            timeline: fewer,
            workload: m.workload_kept,
            expect_violation: None,
            captions: Vec::new(),
        };
        let t = registry::rewrite(&m.scenario, file, &r).unwrap();
        assert!(!violated(&t), "fault {k} ({gone}) was not needed");
    }
}

#[test]
fn a_seed_that_holds_has_nothing_to_minimize() {
    let file = "scenarios/raft/chaos.ron";
    let text = crate::bundled::get(file).unwrap();
    assert!(minimize(text, file, 0).unwrap().is_none());
}
