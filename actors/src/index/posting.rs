//! The documents holding one value at one path: ordinals, ascending by id.

use super::ordlist::{IdOf, OrdIter, OrdList};

/// The ordinals of the documents that hold one value at one path, ascending by id.
#[derive(Debug, Clone)]
pub(crate) enum Posting {
    /// The common case for unique-ish values (ids, timestamps, names): nothing allocated.
    One(u32),
    /// Two or more, ascending by id. Boxed so that a posting is 8 bytes of payload.
    Many(Box<OrdList>),
}

impl Posting {
    /// How many documents it holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            Posting::One(_) => 1,
            Posting::Many(list) => list.len(),
        }
    }

    /// Whether `ord` is in it.
    pub(crate) fn contains(&self, ord: u32, ids: &(impl IdOf + ?Sized)) -> bool {
        match self {
            Posting::One(one) => *one == ord,
            Posting::Many(list) => list.contains(ord, ids),
        }
    }

    /// A posting of ordinals already ascending by id (at least one).
    pub(crate) fn from_sorted(ords: &[u32]) -> Posting {
        match ords {
            [one] => Posting::One(*one),
            _ => Posting::Many(Box::new(OrdList::from_sorted(ords))),
        }
    }

    /// Its ordinals in id order, starting just after the id `after` when given.
    pub(crate) fn iter_after<'a>(
        &'a self,
        after: Option<&str>,
        ids: &(impl IdOf + ?Sized),
    ) -> PostingIter<'a> {
        match self {
            Posting::One(one) => {
                PostingIter::One(after.is_none_or(|a| ids.id_of(*one) > a).then_some(*one))
            }
            Posting::Many(list) => PostingIter::Many(list.iter_after(after, ids)),
        }
    }

    pub(crate) fn insert(&mut self, ord: u32, ids: &(impl IdOf + ?Sized)) {
        match self {
            Posting::One(one) => {
                if *one != ord {
                    let mut list = Box::new(OrdList::from_sorted(&[*one]));
                    list.insert(ord, ids);
                    *self = Posting::Many(list);
                }
            }
            Posting::Many(list) => {
                list.insert(ord, ids);
            }
        }
    }

    /// Removes `ord`; returns whether the posting is now empty.
    pub(crate) fn remove(&mut self, ord: u32, ids: &(impl IdOf + ?Sized)) -> bool {
        match self {
            Posting::One(one) => *one == ord,
            Posting::Many(list) => {
                list.remove(ord, ids);
                if list.len() == 1
                    && let Some(last) = list.first()
                {
                    *self = Posting::One(last);
                }
                false
            }
        }
    }

    /// Heap bytes held beyond the posting itself (for memory accounting).
    pub(crate) fn byte_len(&self) -> usize {
        match self {
            Posting::One(_) => 0,
            Posting::Many(list) => 32 + list.byte_len(),
        }
    }
}

/// Iterator over a posting's ordinals, ascending by id.
pub(crate) enum PostingIter<'a> {
    One(Option<u32>),
    Many(OrdIter<'a>),
}

impl Iterator for PostingIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        match self {
            PostingIter::One(one) => one.take(),
            PostingIter::Many(iter) => iter.next(),
        }
    }
}
