//! A small Python tokenizer: names, string literals (decoded, with the
//! original position of every character), comments and punctuation. Enough
//! to find `op.execute(...)` / `RunSQL(...)` calls and their literals.

use crate::srcmap::Pos;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Name(String),
    Str(PyStr),
    /// `#` comment, text after the `#`.
    Comment(String),
    /// A single punctuation character.
    Op(char),
    /// Numbers, unterminated strings and anything else of no interest.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PyStr {
    /// The decoded value.
    pub value: String,
    /// Original position of each char of `value`.
    pub origins: Vec<Pos>,
    /// Position of the closing quote.
    pub close: Pos,
    /// An f-string (its value is not linted).
    pub fstring: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: Pos,
    pub end: Pos,
}

struct Cursor {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
}

impl Cursor {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos::new(self.line, self.col)
    }
}

const PREFIXES: [&str; 8] = ["r", "u", "b", "f", "br", "rb", "fr", "rf"];

/// Tokenizes Python source. Never fails: what it does not understand
/// becomes `Other`.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut c = Cursor {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    while let Some(ch) = c.peek(0) {
        let start = c.pos();
        // Whitespace, and `\` line continuations (the newline follows).
        let continuation = ch == '\\' && matches!(c.peek(1), Some('\n' | '\r'));
        let tok = if continuation || ch.is_whitespace() {
            c.bump();
            continue;
        } else if ch == '#' {
            c.bump();
            let mut text = String::new();
            while let Some(n) = c.peek(0) {
                if n == '\n' {
                    break;
                }
                text.push(n);
                c.bump();
            }
            Tok::Comment(text)
        } else if ch == '\'' || ch == '"' {
            string(&mut c, "")
        } else if ch.is_alphabetic() || ch == '_' {
            let mut name = String::new();
            while let Some(n) = c.peek(0).filter(|n| n.is_alphanumeric() || *n == '_') {
                name.push(n);
                c.bump();
            }
            let lower = name.to_ascii_lowercase();
            if matches!(c.peek(0), Some('\'' | '"')) && PREFIXES.contains(&lower.as_str()) {
                string(&mut c, &lower)
            } else {
                Tok::Name(name)
            }
        } else if ch.is_ascii_digit() {
            while c
                .peek(0)
                .is_some_and(|n| n.is_alphanumeric() || n == '_' || n == '.')
            {
                c.bump();
            }
            Tok::Other
        } else {
            c.bump();
            Tok::Op(ch)
        };
        out.push(Token {
            tok,
            start,
            end: c.pos(),
        });
    }
    out
}

/// Lexes a string literal at the opening quote; `prefix` is lower case.
fn string(c: &mut Cursor, prefix: &str) -> Tok {
    let raw = prefix.contains('r');
    let bytes = prefix.contains('b');
    let fstring = prefix.contains('f');
    let Some(q) = c.bump() else {
        return Tok::Other;
    };
    let triple = c.peek(0) == Some(q) && c.peek(1) == Some(q);
    if triple {
        c.bump();
        c.bump();
    }
    let mut value = String::new();
    let mut origins = Vec::new();
    loop {
        let here = c.pos();
        let Some(ch) = c.peek(0) else {
            return Tok::Other;
        };
        if ch == q {
            if !triple {
                c.bump();
                break;
            }
            if c.peek(1) == Some(q) && c.peek(2) == Some(q) {
                c.bump();
                c.bump();
                c.bump();
                break;
            }
        }
        if ch == '\n' && !triple {
            return Tok::Other;
        }
        c.bump();
        if ch != '\\' {
            value.push(ch);
            origins.push(here);
            continue;
        }
        if raw {
            value.push('\\');
            origins.push(here);
            if let Some(n) = c.bump() {
                value.push(n);
                origins.push(Pos::new(here.line, here.column + 1));
            }
            continue;
        }
        for d in escape(c, bytes) {
            value.push(d);
            origins.push(here);
        }
    }
    let close = if triple {
        Pos::new(c.line, c.col.saturating_sub(3).max(1))
    } else {
        Pos::new(c.line, c.col.saturating_sub(1).max(1))
    };
    Tok::Str(PyStr {
        value,
        origins,
        close,
        fstring,
    })
}

/// Decodes the escape after a backslash (already consumed).
fn escape(c: &mut Cursor, bytes: bool) -> Vec<char> {
    let Some(e) = c.bump() else {
        return vec!['\\'];
    };
    let simple = match e {
        '\n' => return Vec::new(),
        '\r' => {
            if c.peek(0) == Some('\n') {
                c.bump();
            }
            return Vec::new();
        }
        '\\' | '\'' | '"' => Some(e),
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'v' => Some('\u{b}'),
        _ => None,
    };
    if let Some(s) = simple {
        return vec![s];
    }
    let decoded = match e {
        '0'..='7' => digits(c, e.to_string(), 2, 8),
        'x' => digits(c, String::new(), 2, 16),
        'u' if !bytes => digits(c, String::new(), 4, 16),
        'U' if !bytes => digits(c, String::new(), 8, 16),
        'N' if !bytes && c.peek(0) == Some('{') => {
            while let Some(n) = c.bump() {
                if n == '}' {
                    break;
                }
            }
            Some('\u{fffd}')
        }
        _ => return vec!['\\', e],
    };
    vec![decoded.unwrap_or('\u{fffd}')]
}

/// Reads up to `n` more digits of `radix` after `text` and decodes them.
fn digits(c: &mut Cursor, mut text: String, n: usize, radix: u32) -> Option<char> {
    for _ in 0..n {
        match c.peek(0).filter(|d| d.is_digit(radix)) {
            Some(d) => {
                text.push(d);
                c.bump();
            }
            None => break,
        }
    }
    u32::from_str_radix(&text, radix)
        .ok()
        .and_then(char::from_u32)
}
