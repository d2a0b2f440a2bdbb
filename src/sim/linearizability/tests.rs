use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn ms(t: u64) -> SimTime {
    SimTime::from_millis(t)
}

fn entry(client: u32, op: Op, span: (u64, Option<u64>), outcome: Option<Outcome>) -> HistoryEntry {
    HistoryEntry {
        client,
        seq: 0,
        op,
        invoked_at: ms(span.0),
        returned_at: span.1.map(ms),
        outcome,
        attempts: 1,
        node: Some(client as usize),
    }
}

fn put(c: u32, v: &str, from: u64, to: u64) -> HistoryEntry {
    let op = Op::Put {
        key: "x".into(),
        value: v.into(),
    };
    entry(c, op, (from, Some(to)), Some(Outcome::Ok { value: None }))
}

fn put_timed_out(c: u32, v: &str, from: u64, to: u64) -> HistoryEntry {
    let op = Op::Put {
        key: "x".into(),
        value: v.into(),
    };
    entry(c, op, (from, Some(to)), Some(Outcome::Timeout))
}

fn get(c: u32, v: Option<&str>, from: u64, to: u64) -> HistoryEntry {
    let value = v.map(str::to_string);
    let op = Op::Get { key: "x".into() };
    entry(c, op, (from, Some(to)), Some(Outcome::Ok { value }))
}

fn cas(c: u32, from_v: Option<&str>, to_v: &str, span: (u64, u64), o: Outcome) -> HistoryEntry {
    let op = Op::Cas {
        key: "x".into(),
        from: from_v.map(str::to_string),
        to: to_v.into(),
    };
    entry(c, op, (span.0, Some(span.1)), Some(o))
}

fn history(entries: Vec<HistoryEntry>) -> History {
    History { entries }
}

#[test]
fn a_sequential_history_that_reads_the_last_write_is_linearizable() {
    let h = history(vec![
        get(0, None, 0, 1),
        put(0, "1", 2, 3),
        get(1, Some("1"), 4, 5),
        put(1, "2", 6, 7),
        get(0, Some("2"), 8, 9),
    ]);
    assert_eq!(check(&h), Ok(()));
}

#[test]
fn a_stale_read_is_not_linearizable_and_the_witness_keeps_both_writes() {
    // "put 1; put 2; get -> 1", each after the other has returned.
    let h = history(vec![
        put(0, "1", 0, 1),
        put(0, "2", 2, 3),
        get(1, Some("1"), 4, 5),
        get(1, Some("2"), 6, 7),
    ]);
    let e = check(&h).unwrap_err();
    assert_eq!(e.key, "x");
    assert_eq!(e.ops, vec![0, 1, 2], "{}", e.explanation);
    assert!(e.explanation.contains("get x"), "{}", e.explanation);
}

#[test]
fn a_lost_write_is_not_linearizable() {
    // An acknowledged put that a later read does not see.
    let h = history(vec![put(0, "1", 0, 1), get(1, None, 5, 6)]);
    let e = check(&h).unwrap_err();
    assert_eq!(e.ops, vec![0, 1]);
}

#[test]
fn a_compare_and_set_on_a_stale_value_is_not_linearizable() {
    let h = history(vec![
        put(0, "1", 0, 1),
        put(0, "2", 2, 3),
        cas(1, Some("1"), "3", (4, 5), Outcome::Ok { value: None }),
    ]);
    assert!(check(&h).is_err());
}

#[test]
fn a_failed_compare_must_report_the_value_it_found() {
    let found = |v: Option<&str>| Outcome::CompareFailed {
        current: v.map(str::to_string),
    };
    let good = history(vec![
        put(0, "1", 0, 1),
        cas(1, Some("2"), "3", (2, 3), found(Some("1"))),
    ]);
    assert_eq!(check(&good), Ok(()));
    let wrong_value = history(vec![
        put(0, "1", 0, 1),
        cas(1, Some("2"), "3", (2, 3), found(None)),
    ]);
    assert!(check(&wrong_value).is_err());
    // "Failed" although the value matched: the compare would have succeeded.
    let matched = history(vec![
        put(0, "2", 0, 1),
        cas(1, Some("2"), "3", (2, 3), found(Some("2"))),
    ]);
    assert!(check(&matched).is_err());
}

#[test]
fn two_readers_that_disagree_on_the_order_of_two_writes_are_not_linearizable() {
    let h = history(vec![
        put(0, "1", 0, 10),
        put(1, "2", 0, 10),
        get(2, Some("1"), 1, 2),
        get(2, Some("2"), 3, 4),
        get(3, Some("2"), 1, 2),
        get(3, Some("1"), 3, 4),
    ]);
    assert!(check(&h).is_err());
    // One reader alone sees a legal order.
    let one = history(h.entries[..4].to_vec());
    assert_eq!(check(&one), Ok(()));
}

#[test]
fn an_indeterminate_write_may_take_effect_late_or_never() {
    let late = history(vec![
        put_timed_out(0, "1", 0, 5),
        get(1, None, 6, 7),
        get(1, Some("1"), 8, 9),
    ]);
    assert_eq!(check(&late), Ok(()));
    let never = history(vec![put_timed_out(0, "1", 0, 5), get(1, None, 6, 7)]);
    assert_eq!(check(&never), Ok(()));
    // But not before it was invoked.
    let early = history(vec![get(1, Some("1"), 0, 1), put_timed_out(0, "1", 2, 5)]);
    assert!(check(&early).is_err());
}

#[test]
fn operations_that_touch_at_one_instant_are_concurrent() {
    let h = history(vec![put(0, "1", 0, 5), get(1, None, 5, 6)]);
    assert_eq!(check(&h), Ok(()));
    let h = history(vec![put(0, "1", 0, 5), get(1, None, 6, 7)]);
    assert!(check(&h).is_err());
}

#[test]
fn keys_are_checked_independently() {
    let mut other = put(0, "1", 0, 1);
    other.op = Op::Put {
        key: "y".into(),
        value: "1".into(),
    };
    let h = history(vec![other, get(1, None, 5, 6)]);
    assert_eq!(check(&h), Ok(()));
}

#[test]
fn histories_of_a_real_register_are_linearizable_and_a_changed_read_is_caught() {
    for seed in 0..200u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut h = random_register_history(&mut rng, 60, 2, 4);
        assert_eq!(check(&h), Ok(()), "seed {seed}");
        // A read of a value nobody wrote can never be ordered.
        let read = h
            .entries
            .iter()
            .position(|e| matches!(e.op, Op::Get { .. }) && e.outcome.is_some());
        if let Some(i) = read {
            h.entries[i].outcome = Some(Outcome::Ok {
                value: Some("never written".into()),
            });
            let e = check(&h).expect_err(&format!("seed {seed}"));
            assert_eq!(
                e.ops,
                vec![i],
                "seed {seed}: {}\n{:#?}",
                e.explanation,
                &h.entries[..=i]
            );
        }
    }
}

#[test]
fn ten_thousand_operations_on_a_few_keys_are_checked() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let h = random_register_history(&mut rng, 10_000, 4, 8);
    assert_eq!(check(&h), Ok(()));
}

#[test]
fn many_timed_out_writes_nobody_read_do_not_slow_the_search() {
    // 300 overlapping timed-out puts of values no one reads, then a lost write.
    let mut entries: Vec<HistoryEntry> = (0..300)
        .map(|i| put_timed_out(i % 8, &format!("t{i}"), i as u64, 10_000))
        .collect();
    entries.push(put(9, "1", 400, 401));
    entries.push(get(10, None, 500, 501));
    let e = check(&history(entries)).unwrap_err();
    assert_eq!(e.ops, vec![300, 301]);
}
