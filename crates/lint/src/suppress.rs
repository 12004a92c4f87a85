//! `summa-lint: allow <rule>[, <rule>…] <reason>` suppression comments.
//!
//! A suppression applies to a statement (or, in Python, to an `op.execute` /
//! `RunSQL` call) when it is in the block of comment-only lines immediately
//! above it, or on its own line(s).
//!
//! `summa-lint: allow-file <rule>[, <rule>…] <reason>` anywhere in a file (a
//! SQL comment, a Python `#` comment, or a SQL comment inside a Python
//! migration's SQL) suppresses the rules for the whole file.

/// Comments of one text (SQL or Python) and which lines hold code.
#[derive(Debug, Default)]
pub(crate) struct CommentLines {
    /// (first line, last line, comment text without its marker).
    comments: Vec<(usize, usize, String)>,
    /// `code[line]`: the line holds something other than comments/blanks.
    code: Vec<bool>,
    /// `covered[line]`: a comment is on the line.
    covered: Vec<bool>,
}

impl CommentLines {
    pub fn add_comment(&mut self, first: usize, last: usize, text: &str) {
        let last = last.max(first);
        for line in first..=last {
            set(&mut self.covered, line);
        }
        self.comments.push((first, last, text.to_string()));
    }

    pub fn add_code(&mut self, first: usize, last: usize) {
        for line in first..=last.max(first) {
            set(&mut self.code, line);
        }
    }

    /// Rule ids that `allow-file` comments suppress for the whole text.
    pub fn file_allows(&self) -> Vec<String> {
        self.comments
            .iter()
            .flat_map(|(_, _, text)| parse_file_directive(text))
            .collect()
    }

    /// Rule ids allowed for something that starts on `first` and ends on
    /// `last` (both 1-based lines).
    pub fn allows(&self, first: usize, last: usize) -> Vec<String> {
        let mut top = first;
        while top > 1 && get(&self.covered, top - 1) && !get(&self.code, top - 1) {
            top -= 1;
        }
        let last = last.max(first);
        self.comments
            .iter()
            .filter(|(a, b, _)| *a <= last && *b >= top)
            .flat_map(|(_, _, text)| parse_directive(text))
            .collect()
    }
}

fn set(v: &mut Vec<bool>, i: usize) {
    if v.len() <= i {
        v.resize(i + 1, false);
    }
    v[i] = true;
}

fn get(v: &[bool], i: usize) -> bool {
    v.get(i).copied().unwrap_or(false)
}

/// Rule ids named by one `allow` comment, or nothing if it is no
/// statement suppression.
pub(crate) fn parse_directive(comment: &str) -> Vec<String> {
    directive(comment, "allow")
}

/// Rule ids named by one `allow-file` comment, or nothing if it is no file
/// suppression.
pub(crate) fn parse_file_directive(comment: &str) -> Vec<String> {
    directive(comment, "allow-file")
}

fn directive(comment: &str, verb: &str) -> Vec<String> {
    let text = comment.trim_start_matches(['-', '#', '*', '/', ' ', '\t']);
    let Some(rest) = strip_prefix_ci(text, "summa-lint:") else {
        return Vec::new();
    };
    let rest = rest.trim_start();
    let Some(rest) = strip_prefix_ci(rest, verb) else {
        return Vec::new();
    };
    if !rest.starts_with([' ', '\t']) {
        return Vec::new();
    }
    let mut rules = Vec::new();
    let mut rest = rest.trim_start();
    loop {
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        rules.push(rest[..len].to_ascii_lowercase());
        let after = rest[len..].trim_start();
        match after.strip_prefix(',') {
            Some(next) => rest = next.trim_start(),
            None => break,
        }
    }
    rules
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_lists_rules_and_ignores_reason() {
        assert_eq!(
            parse_directive(" summa-lint: allow drop-recreate-matview reason here"),
            vec!["drop-recreate-matview"]
        );
        assert_eq!(
            parse_directive("summa-lint: allow matview-with-data, refresh-in-migration because"),
            vec!["matview-with-data", "refresh-in-migration"]
        );
        assert_eq!(
            parse_directive("summa-lint: allow parse-error"),
            vec!["parse-error"]
        );
        assert!(parse_directive("summa-lint: allowx parse-error").is_empty());
        assert!(parse_directive("some other comment").is_empty());
        assert!(parse_directive("summa-lint: allow-file parse-error").is_empty());
    }

    #[test]
    fn file_directive_lists_rules() {
        assert_eq!(
            parse_file_directive(" summa-lint: allow-file drop-recreate-matview, parse-error old"),
            vec!["drop-recreate-matview", "parse-error"]
        );
        assert_eq!(
            parse_file_directive("# SUMMA-LINT: Allow-File matview-with-data"),
            vec!["matview-with-data"]
        );
        assert!(parse_file_directive("summa-lint: allow parse-error").is_empty());
        assert!(parse_file_directive("summa-lint: allow-files parse-error").is_empty());
        let mut c = CommentLines::default();
        c.add_comment(7, 7, "summa-lint: allow-file a, b why");
        c.add_comment(9, 9, "summa-lint: allow c");
        assert_eq!(c.file_allows(), vec!["a", "b"]);
    }

    #[test]
    fn block_above_and_same_line_count_blank_line_breaks() {
        let mut c = CommentLines::default();
        c.add_comment(1, 1, "summa-lint: allow a");
        c.add_code(2, 2);
        c.add_comment(4, 4, "summa-lint: allow b");
        c.add_comment(5, 5, "plain");
        c.add_code(6, 7);
        c.add_comment(6, 6, "summa-lint: allow c");
        c.add_comment(9, 9, "summa-lint: allow d");
        c.add_code(11, 11);
        assert_eq!(c.allows(6, 6), vec!["b", "c"]);
        assert!(c.allows(11, 11).is_empty());
        assert!(c.allows(2, 2).contains(&"a".to_string()));
    }
}
