//! Exports of a finished run for other tools: the client history as JSON Lines
//! (`--export history FILE`) and as a Jepsen history in EDN (`--export edn FILE`), which
//! Knossos reads and Porcupine's Jepsen-log parser reads, so an external linearizability
//! checker can be pointed at any run.

pub mod trace;

use crate::sim::client::{History, HistoryEntry, Op, Outcome};
use crate::sim::time::SimTime;
use serde::Serialize;
use std::io::{self, Write};

/// One operation of `--export history`, one JSON object per line, in invocation order.
///
/// Times are integer microseconds. `outcome` is `ok`, `compare_failed`, `fail`, `timeout` or
/// `pending` (still open at the end). `determinate` is true when the outcome says for sure
/// whether the operation took effect (`ok` and `compare_failed`); a `fail` (the client gave
/// up), a `timeout` or a `pending` operation may have taken effect or not. `result` is, for an
/// `ok` get, the value read; for a `compare_failed` cas, the value found; for an `ok` put or
/// cas, the previous value if the protocol returns it. `null` means the key was absent: a
/// JSON null, never a string, so no real value can collide with it.
#[derive(Serialize)]
pub struct HistoryLine<'a> {
    pub client: u32,
    pub seq: u64,
    /// `get`, `put`, `cas` or `request`.
    pub op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    /// A put's value, a cas's new value, a request's argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<&'a str>,
    /// A cas's expected value (`null`: absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Option<&'a str>>,
    pub invoke_us: u64,
    pub return_us: Option<u64>,
    pub outcome: &'static str,
    pub determinate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    pub attempts: u32,
    /// The node that answered last, by name.
    pub node: Option<&'a str>,
}

impl<'a> HistoryLine<'a> {
    pub fn of(e: &'a HistoryEntry, names: &'a [String]) -> Self {
        let (op, key, value, expected) = match &e.op {
            Op::Get { key } => ("get", Some(key.as_str()), None, None),
            Op::Put { key, value } => ("put", Some(key.as_str()), Some(value.as_str()), None),
            Op::Cas { key, from, to } => (
                "cas",
                Some(key.as_str()),
                Some(to.as_str()),
                Some(from.as_deref()),
            ),
            Op::Request(arg) => ("request", None, Some(arg.as_str()), None),
        };
        let (outcome, result, reason) = match &e.outcome {
            None => ("pending", None, None),
            Some(Outcome::Ok { value }) => ("ok", Some(value.as_deref()), None),
            Some(Outcome::CompareFailed { current }) => {
                ("compare_failed", Some(current.as_deref()), None)
            }
            Some(Outcome::Fail { reason }) => ("fail", None, Some(reason.as_str())),
            Some(Outcome::Timeout) => ("timeout", None, None),
        };
        HistoryLine {
            client: e.client,
            seq: e.seq,
            op,
            key,
            value,
            expected,
            invoke_us: e.invoked_at.as_micros(),
            return_us: e.returned_at.map(SimTime::as_micros),
            outcome,
            determinate: e.outcome.as_ref().is_some_and(Outcome::answered),
            result,
            reason,
            attempts: e.attempts,
            node: e.node.and_then(|n| names.get(n)).map(String::as_str),
        }
    }
}

/// Writes `--export history`: one [`HistoryLine`] per operation.
pub fn history_jsonl(history: &History, names: &[String], out: &mut dyn Write) -> io::Result<()> {
    for e in &history.entries {
        serde_json::to_writer(&mut *out, &HistoryLine::of(e, names))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// An EDN string literal.
fn edn_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn edn_opt(v: Option<&str>) -> String {
    v.map_or_else(|| "nil".to_string(), edn_str)
}

/// Writes `--export edn`: a Jepsen history of the get/put/cas operations, one map per line,
/// invocations and completions in time order (at one instant, invocations first, so
/// operations that touch stay concurrent).
///
/// Keys are independent registers in Jepsen's `independent` form: `:value [key v]`. A get is
/// `:f :read`, a put `:f :write`, a cas `:f :cas` with `[key [expected new]]`. Completions are
/// `:ok`; a cas that found another value is `:fail` (it did not happen); a timeout, a client
/// that gave up and an operation still pending at the end are `:info` (it may have happened).
/// `:process` is the client, except that a client whose operation ended `:info` continues as
/// a fresh process, as Jepsen does; `:time` is in nanoseconds.
pub fn history_edn(history: &History, out: &mut dyn Write) -> io::Result<()> {
    let clients = history
        .entries
        .iter()
        .map(|e| e.client as u64 + 1)
        .max()
        .unwrap_or(0);
    let mut next_process = clients;
    let mut process_of_client: Vec<u64> = (0..clients).collect();
    let end = history
        .entries
        .iter()
        .filter_map(|e| e.returned_at)
        .chain(history.entries.iter().map(|e| e.invoked_at))
        .max()
        .unwrap_or(SimTime::ZERO);
    // (time, 0 invoke / 1 completion, entry, line)
    let mut lines: Vec<(SimTime, u8, usize, String)> = Vec::new();
    for (i, e) in history.entries.iter().enumerate() {
        let Some((f, invoke_value, done_value)) = edn_values(e) else {
            continue;
        };
        let process = process_of_client[e.client as usize];
        let kind = match &e.outcome {
            Some(Outcome::Ok { .. }) => ":ok",
            Some(Outcome::CompareFailed { .. }) => ":fail",
            _ => ":info",
        };
        if kind == ":info" {
            process_of_client[e.client as usize] = next_process;
            next_process += 1;
        }
        let line = |t: SimTime, ty: &str, value: &str| {
            format!(
                "{{:process {process}, :type {ty}, :f {f}, :value {value}, :time {}}}",
                t.as_micros() * 1000
            )
        };
        lines.push((
            e.invoked_at,
            0,
            i,
            line(e.invoked_at, ":invoke", &invoke_value),
        ));
        let at = e.returned_at.unwrap_or(end);
        lines.push((at, 1, i, line(at, kind, &done_value)));
    }
    lines.sort_by_key(|(t, kind, i, _)| (*t, *kind, *i));
    for (_, _, _, l) in lines {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

/// `(:f, invocation value, completion value)` of a get/put/cas.
fn edn_values(e: &HistoryEntry) -> Option<(&'static str, String, String)> {
    let pair = |k: &str, v: String| format!("[{} {v}]", edn_str(k));
    Some(match &e.op {
        Op::Get { key } => {
            let read = match &e.outcome {
                Some(Outcome::Ok { value }) => edn_opt(value.as_deref()),
                _ => "nil".into(),
            };
            (":read", pair(key, "nil".into()), pair(key, read))
        }
        Op::Put { key, value } => {
            let v = pair(key, edn_str(value));
            (":write", v.clone(), v)
        }
        Op::Cas { key, from, to } => {
            let v = pair(
                key,
                format!("[{} {}]", edn_opt(from.as_deref()), edn_str(to)),
            );
            (":cas", v.clone(), v)
        }
        Op::Request(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        client: u32,
        op: Op,
        span: (u64, Option<u64>),
        outcome: Option<Outcome>,
    ) -> HistoryEntry {
        HistoryEntry {
            client,
            seq: 1,
            op,
            invoked_at: SimTime::from_millis(span.0),
            returned_at: span.1.map(SimTime::from_millis),
            outcome,
            attempts: 2,
            node: Some(0),
        }
    }

    fn sample() -> History {
        let k = || "x".to_string();
        History {
            entries: vec![
                entry(
                    0,
                    Op::Put {
                        key: k(),
                        value: "1".into(),
                    },
                    (0, Some(2)),
                    Some(Outcome::Ok { value: None }),
                ),
                entry(
                    1,
                    Op::Get { key: k() },
                    (2, Some(3)),
                    Some(Outcome::Ok {
                        value: Some("1".into()),
                    }),
                ),
                entry(
                    1,
                    Op::Cas {
                        key: k(),
                        from: Some("2".into()),
                        to: "3".into(),
                    },
                    (4, Some(5)),
                    Some(Outcome::CompareFailed {
                        current: Some("1".into()),
                    }),
                ),
                entry(
                    0,
                    Op::Put {
                        key: k(),
                        value: "a\"b".into(),
                    },
                    (3, Some(9)),
                    Some(Outcome::Timeout),
                ),
                entry(0, Op::Get { key: k() }, (10, None), None),
            ],
        }
    }

    #[test]
    fn history_lines_say_whether_an_outcome_is_determinate() {
        let mut out = Vec::new();
        history_jsonl(&sample(), &["n1".to_string()], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0],
            r#"{"client":0,"seq":1,"op":"put","key":"x","value":"1","invoke_us":0,"return_us":2000,"outcome":"ok","determinate":true,"result":null,"attempts":2,"node":"n1"}"#
        );
        assert!(
            lines[2].contains(r#""outcome":"compare_failed","determinate":true,"result":"1""#),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains(r#""expected":"2""#), "{}", lines[2]);
        assert!(
            lines[3].contains(r#""outcome":"timeout","determinate":false"#),
            "{}",
            lines[3]
        );
        assert!(
            lines[4].contains(r#""return_us":null,"outcome":"pending","determinate":false"#),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn the_edn_history_pairs_invocations_and_completions_in_time_order() {
        let mut out = Vec::new();
        history_edn(&sample(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = [
            r#"{:process 0, :type :invoke, :f :write, :value ["x" "1"], :time 0}"#,
            r#"{:process 1, :type :invoke, :f :read, :value ["x" nil], :time 2000000}"#,
            r#"{:process 0, :type :ok, :f :write, :value ["x" "1"], :time 2000000}"#,
            r#"{:process 0, :type :invoke, :f :write, :value ["x" "a\"b"], :time 3000000}"#,
            r#"{:process 1, :type :ok, :f :read, :value ["x" "1"], :time 3000000}"#,
            r#"{:process 1, :type :invoke, :f :cas, :value ["x" ["2" "3"]], :time 4000000}"#,
            r#"{:process 1, :type :fail, :f :cas, :value ["x" ["2" "3"]], :time 5000000}"#,
            r#"{:process 0, :type :info, :f :write, :value ["x" "a\"b"], :time 9000000}"#,
            // After an :info, client 0 continues as a fresh process; pending at the end: :info.
            r#"{:process 2, :type :invoke, :f :read, :value ["x" nil], :time 10000000}"#,
            r#"{:process 2, :type :info, :f :read, :value ["x" nil], :time 10000000}"#,
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }
}
