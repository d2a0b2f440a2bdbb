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

    /// An error placed at the first `needle` after the first `near` in the text (or at `near`,
    /// or at the start of the file when neither is found).
    pub fn locate(file: &str, text: &str, near: &str, needle: &str, message: String) -> Self {
        let base = text.find(near).unwrap_or(0);
        let offset = text[base..]
            .find(needle)
            .map(|o| base + o)
            .or_else(|| text.find(needle))
            .unwrap_or(base);
        let (line, col) = line_col(text, offset);
        ScenarioError::new(file, line, col, message)
    }
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
    fn locate_finds_needle_after_anchor() {
        let t = "nodes: [\"a\"]\ntimeline: [(\"1s\", Crash(\"zz\"))]";
        let e = ScenarioError::locate("f.ron", t, "timeline", "\"zz\"", "unknown".into());
        assert_eq!((e.line, e.col), (2, 25));
        assert_eq!(e.to_string(), "f.ron:2:25: unknown");
    }
}
