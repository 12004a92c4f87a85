//! Slot and publication names in replication commands.
//!
//! The replication protocol's commands (`CREATE_REPLICATION_SLOT`, `START_REPLICATION`) are
//! plain text, so a name pasted into one could end the command and start another. Every name
//! is therefore quoted as an identifier ([`summa_plan::ident::quote_ident`]) wherever it enters
//! a command, and a slot name is checked against Postgres's own rule before a slot is created,
//! so a bad one fails with an error naming it instead of a syntax error from the server.

use summa_plan::ident::quote_ident;

/// Postgres keeps names in 64-byte fields with a terminating NUL.
pub const MAX_NAME_BYTES: usize = 63;

/// A slot name Postgres would refuse (`ReplicationSlotValidateName`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid replication slot name {name:?}: {reason}")]
pub struct InvalidSlotName {
    /// The refused name (printed escaped: `{:?}` shows a newline as `\n`).
    pub name: String,
    pub reason: &'static str,
}

/// Postgres allows slot names of lower-case letters, digits and underscores, at most 63 bytes.
pub fn check_slot_name(name: &str) -> Result<(), InvalidSlotName> {
    let refuse = |reason| {
        Err(InvalidSlotName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse("it is longer than 63 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return refuse("only lower-case letters, digits and underscores are allowed");
    }
    Ok(())
}

/// A slot name as it goes into a replication command.
pub fn slot_ident(name: &str) -> String {
    quote_ident(name)
}

/// A publication name as it goes into `publication_names`, which the server splits as a list
/// of identifiers: quoted, so case, commas and spaces survive. (`pgwire-replication` doubles
/// the single quotes of the option value.)
pub fn publication_ident(name: &str) -> String {
    quote_ident(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_slot_names_are_refused_by_name() {
        for name in [
            "a\nb",
            "a\"b",
            "a;DROP_REPLICATION_SLOT b",
            "x'y",
            "Upper",
            "",
            &"a".repeat(64),
        ] {
            let err = check_slot_name(name).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("{name:?}")), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
        assert!(check_slot_name(&"a".repeat(63)).is_ok());
        assert!(check_slot_name("summa_16384_2").is_ok());
    }

    #[test]
    fn names_are_quoted_identifiers() {
        assert_eq!(slot_ident("summa_1_2"), "\"summa_1_2\"");
        assert_eq!(slot_ident("a\" LOGICAL x; b"), "\"a\"\" LOGICAL x; b\"");
        assert_eq!(publication_ident("My, Pub"), "\"My, Pub\"");
    }
}
