//! Value-key intervals: what the conditions on one path allow, as ranges of an index, and how
//! many documents those ranges hold.

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use crate::index::{FieldIndex, PathId};
use crate::query::filter::Op;
use crate::value::{index_form, is_capped};

/// An interval of value keys.
pub(super) type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// What the conditions on one path allow.
pub(super) struct PathRanges<'a> {
    pub(super) pid: PathId,
    /// Disjoint, ascending.
    pub(super) ranges: Vec<KeyRange<'a>>,
    /// Whether some condition other than `$ne` restricts the values (else `ranges` is
    /// everything: any condition still excludes documents missing the path).
    pub(super) restricted: bool,
}

pub(super) fn single_point(p: &PathRanges<'_>) -> bool {
    p.ranges.len() == 1 && is_point(&p.ranges[0])
}

pub(super) fn is_point(r: &KeyRange<'_>) -> bool {
    matches!(r, (Included(a), Included(b)) if a == b)
}

/// How many documents the ranges hold, counted up to a little past `cap`.
pub(super) fn estimate(field: &FieldIndex, ranges: &[KeyRange<'_>], cap: usize) -> usize {
    let mut total = 0;
    for r in ranges {
        if let (Included(a), Included(b)) = r
            && a == b
        {
            total += field.entries.get(*a).map_or(0, |p| p.len());
            continue;
        }
        for (_, posting) in field.entries.range::<[u8], _>(*r) {
            total += posting.len();
            if total > cap {
                return total;
            }
        }
    }
    total
}

/// The ranges of values that satisfy every restricting condition on one path.
pub(super) fn path_ranges<'a>(pid: PathId, ops: impl Iterator<Item = &'a Op>) -> PathRanges<'a> {
    let mut lower: Bound<&'a [u8]> = Unbounded;
    let mut upper: Bound<&'a [u8]> = Unbounded;
    let mut points: Option<Vec<&'a [u8]>> = None;
    let mut restricted = false;
    let mut membership = false;
    for op in ops {
        match op {
            Op::Eq(k) => {
                restricted = true;
                points = Some(intersect(points, &[k.as_bytes()]));
            }
            Op::In(ks) => {
                restricted = true;
                let ks: Vec<&[u8]> = ks.iter().map(|k| k.as_bytes()).collect();
                points = Some(intersect(points, &ks));
            }
            Op::Range { lower: l, upper: u } => {
                restricted = true;
                lower = max_lower(lower, as_bytes(l));
                upper = min_upper(upper, as_bytes(u));
            }
            Op::Prefix { prefix, end } => {
                restricted = true;
                lower = max_lower(lower, Included(prefix.as_bytes()));
                if let Some(end) = end {
                    upper = min_upper(upper, Excluded(end.as_bytes()));
                }
            }
            Op::Ne(_) => {}
            // Only `$contains` conditions use a membership path; a second one (from a scope)
            // is left to the check on each candidate (two memberships do not intersect).
            Op::Contains(ks) => {
                restricted = true;
                if !membership {
                    membership = true;
                    let ks: Vec<&[u8]> = ks.iter().map(|k| k.as_bytes()).collect();
                    points = Some(intersect(points, &ks));
                }
            }
        }
    }
    // Exact ranges first, then widened to the capped keys the index keeps for long arrays
    // and objects ([`index_form`] is monotone, so the widened ranges hold every match; the
    // walk re-checks each candidate).
    let ranges = match points {
        Some(points) => {
            let mut points: Vec<&[u8]> = points
                .into_iter()
                .filter(|p| contains(lower, upper, p))
                .map(index_form)
                .collect();
            points.dedup();
            points
                .into_iter()
                .map(|p| (Included(p), Included(p)))
                .collect()
        }
        None if is_empty(lower, upper) => Vec::new(),
        None => vec![(widen(lower), widen(upper))],
    };
    PathRanges {
        pid,
        ranges,
        restricted,
    }
}

/// A bound on a capped key is replaced by its capped form, inclusive.
fn widen(bound: Bound<&[u8]>) -> Bound<&[u8]> {
    match bound {
        Included(k) | Excluded(k) if is_capped(k) => Included(index_form(k)),
        other => other,
    }
}

pub(super) fn as_bytes(b: &Bound<crate::value::ValueKey>) -> Bound<&[u8]> {
    match b {
        Included(k) => Included(k.as_bytes()),
        Excluded(k) => Excluded(k.as_bytes()),
        Unbounded => Unbounded,
    }
}

/// Sorted-set intersection (`None` = no constraint yet).
pub(super) fn intersect<'a>(current: Option<Vec<&'a [u8]>>, with: &[&'a [u8]]) -> Vec<&'a [u8]> {
    match current {
        None => with.to_vec(),
        Some(cur) => cur
            .into_iter()
            .filter(|k| with.binary_search(k).is_ok())
            .collect(),
    }
}

pub(super) fn max_lower<'a>(a: Bound<&'a [u8]>, b: Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    match (a, b) {
        (Unbounded, x) | (x, Unbounded) => x,
        (Included(x), Included(y)) => Included(x.max(y)),
        (Excluded(x), Excluded(y)) => Excluded(x.max(y)),
        (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
            if i > e {
                Included(i)
            } else {
                Excluded(e)
            }
        }
    }
}

pub(super) fn min_upper<'a>(a: Bound<&'a [u8]>, b: Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    match (a, b) {
        (Unbounded, x) | (x, Unbounded) => x,
        (Included(x), Included(y)) => Included(x.min(y)),
        (Excluded(x), Excluded(y)) => Excluded(x.min(y)),
        (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
            if i < e {
                Included(i)
            } else {
                Excluded(e)
            }
        }
    }
}

pub(super) fn contains(lower: Bound<&[u8]>, upper: Bound<&[u8]>, k: &[u8]) -> bool {
    let above = match lower {
        Included(l) => k >= l,
        Excluded(l) => k > l,
        Unbounded => true,
    };
    let below = match upper {
        Included(u) => k <= u,
        Excluded(u) => k < u,
        Unbounded => true,
    };
    above && below
}

/// Whether no key lies between the bounds (`BTreeMap::range` panics on such bounds).
pub(super) fn is_empty(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> bool {
    match (lower, upper) {
        (Included(l), Included(u)) => l > u,
        (Included(l), Excluded(u)) | (Excluded(l), Included(u)) | (Excluded(l), Excluded(u)) => {
            l >= u
        }
        _ => false,
    }
}
