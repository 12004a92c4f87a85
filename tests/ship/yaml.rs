//! A minimal YAML reader for the two files tests/ship.rs checks: block mappings, block
//! sequences of mappings, plain / single- / double-quoted scalars and `#` comments. Flow
//! collections (`[a, b]`) stay scalars; anchors, block scalars and multi-document files are
//! refused.

/// A parsed YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn scalar(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn items(&self) -> &[Node] {
        match self {
            Node::List(items) => items,
            _ => &[],
        }
    }

    pub fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }
}

/// (indent, text) of each line that holds something.
fn lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .filter_map(|l| {
            let body = strip_comment(l).trim_end();
            let trimmed = body.trim_start();
            (!trimmed.is_empty()).then(|| (body.len() - trimmed.len(), trimmed.to_string()))
        })
        .collect()
}

/// Drops a `#` comment that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('#', None) if i == 0 || line[..i].ends_with([' ', '\t']) => return &line[..i],
            _ => {}
        }
    }
    line
}

pub fn parse(text: &str) -> Result<Node, String> {
    let mut lines = lines(text);
    if lines.is_empty() {
        return Ok(Node::Map(Vec::new()));
    }
    let indent = lines[0].0;
    let mut i = 0;
    let node = block(&mut lines, &mut i, indent)?;
    match lines.get(i) {
        Some((_, l)) => Err(format!("unexpected line: {l}")),
        None => Ok(node),
    }
}

fn block(lines: &mut [(usize, String)], i: &mut usize, indent: usize) -> Result<Node, String> {
    if lines[*i].1 == "-" || lines[*i].1.starts_with("- ") {
        let mut items = Vec::new();
        while *i < lines.len() && lines[*i].0 == indent && lines[*i].1.starts_with('-') {
            let rest = lines[*i].1[1..].trim_start().to_string();
            if rest.is_empty() {
                *i += 1;
                let child = lines.get(*i).map(|l| l.0).unwrap_or(0);
                items.push(block(lines, i, child)?);
            } else if rest.contains(": ") || rest.ends_with(':') {
                // `- key: value` opens a mapping two columns in.
                lines[*i] = (indent + 2, rest);
                items.push(block(lines, i, indent + 2)?);
            } else {
                items.push(Node::Scalar(unquote(&rest)));
                *i += 1;
            }
        }
        return Ok(Node::List(items));
    }
    let mut entries = Vec::new();
    while *i < lines.len() && lines[*i].0 == indent && !lines[*i].1.starts_with("- ") {
        let line = lines[*i].1.clone();
        let (key, value) = match line.split_once(": ") {
            Some((k, v)) => (k, v.trim()),
            None => match line.strip_suffix(':') {
                Some(k) => (k, ""),
                None => return Err(format!("expected `key: value`, found: {line}")),
            },
        };
        if value.starts_with(['|', '>', '&', '*']) {
            return Err(format!("unsupported YAML in: {line}"));
        }
        *i += 1;
        let node = if value.is_empty() {
            match lines.get(*i) {
                Some((child, _)) if *child > indent => block(lines, i, *child)?,
                Some((child, l)) if *child == indent && l.starts_with("- ") => {
                    block(lines, i, indent)?
                }
                _ => Node::Scalar(String::new()),
            }
        } else {
            Node::Scalar(unquote(value))
        };
        entries.push((unquote(key), node));
    }
    if let Some((deeper, l)) = lines.get(*i) {
        if *deeper > indent {
            return Err(format!("unexpected indentation: {l}"));
        }
    }
    Ok(Node::Map(entries))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1]
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        s[1..s.len() - 1].replace("''", "'")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_lists_and_quotes() {
        let doc =
            "# c\n- id: a\n  entry: x y # note\n  list:\n    - one\n    - 'two'\n- id: \"b\"\n";
        let node = parse(doc).expect("parse");
        assert_eq!(node.items().len(), 2);
        assert_eq!(
            node.items()[0].get("entry").and_then(Node::scalar),
            Some("x y")
        );
        let list = node.items()[0].get("list").expect("list");
        assert_eq!(list.items()[1].scalar(), Some("two"));
        assert!(parse("a: |\n  x\n").is_err());
    }
}
