//! A sorted list of document ordinals, ordered by the documents' ids, in chunks (issue 20).
//!
//! A collection numbers its documents with `u32` ordinals (`collection::docs`), reused after a
//! delete, so an ordinal says nothing about id order. Postings and the collection's id order
//! are lists of ordinals *sorted by id*: 4 bytes per entry instead of a 16-byte `Arc<str>` in a
//! B-tree node, and iterating one yields ids ascending, the contract's tie break, exactly as
//! the sets of ids did. Comparisons read the ids through [`IdOf`].
//!
//! The list is cut into chunks of at most [`MAX`] ordinals, so an insert or a remove moves at
//! most one chunk's worth of memory; finding the chunk is a binary search on the chunks' last
//! ids. Chunks are never empty.

use std::cmp::Ordering;

/// Largest chunk; a chunk that grows past it is split in two halves.
const MAX: usize = 1024;
/// The chunk size of lists built from sorted input.
const BUILT: usize = 512;

/// Resolves an ordinal to its document's id.
pub(crate) trait IdOf {
    /// The id of the live document numbered `ord`.
    fn id_of(&self, ord: u32) -> &str;
}

/// Ordinals, ascending by their ids, distinct.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrdList {
    chunks: Vec<Vec<u32>>,
    len: usize,
}

impl OrdList {
    /// A list of ordinals already ascending by id.
    pub(crate) fn from_sorted(ords: &[u32]) -> OrdList {
        OrdList {
            chunks: ords.chunks(BUILT).map(<[u32]>::to_vec).collect(),
            len: ords.len(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The position of the first ordinal whose id is not `before` the probe (chunk, offset).
    fn seek(&self, before: impl Fn(u32) -> bool) -> (usize, usize) {
        let c = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(|&last| before(last)));
        match self.chunks.get(c) {
            Some(chunk) => (c, chunk.partition_point(|&o| before(o))),
            None => (c, 0),
        }
    }

    fn lower_bound(&self, id: &str, ids: &(impl IdOf + ?Sized)) -> (usize, usize) {
        self.seek(|o| ids.id_of(o) < id)
    }

    fn at(&self, (c, i): (usize, usize)) -> Option<u32> {
        self.chunks.get(c).and_then(|chunk| chunk.get(i)).copied()
    }

    /// Whether `ord` is in it.
    pub(crate) fn contains(&self, ord: u32, ids: &(impl IdOf + ?Sized)) -> bool {
        self.at(self.lower_bound(ids.id_of(ord), ids)) == Some(ord)
    }

    /// Adds `ord` (whose document must be live in `ids`); false when it was there already.
    pub(crate) fn insert(&mut self, ord: u32, ids: &(impl IdOf + ?Sized)) -> bool {
        let (c, i) = self.lower_bound(ids.id_of(ord), ids);
        if self.at((c, i)) == Some(ord) {
            return false;
        }
        self.len += 1;
        if c == self.chunks.len() {
            match self.chunks.last_mut() {
                Some(last) => last.push(ord),
                None => self.chunks.push(vec![ord]),
            }
            self.split(self.chunks.len() - 1);
            return true;
        }
        self.chunks[c].insert(i, ord);
        self.split(c);
        true
    }

    fn split(&mut self, c: usize) {
        if self.chunks[c].len() > MAX {
            let half = self.chunks[c].len() / 2;
            let tail = self.chunks[c].split_off(half);
            self.chunks[c].shrink_to_fit();
            self.chunks.insert(c + 1, tail);
        }
    }

    /// Removes `ord` (whose document must still be live in `ids`); false when it was absent.
    pub(crate) fn remove(&mut self, ord: u32, ids: &(impl IdOf + ?Sized)) -> bool {
        let (c, i) = self.lower_bound(ids.id_of(ord), ids);
        if self.at((c, i)) != Some(ord) {
            return false;
        }
        self.len -= 1;
        self.chunks[c].remove(i);
        if self.chunks[c].is_empty() {
            self.chunks.remove(c);
        } else if self.chunks[c].len() < self.chunks[c].capacity() / 4 {
            self.chunks[c].shrink_to_fit();
        }
        true
    }

    /// The first ordinal (smallest id).
    pub(crate) fn first(&self) -> Option<u32> {
        self.at((0, 0))
    }

    /// The ordinals in id order, starting just after the id `after` when given.
    pub(crate) fn iter_after<'a>(
        &'a self,
        after: Option<&str>,
        ids: &(impl IdOf + ?Sized),
    ) -> OrdIter<'a> {
        let (c, i) = match after {
            None => (0, 0),
            Some(after) => self.seek(|o| ids.id_of(o).cmp(after) != Ordering::Greater),
        };
        OrdIter {
            chunks: self.chunks.get(c..).unwrap_or_default(),
            at: i,
        }
    }

    /// Heap bytes held (for memory accounting).
    pub(crate) fn byte_len(&self) -> usize {
        self.chunks.capacity() * 24 + self.chunks.iter().map(|c| c.capacity() * 4).sum::<usize>()
    }
}

/// Iterator over an [`OrdList`], ascending by id.
#[derive(Clone)]
pub(crate) struct OrdIter<'a> {
    chunks: &'a [Vec<u32>],
    at: usize,
}

impl Iterator for OrdIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            let (chunk, rest) = self.chunks.split_first()?;
            if let Some(&o) = chunk.get(self.at) {
                self.at += 1;
                return Some(o);
            }
            self.chunks = rest;
            self.at = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ids(Vec<String>);
    impl IdOf for Ids {
        fn id_of(&self, ord: u32) -> &str {
            &self.0[ord as usize]
        }
    }

    /// Inserts and removes in a scrambled order agree with a sorted `Vec` of ids, across many
    /// chunk splits.
    #[test]
    fn matches_a_sorted_vec() {
        let n = 5000u32;
        let ids = Ids((0..n).map(|i| format!("{:08}", i * 7919 % 5003)).collect());
        let mut list = OrdList::default();
        let mut model: Vec<u32> = Vec::new();
        for o in 0..n {
            assert!(list.insert(o, &ids));
            assert!(!list.insert(o, &ids));
            model.push(o);
        }
        model.sort_by(|a, b| ids.id_of(*a).cmp(ids.id_of(*b)));
        assert_eq!(list.iter_after(None, &ids).collect::<Vec<_>>(), model);
        for o in (0..n).step_by(3) {
            assert!(list.remove(o, &ids));
            assert!(!list.remove(o, &ids));
        }
        model.retain(|o| o % 3 != 0);
        assert_eq!(list.len(), model.len());
        assert_eq!(list.iter_after(None, &ids).collect::<Vec<_>>(), model);
        for (k, &o) in model.iter().enumerate().step_by(97) {
            let after = ids.id_of(o);
            let got: Vec<u32> = list.iter_after(Some(after), &ids).collect();
            assert_eq!(got, model[k + 1..], "after {after}");
            assert!(list.contains(o, &ids));
        }
        assert!(!list.contains(0, &ids));
        assert_eq!(list.first(), model.first().copied());
        let built = OrdList::from_sorted(&model);
        assert_eq!(
            built.iter_after(None, &ids).collect::<Vec<_>>(),
            list.iter_after(None, &ids).collect::<Vec<_>>()
        );
    }
}
