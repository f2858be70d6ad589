//! The documents of a collection, numbered (issue 20): each live document sits in a slot
//! whose number, its ordinal, is what postings hold; a hash table of ordinals finds a slot by
//! id, and an [`OrdList`] keeps the ordinals in id order.
//!
//! Slots live in pages of [`PAGE`] (the last one grows as needed, so a small collection stays
//! small and a large one never copies all its slots at once). A deleted document's ordinal goes
//! on a free list and is reused first, so the table stays as large as the collection.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::StoredDoc;
use crate::index::{DocId, IdOf, OrdList, Posting};

/// Slots per page.
const PAGE: usize = 4096;

#[derive(Debug, Clone)]
struct Slot {
    id: DocId,
    doc: StoredDoc,
}

/// The documents of a collection: found by id in O(1) (a query fetches every candidate it
/// takes from an index by ordinal, and a GET by id), and listed in id order (the default query
/// order and the tie break of every sort).
#[derive(Debug, Clone, Default)]
pub(crate) struct Docs {
    pages: Vec<Vec<Option<Slot>>>,
    free: Vec<u32>,
    /// Ordinals, found by their ids' hashes. SipHash with a per-process key, not a faster
    /// unkeyed hash: ids are chosen by users.
    by_id: HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
    /// Every live ordinal, ascending by id.
    order: OrdList,
}

impl IdOf for Docs {
    fn id_of(&self, ord: u32) -> &str {
        self.slot(ord).map_or("", |s| &s.id)
    }
}

impl Docs {
    fn slot(&self, ord: u32) -> Option<&Slot> {
        let ord = ord as usize;
        self.pages.get(ord / PAGE)?.get(ord % PAGE)?.as_ref()
    }

    fn slot_mut(&mut self, ord: u32) -> Option<&mut Option<Slot>> {
        let ord = ord as usize;
        self.pages.get_mut(ord / PAGE)?.get_mut(ord % PAGE)
    }

    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Documents already ascending by distinct id, numbered by position (start-up).
    pub(crate) fn from_sorted(docs: Vec<(DocId, StoredDoc)>) -> Docs {
        let n = docs.len();
        let mut out = Docs {
            by_id: HashTable::with_capacity(n),
            ..Docs::default()
        };
        let mut page: Vec<Option<Slot>> = Vec::with_capacity(n.min(PAGE));
        for (ord, (id, doc)) in docs.into_iter().enumerate() {
            let hash = out.hash(&id);
            let hasher = |o: &u32| out.hasher.hash_one(slot_id(&out.pages, &page, *o));
            out.by_id.insert_unique(hash, ord as u32, hasher);
            page.push(Some(Slot { id, doc }));
            if page.len() == PAGE {
                out.pages.push(std::mem::take(&mut page));
                page.reserve_exact((n - (ord + 1)).min(PAGE));
            }
        }
        if !page.is_empty() {
            out.pages.push(page);
        }
        let ords: Vec<u32> = (0..n as u32).collect();
        out.order = OrdList::from_sorted(&ords);
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The ordinal of the document with this id.
    pub(crate) fn ord_of(&self, id: &str) -> Option<u32> {
        let hash = self.hash(id);
        self.by_id
            .find(hash, |&o| self.slot(o).is_some_and(|s| &*s.id == id))
            .copied()
    }

    /// The document numbered `ord`, with its interned id.
    pub(crate) fn at(&self, ord: u32) -> Option<(&DocId, &StoredDoc)> {
        self.slot(ord).map(|s| (&s.id, &s.doc))
    }

    pub(crate) fn at_mut(&mut self, ord: u32) -> Option<&mut StoredDoc> {
        self.slot_mut(ord)?.as_mut().map(|s| &mut s.doc)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&StoredDoc> {
        self.at(self.ord_of(id)?).map(|(_, d)| d)
    }

    pub(crate) fn get_key_value(&self, id: &str) -> Option<(&DocId, &StoredDoc)> {
        self.at(self.ord_of(id)?)
    }

    /// Documents in ascending id order, starting after `after` when given.
    pub(crate) fn ordered_after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a DocId, &'a StoredDoc)> + 'a {
        self.order
            .iter_after(after, self)
            .filter_map(|o| self.at(o))
    }

    /// The documents of `posting`, ascending by id, starting after `after` when given.
    pub(crate) fn posting<'a>(
        &'a self,
        posting: &'a Posting,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a DocId, &'a StoredDoc)> + 'a {
        posting.iter_after(after, self).filter_map(|o| self.at(o))
    }

    /// Every document, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&DocId, &StoredDoc)> {
        self.iter_ords().map(|(_, id, doc)| (id, doc))
    }

    /// Every document with its ordinal, in no particular order.
    pub(crate) fn iter_ords(&self) -> impl Iterator<Item = (u32, &DocId, &StoredDoc)> {
        self.pages
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(o, s)| s.as_ref().map(|s| (o as u32, &s.id, &s.doc)))
    }

    /// Every live ordinal with its document, in no particular order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&DocId, &mut StoredDoc)> {
        self.pages
            .iter_mut()
            .flatten()
            .filter_map(|s| s.as_mut().map(|s| (&s.id, &mut s.doc)))
    }

    /// Adds a document whose id is not present; returns its ordinal.
    pub(crate) fn insert_new(&mut self, id: DocId, doc: StoredDoc) -> u32 {
        debug_assert!(self.ord_of(&id).is_none(), "{id} is new");
        let hash = self.hash(&id);
        let ord = match self.free.pop() {
            Some(ord) => {
                if let Some(slot) = self.slot_mut(ord) {
                    *slot = Some(Slot { id, doc });
                }
                ord
            }
            None => {
                if self.pages.last().is_none_or(|p| p.len() == PAGE) {
                    self.pages.push(Vec::new());
                }
                let count = (self.pages.len() - 1) * PAGE;
                let page = self.pages.last_mut().expect("a page was just ensured");
                page.push(Some(Slot { id, doc }));
                (count + page.len() - 1) as u32
            }
        };
        let Docs {
            pages,
            by_id,
            hasher,
            ..
        } = self;
        by_id.insert_unique(hash, ord, |&o| {
            hasher.hash_one(page_id(pages, o).unwrap_or_default())
        });
        let mut order = std::mem::take(&mut self.order);
        order.insert(ord, self);
        self.order = order;
        ord
    }

    /// Removes the document numbered `ord` (its index entries must be gone already, since
    /// they are compared by its id).
    pub(crate) fn remove(&mut self, ord: u32) -> Option<(DocId, StoredDoc)> {
        let id = self.slot(ord)?.id.clone();
        let mut order = std::mem::take(&mut self.order);
        order.remove(ord, self);
        self.order = order;
        let hash = self.hash(&id);
        if let Ok(entry) = self.by_id.find_entry(hash, |&o| o == ord) {
            entry.remove();
        }
        let slot = self.slot_mut(ord)?.take()?;
        self.free.push(ord);
        Some((slot.id, slot.doc))
    }

    /// Heap bytes of the slot pages, the hash table and the id order (memory accounting).
    pub(crate) fn table_bytes(&self) -> usize {
        let slots: usize = self.pages.iter().map(Vec::capacity).sum();
        slots * std::mem::size_of::<Option<Slot>>()
            + self.by_id.capacity() * 5
            + self.order.byte_len()
            + self.free.capacity() * 4
    }
}

fn page_id(pages: &[Vec<Option<Slot>>], ord: u32) -> Option<&str> {
    let ord = ord as usize;
    pages
        .get(ord / PAGE)?
        .get(ord % PAGE)?
        .as_ref()
        .map(|s| &*s.id)
}

/// The id of `ord` during [`Docs::from_sorted`], when the last page is still being filled.
fn slot_id<'a>(pages: &'a [Vec<Option<Slot>>], page: &'a [Option<Slot>], ord: u32) -> &'a str {
    let o = ord as usize;
    if o / PAGE < pages.len() {
        page_id(pages, ord).unwrap_or_default()
    } else {
        page.get(o % PAGE)
            .and_then(Option::as_ref)
            .map_or("", |s| &s.id)
    }
}
