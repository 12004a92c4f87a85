//! The small glob language of `--exclude` and `exclude = [...]`.
//!
//! Patterns match `/`-separated paths as the linter prints them (relative
//! to the current directory when under it):
//! - `*` matches any characters within one path component, `?` one
//!   character, `[abc]` / `[a-z]` / `[!abc]` one character of a set;
//! - a `**` component matches zero or more whole components
//!   (`migrations/legacy/**`, `**/*_old.sql`);
//! - a pattern without `/` matches the file or directory name at any depth
//!   (`*_old.sql` is `**/*_old.sql`);
//! - a leading `./` is ignored, and so is a trailing `/`.

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    text: String,
    parts: Vec<String>,
}

impl Glob {
    /// Compiles `pattern`, or says why it is not a pattern.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let trimmed = pattern.trim();
        let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err("empty pattern".to_string());
        }
        let mut parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
        if let Some(bad) = parts.iter().find(|p| p.contains("**") && *p != "**") {
            return Err(format!(
                "`**` must be a whole path component (as in `a/**/b`), found `{bad}`"
            ));
        }
        if let Some(bad) = parts.iter().find(|p| unclosed_class(p)) {
            return Err(format!("unclosed `[` in `{bad}`"));
        }
        if !trimmed.contains('/') {
            parts.insert(0, "**".to_string());
        }
        Ok(Glob {
            text: pattern.to_string(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the `/`-separated `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.strip_prefix("./").unwrap_or(path);
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let parts: Vec<&str> = self.parts.iter().map(String::as_str).collect();
        match_parts(&parts, &comps)
    }
}

fn unclosed_class(part: &str) -> bool {
    let mut open = false;
    for c in part.chars() {
        match c {
            '[' if !open => open = true,
            ']' if open => open = false,
            _ => {}
        }
    }
    open
}

fn match_parts(parts: &[&str], comps: &[&str]) -> bool {
    match parts.split_first() {
        None => comps.is_empty(),
        Some((&"**", rest)) => (0..=comps.len()).any(|k| match_parts(rest, &comps[k..])),
        Some((part, rest)) => match comps.split_first() {
            Some((comp, more)) => {
                let p: Vec<char> = part.chars().collect();
                let c: Vec<char> = comp.chars().collect();
                match_component(&p, &c) && match_parts(rest, more)
            }
            None => false,
        },
    }
}

/// `*`, `?` and `[…]` within one component.
fn match_component(p: &[char], c: &[char]) -> bool {
    match p.split_first() {
        None => c.is_empty(),
        Some(('*', rest)) => (0..=c.len()).any(|k| match_component(rest, &c[k..])),
        Some(('?', rest)) => !c.is_empty() && match_component(rest, &c[1..]),
        Some(('[', rest)) => {
            let Some(close) = rest.iter().skip(1).position(|x| *x == ']').map(|i| i + 1) else {
                return c.first() == Some(&'[') && match_component(rest, &c[1..]);
            };
            let Some(first) = c.first() else {
                return false;
            };
            in_class(&rest[..close], *first) && match_component(&rest[close + 1..], &c[1..])
        }
        Some((x, rest)) => c.first() == Some(x) && match_component(rest, &c[1..]),
    }
}

fn in_class(class: &[char], ch: char) -> bool {
    let (negated, class) = match class.first() {
        Some('!' | '^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut found = false;
    let mut i = 0;
    while i < class.len() {
        if class.get(i + 1) == Some(&'-') && i + 2 < class.len() {
            found |= class[i] <= ch && ch <= class[i + 2];
            i += 3;
        } else {
            found |= class[i] == ch;
            i += 1;
        }
    }
    found != negated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).expect("valid pattern").matches(path)
    }

    #[test]
    fn double_star_matches_any_depth() {
        assert!(m("migrations/legacy/**", "migrations/legacy/V1__a.sql"));
        assert!(m("migrations/legacy/**", "migrations/legacy/old/V1__a.sql"));
        assert!(!m("migrations/legacy/**", "migrations/V1__a.sql"));
        assert!(m("**/*_old.sql", "x_old.sql"));
        assert!(m("**/*_old.sql", "db/migrations/x_old.sql"));
        assert!(!m("**/*_old.sql", "db/migrations/x_old.py"));
        assert!(m("a/**/b.sql", "a/b.sql"));
        assert!(m("a/**/b.sql", "a/x/y/b.sql"));
        assert!(m("**/*_old.sql", "/tmp/abs/x_old.sql"));
    }

    #[test]
    fn single_star_stays_in_one_component() {
        assert!(m("migrations/*.sql", "migrations/V1.sql"));
        assert!(!m("migrations/*.sql", "migrations/sub/V1.sql"));
        assert!(m("./migrations/V?__*.sql", "migrations/V1__a.sql"));
        assert!(!m("migrations/V?__*.sql", "migrations/V10__a.sql"));
        assert!(m("migrations/legacy/", "migrations/legacy"));
    }

    #[test]
    fn bare_names_match_at_any_depth_and_classes() {
        assert!(m("*_old.sql", "db/x_old.sql"));
        assert!(m("legacy", "db/legacy"));
        assert!(m("V[0-9]__*.sql", "V3__a.sql"));
        assert!(!m("V[!0-9]__*.sql", "V3__a.sql"));
        assert!(m("V[ab]*", "Va1"));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        let e = Glob::new("a/**b").expect_err("bad **");
        assert!(e.contains("**b"), "{e}");
        let e = Glob::new("V[0-9__*.sql").expect_err("unclosed");
        assert!(e.contains("unclosed `[`"), "{e}");
        assert!(Glob::new("  ").is_err());
    }
}
