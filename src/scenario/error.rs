//! Located scenario errors: `file:line:col: message`.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based line and column; 0 when the error has no place in the text (file not found).
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

impl ScenarioError {
    pub fn new(file: &str, line: usize, col: usize, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_string(),
            line,
            col,
            message: message.into(),
        }
    }

    pub fn from_ron(file: &str, e: &ron::error::SpannedError) -> Self {
        let mut message = e.code.to_string();
        if matches!(e.code, ron::Error::Eof) {
            message = "unexpected end of file: a bracket or parenthesis is not closed".into();
        }
        ScenarioError::new(file, e.span.start.line, e.span.start.col, message)
    }

    /// An error placed at `needle` inside the field `near` (see [`ScenarioError::locate_path`]).
    pub fn locate(file: &str, text: &str, near: &str, needle: &str, message: String) -> Self {
        Self::locate_path(file, text, &[near, needle], message)
    }

    /// An error placed by following `path` through the text: each step is searched after the
    /// previous one. A step in quotes (`"\"n3\""`) is a string value, found as written; any
    /// other step is a field (`every`), found as `every:` in the code, never inside a string
    /// or a comment (a description that mentions `nodes` does not attract errors about
    /// `nodes`). A step that is not found keeps the place found so far (the start of the file
    /// when nothing is found).
    pub fn locate_path(file: &str, text: &str, path: &[&str], message: String) -> Self {
        let mut at = 0;
        for step in path {
            let found = if step.starts_with('"') {
                text[at..].find(step).map(|o| at + o)
            } else {
                field_offset(text, step, at).or_else(|| word_offset(text, step, at))
            };
            if let Some(o) = found {
                at = o;
            }
        }
        let (line, col) = line_col(text, at);
        ScenarioError::new(file, line, col, message)
    }

    /// A protocol's config error `message`: at the first option that `reason` names inside
    /// `config`, or at `config`; without a `config` key, at `nodes` when the reason is about
    /// the node count, else at `protocol` (whose defaults were used).
    pub fn at_config(file: &str, text: &str, reason: &str, message: String) -> Self {
        let offset = match field_offset(text, "config", 0) {
            Some(config) => {
                let end = value_end(text, config).unwrap_or(text.len());
                reason
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .find_map(|w| field_offset(text, w, config).filter(|&o| o < end))
                    .unwrap_or(config)
            }
            None if reason.contains("node") => field_offset(text, "nodes", 0).unwrap_or(0),
            None => field_offset(text, "protocol", 0).unwrap_or(0),
        };
        let (line, col) = line_col(text, offset);
        ScenarioError::new(file, line, col, message)
    }
}

/// Calls `f(offset, byte)` for every byte of code in `text` from `from` on, skipping strings
/// (`"..."`, `r"..."`, `r#"..."#`), character literals, and comments; stops when `f` returns
/// true and returns that offset. One pass, linear in the length of the text.
fn scan_code(text: &str, from: usize, mut f: impl FnMut(usize, u8) -> bool) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'r' if b.get(i + 1).is_some_and(|&c| c == b'"' || c == b'#')
                && (i == 0 || !is_word(b[i - 1])) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                i = match text.get(body..).and_then(|t| t.find(&close)) {
                    Some(o) => body + o + close.len(),
                    None => b.len(),
                };
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(b.len(), |o| i + o + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |o| i + 2 + o + 2);
            }
            c => {
                if f(i, c) {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Offset of the word `word` in code (not in a string or comment) at or after `from`.
fn word_offset(text: &str, word: &str, from: usize) -> Option<usize> {
    let b = text.as_bytes();
    let w = word.as_bytes();
    scan_code(text, from, |i, _| {
        b[i..].starts_with(w)
            && (i == 0 || !is_word(b[i - 1]))
            && b.get(i + w.len()).is_none_or(|&c| !is_word(c))
    })
}

/// Offset of the field `key` (written `key:` in code) at or after `from`.
pub fn field_offset(text: &str, key: &str, from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let o = word_offset(text, key, at)?;
        let rest = text[o + key.len()..].trim_start();
        if rest.starts_with(':') && !rest.starts_with("::") {
            return Some(o);
        }
        at = o + key.len();
    }
}

/// Offset of the first byte of the value of the field at `key_offset` (after `key:`).
pub fn value_start(text: &str, key_offset: usize) -> Option<usize> {
    let colon = key_offset + text[key_offset..].find(':')?;
    scan_code(text, colon + 1, |_, c| !c.is_ascii_whitespace())
}

/// Offset just past the value of the field at `key_offset`: the matching bracket of an opening
/// one, else the next `,` or closing bracket at the same depth.
fn value_end(text: &str, key_offset: usize) -> Option<usize> {
    let start = value_start(text, key_offset)?;
    let mut depth = 0usize;
    let end = scan_code(text, start, |_, c| match c {
        b'(' | b'[' | b'{' => {
            depth += 1;
            false
        }
        b')' | b']' | b'}' if depth <= 1 => true,
        b')' | b']' | b'}' => {
            depth -= 1;
            false
        }
        b',' => depth == 0,
        _ => false,
    });
    Some(end.map_or(text.len(), |e| e + 1))
}

impl ScenarioError {
    /// An error placed at the start of the `k`-th element of the list under `key:`
    /// (`timeline: [ ... ]`), found by a bracket-aware scan of the text.
    pub fn at_element(file: &str, text: &str, key: &str, k: usize, message: String) -> Self {
        let offset = element_offset(text, key, k).unwrap_or_else(|| text.find(key).unwrap_or(0));
        let (line, col) = line_col(text, offset);
        ScenarioError::new(file, line, col, message)
    }
}

/// Byte offset of the `k`-th top-level element of the list that follows `key:`.
fn element_offset(text: &str, key: &str, k: usize) -> Option<usize> {
    let mut search = 0;
    let start = loop {
        let pos = search + text[search..].find(key)?;
        let rest = text[pos + key.len()..].trim_start();
        if rest.starts_with(':') {
            break pos + key.len();
        }
        search = pos + key.len();
    };
    let open = start + text[start..].find('[')?;
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let mut index = 0;
    let mut expecting = true;
    for (i, c) in text[open + 1..].char_indices() {
        let off = open + 1 + i;
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        if expecting && depth == 0 && !c.is_whitespace() && c != ']' {
            if index == k {
                return Some(off);
            }
            expecting = false;
        }
        match c {
            '"' => in_str = true,
            '(' | '[' | '{' => depth += 1,
            ')' | '}' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => return None,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                index += 1;
                expecting = true;
            }
            _ => {}
        }
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncd\nef";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (2, 2));
        assert_eq!(line_col(t, 6), (3, 1));
    }

    #[test]
    fn at_element_finds_the_kth_list_entry() {
        let t = "timeline: [\n  (\"1s\", Crash(\"a\")),\n  (\"2s\", Caption(\"x, y\")),\n  (\"3s\", Heal),\n]";
        let e = ScenarioError::at_element("f", t, "timeline", 2, "m".into());
        assert_eq!((e.line, e.col), (4, 3));
        let e = ScenarioError::at_element("f", t, "timeline", 0, "m".into());
        assert_eq!((e.line, e.col), (2, 3));
    }

    #[test]
    fn fields_are_found_in_code_not_in_strings_or_comments() {
        let t = "(description: \"nodes: 3 every\", // nodes: every\n /* chaos: */ nodes: Count(1), chaos: (every: 1))";
        let e = ScenarioError::locate("f", t, "nodes", "nodes", "m".into());
        assert_eq!((e.line, e.col), (2, 15));
        let e = ScenarioError::locate("f", t, "chaos", "every", "m".into());
        assert_eq!((e.line, e.col), (2, 40));
        let r = "(description: r#\"nodes: \"x\"\"#, nodes: Count(1))";
        assert_eq!(field_offset(r, "nodes", 0), Some(31));
    }

    #[test]
    fn config_errors_point_at_the_option_the_message_names() {
        let t =
            "(\n protocol: \"p\",\n config: (\n  hold: 1,\n  tokens: 9,\n ),\n nodes: Count(2),\n)";
        let e = ScenarioError::at_config("f", t, "expected at most 5 tokens, got 9", "m".into());
        assert_eq!((e.line, e.col), (5, 3));
        let e = ScenarioError::at_config("f", t, "nodes must be 3", "m".into());
        assert_eq!((e.line, e.col), (3, 2));
        let t = "(\n protocol: \"p\",\n nodes: Count(200),\n)";
        let e = ScenarioError::at_config("f", t, "at most 128 nodes", "m".into());
        assert_eq!((e.line, e.col), (3, 2));
        let e = ScenarioError::at_config("f", t, "loss_timeout is zero", "m".into());
        assert_eq!((e.line, e.col), (2, 2));
    }

    #[test]
    fn locate_finds_needle_after_anchor() {
        let t = "nodes: [\"a\"]\ntimeline: [(\"1s\", Crash(\"zz\"))]";
        let e = ScenarioError::locate("f.ron", t, "timeline", "\"zz\"", "unknown".into());
        assert_eq!((e.line, e.col), (2, 25));
        assert_eq!(e.to_string(), "f.ron:2:25: unknown");
    }
}
