//! Decoder for pgoutput protocol version 1 row messages (Relation, Insert, Update, Delete,
//! Truncate; Type and Origin are skipped). Begin and Commit arrive already parsed from
//! `pgwire-replication`.
//!
//! Values are kept as the walsender's text output; Postgres parses them back with the
//! column's input function when a batch is applied, so no type is re-implemented here.

use bytes::Bytes;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed pgoutput message ({kind}): {detail}")]
pub struct DecodeError {
    pub kind: char,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    pub is_key: bool,
    pub name: String,
    pub type_oid: u32,
    pub typmod: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<RelColumn>,
}

/// One column value of a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    Null,
    /// An unchanged TOASTed value that the walsender did not send (take it from the old tuple).
    UnchangedToast,
    Text(Bytes),
}

impl Datum {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Datum::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

pub type Tuple = Vec<Datum>;

/// Which old values an UPDATE or DELETE carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKind {
    /// `K`: only the replica identity key columns; the others are NULL placeholders.
    Key,
    /// `O`: the whole old row (REPLICA IDENTITY FULL).
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Relation(Relation),
    Insert {
        rel: u32,
        new: Tuple,
    },
    Update {
        rel: u32,
        old: Option<(OldKind, Tuple)>,
        new: Tuple,
    },
    Delete {
        rel: u32,
        old: (OldKind, Tuple),
    },
    Truncate {
        rels: Vec<u32>,
    },
    /// Type, Origin and anything else a row consumer does not need.
    Other(u8),
}

struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    kind: char,
}

impl<'a> Reader<'a> {
    fn err(&self, detail: impl Into<String>) -> DecodeError {
        DecodeError {
            kind: self.kind,
            detail: detail.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let Some(end) = end else {
            return Err(self.err(format!("truncated at byte {} (wanted {n} more)", self.pos)));
        };
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(self.i32()? as u32)
    }

    fn cstr(&mut self) -> Result<String, DecodeError> {
        let rest = &self.buf[self.pos..];
        let len = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| self.err("unterminated string"))?;
        let s = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len + 1;
        Ok(s)
    }

    fn tuple(&mut self) -> Result<Tuple, DecodeError> {
        let n = self.i16()?;
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for _ in 0..n {
            out.push(match self.u8()? {
                b'n' => Datum::Null,
                b'u' => Datum::UnchangedToast,
                b't' | b'b' => {
                    let len = self.i32()?;
                    if len < 0 {
                        return Err(self.err("negative value length"));
                    }
                    let start = self.pos;
                    self.take(len as usize)?;
                    Datum::Text(self.buf.slice(start..start + len as usize))
                }
                other => {
                    return Err(self.err(format!("unknown tuple value kind {:?}", other as char)))
                }
            });
        }
        Ok(out)
    }
}

/// Decode one XLogData payload.
pub fn decode(buf: &Bytes) -> Result<Message, DecodeError> {
    let Some(&tag) = buf.first() else {
        return Err(DecodeError {
            kind: '?',
            detail: "empty message".into(),
        });
    };
    let mut r = Reader {
        buf,
        pos: 1,
        kind: tag as char,
    };
    Ok(match tag {
        b'R' => {
            let oid = r.u32()?;
            let schema = r.cstr()?;
            let name = r.cstr()?;
            let replica_identity = r.u8()?;
            let n = r.i16()?;
            let mut columns = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n {
                let flags = r.u8()?;
                columns.push(RelColumn {
                    is_key: flags & 1 == 1,
                    name: r.cstr()?,
                    type_oid: r.u32()?,
                    typmod: r.i32()?,
                });
            }
            Message::Relation(Relation {
                oid,
                schema,
                name,
                replica_identity,
                columns,
            })
        }
        b'I' => {
            let rel = r.u32()?;
            match r.u8()? {
                b'N' => Message::Insert {
                    rel,
                    new: r.tuple()?,
                },
                other => return Err(r.err(format!("expected N, found {:?}", other as char))),
            }
        }
        b'U' => {
            let rel = r.u32()?;
            let mut old = None;
            let mut marker = r.u8()?;
            if marker == b'K' || marker == b'O' {
                let kind = if marker == b'K' {
                    OldKind::Key
                } else {
                    OldKind::Full
                };
                old = Some((kind, r.tuple()?));
                marker = r.u8()?;
            }
            if marker != b'N' {
                return Err(r.err(format!("expected N, found {:?}", marker as char)));
            }
            Message::Update {
                rel,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let rel = r.u32()?;
            let kind = match r.u8()? {
                b'K' => OldKind::Key,
                b'O' => OldKind::Full,
                other => return Err(r.err(format!("expected K or O, found {:?}", other as char))),
            };
            Message::Delete {
                rel,
                old: (kind, r.tuple()?),
            }
        }
        b'T' => {
            let n = r.i32()?;
            let _options = r.u8()?;
            let mut rels = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n {
                rels.push(r.u32()?);
            }
            Message::Truncate { rels }
        }
        other => Message::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple_bytes(values: &[Option<&str>]) -> Vec<u8> {
        let mut out = (values.len() as i16).to_be_bytes().to_vec();
        for v in values {
            match v {
                None => out.push(b'n'),
                Some("<u>") => out.push(b'u'),
                Some(s) => {
                    out.push(b't');
                    out.extend((s.len() as i32).to_be_bytes());
                    out.extend(s.as_bytes());
                }
            }
        }
        out
    }

    #[test]
    fn decodes_relation() {
        let mut b = vec![b'R'];
        b.extend(16385u32.to_be_bytes());
        b.extend(b"public\0orders\0");
        b.push(b'f');
        b.extend(2i16.to_be_bytes());
        b.push(1);
        b.extend(b"id\0");
        b.extend(20u32.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.push(0);
        b.extend(b"amount\0");
        b.extend(1700u32.to_be_bytes());
        b.extend(786438i32.to_be_bytes());
        let m = decode(&Bytes::from(b)).unwrap();
        let Message::Relation(rel) = m else {
            panic!("not a relation")
        };
        assert_eq!(rel.oid, 16385);
        assert_eq!(rel.name, "orders");
        assert_eq!(rel.replica_identity, b'f');
        assert!(rel.columns[0].is_key && !rel.columns[1].is_key);
        assert_eq!(rel.columns[1].type_oid, 1700);
    }

    #[test]
    fn decodes_update_with_old_tuple_and_unchanged_toast() {
        let mut b = vec![b'U'];
        b.extend(7u32.to_be_bytes());
        b.push(b'O');
        b.extend(tuple_bytes(&[Some("1"), Some("big")]));
        b.push(b'N');
        b.extend(tuple_bytes(&[Some("2"), Some("<u>")]));
        let m = decode(&Bytes::from(b)).unwrap();
        let Message::Update { rel, old, new } = m else {
            panic!("not an update")
        };
        assert_eq!(rel, 7);
        let (kind, old) = old.unwrap();
        assert_eq!(kind, OldKind::Full);
        assert_eq!(old[1].as_str(), Some("big"));
        assert_eq!(new[1], Datum::UnchangedToast);
    }

    #[test]
    fn decodes_insert_delete_truncate_and_nulls() {
        let mut b = vec![b'I'];
        b.extend(7u32.to_be_bytes());
        b.push(b'N');
        b.extend(tuple_bytes(&[None, Some("x")]));
        assert_eq!(
            decode(&Bytes::from(b)).unwrap(),
            Message::Insert {
                rel: 7,
                new: vec![Datum::Null, Datum::Text(Bytes::from_static(b"x"))]
            }
        );
        let mut d = vec![b'D'];
        d.extend(7u32.to_be_bytes());
        d.push(b'K');
        d.extend(tuple_bytes(&[Some("1"), None]));
        assert!(matches!(
            decode(&Bytes::from(d)).unwrap(),
            Message::Delete {
                old: (OldKind::Key, _),
                ..
            }
        ));
        let mut t = vec![b'T'];
        t.extend(2i32.to_be_bytes());
        t.push(0);
        t.extend(7u32.to_be_bytes());
        t.extend(8u32.to_be_bytes());
        assert_eq!(
            decode(&Bytes::from(t)).unwrap(),
            Message::Truncate { rels: vec![7, 8] }
        );
    }

    #[test]
    fn truncated_messages_are_errors_not_panics() {
        let mut b = vec![b'I'];
        b.extend(7u32.to_be_bytes());
        b.push(b'N');
        b.extend(tuple_bytes(&[Some("hello")]));
        for cut in 1..b.len() {
            let _ = decode(&Bytes::copy_from_slice(&b[..cut]));
        }
        assert!(decode(&Bytes::copy_from_slice(&b[..b.len() - 2])).is_err());
    }
}
