//! Document ETags (CONTRACT section 12): the one place that formats and compares them.
//!
//! A document's ETag is the `seq` of the commit that last wrote it ([`crate::commitlog`]), as a
//! quoted decimal: `"42"`. The project's sequence never goes back (it is persisted with every
//! commit), so every write of a document, a delete and re-create included, gives it a number it
//! never had: the ETag changes on every write and never repeats. Documents written by one batch
//! share the batch's `seq`; an ETag is only ever compared with the same document's.
//!
//! Clients treat the value as opaque. `If-Match` compares strongly (RFC 9110 section 13.1.1): a
//! weak tag (`W/"42"`) never matches; a GET's `If-None-Match` compares weakly (section 13.1.2).

/// The `ETag` of a document last written by commit `seq`, quotes included.
pub fn format(seq: u64) -> String {
    format!("\"{seq}\"")
}

/// Whether `tag` (as a header or a batch's `if_match` carries it, quotes included) names the
/// document version written by commit `seq`.
pub fn matches(tag: &str, seq: u64) -> bool {
    let Some(inner) = tag
        .trim()
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
    else {
        return false;
    };
    // A strict parse: `"042"` or `"+42"` are not ETags this server gave.
    !inner.is_empty()
        && inner.bytes().all(|b| b.is_ascii_digit())
        && !(inner.len() > 1 && inner.starts_with('0'))
        && inner.parse::<u64>() == Ok(seq)
}

/// Whether a GET's `If-None-Match` (its tags, `*` included) fails for the document version
/// `seq`, which then answers 304. Comparison is weak here, as RFC 9110 asks for
/// `If-None-Match`: `W/"42"` names version 42 too.
pub fn none_match_fails(tags: &[String], seq: u64) -> bool {
    tags.iter()
        .any(|t| t == "*" || matches(t.strip_prefix("W/").unwrap_or(t), seq))
}

/// A precondition on the document a write targets, as the caller sees it (a document outside
/// the caller's scope does not exist for it). Checked inside the project actor, in the same
/// message as the write, so nothing can come between the check and the write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Precondition {
    /// `If-Match` / a batch op's `if_match`: the document must exist with one of these ETags.
    pub if_match: Option<Vec<String>>,
    /// `Some(true)`: the document must exist (`If-Match: *`, `"exists": true`); `Some(false)`:
    /// it must not (`If-None-Match: *`, `"exists": false`).
    pub exists: Option<bool>,
}

impl Precondition {
    /// No precondition.
    pub fn none() -> Precondition {
        Precondition::default()
    }

    /// Whether it holds for the document's current version (`None`: it does not exist).
    pub fn holds(&self, current: Option<u64>) -> bool {
        if let Some(exists) = self.exists
            && exists != current.is_some()
        {
            return false;
        }
        match (&self.if_match, current) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(tags), Some(seq)) => tags.iter().any(|t| matches(t, seq)),
        }
    }

    /// Whether there is anything to check.
    pub fn is_none(&self) -> bool {
        self.if_match.is_none() && self.exists.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_matches_strongly() {
        assert_eq!(format(42), "\"42\"");
        assert!(matches(&format(42), 42));
        assert!(matches(" \"42\" ", 42));
        for bad in [
            "42", "W/\"42\"", "\"042\"", "\"+42\"", "\"\"", "\"43\"", "\"4 2\"", "*",
        ] {
            assert!(!matches(bad, 42), "{bad}");
        }
        assert!(matches("\"0\"", 0));
    }

    #[test]
    fn preconditions() {
        let tag = |s: u64| Precondition {
            if_match: Some(vec![format(s)]),
            exists: None,
        };
        assert!(Precondition::none().holds(None));
        assert!(Precondition::none().holds(Some(3)));
        assert!(tag(3).holds(Some(3)));
        assert!(!tag(3).holds(Some(4)));
        assert!(!tag(3).holds(None), "If-Match on a missing document fails");
        let exists = |e| Precondition {
            if_match: None,
            exists: Some(e),
        };
        assert!(exists(true).holds(Some(1)) && !exists(true).holds(None));
        assert!(exists(false).holds(None) && !exists(false).holds(Some(1)));
        let list = Precondition {
            if_match: Some(vec![format(1), format(2)]),
            exists: None,
        };
        assert!(list.holds(Some(2)) && !list.holds(Some(5)));
    }
}
