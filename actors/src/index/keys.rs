//! Each document's own `(path id, value key)` list: the forward index.

use super::PathId;

/// One document's `(path id, value key)` pairs, ascending by path id, as one byte blob of
/// `varint(path id) varint(key length) key` records (a few bytes of overhead per field instead
/// of a map per document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DocKeys(Box<[u8]>);

impl DocKeys {
    pub(crate) fn build<K: AsRef<[u8]>>(pairs: &[(PathId, K)]) -> DocKeys {
        let size = pairs.iter().map(|(_, k)| k.as_ref().len() + 4).sum();
        let mut out = Vec::with_capacity(size);
        for (pid, key) in pairs {
            let key = key.as_ref();
            put_varint(&mut out, u64::from(*pid));
            put_varint(&mut out, key.len() as u64);
            out.extend_from_slice(key);
        }
        DocKeys(out.into_boxed_slice())
    }

    /// The pairs, ascending by path id.
    pub(crate) fn iter(&self) -> DocKeysIter<'_> {
        DocKeysIter { rest: &self.0 }
    }

    /// The key of the value at `pid`, or `None` when the document lacks that path.
    pub(crate) fn get(&self, pid: PathId) -> Option<&[u8]> {
        for (p, key) in self.iter() {
            if p == pid {
                return Some(key);
            }
            if p > pid {
                return None;
            }
        }
        None
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn byte_len(&self) -> usize {
        self.0.len()
    }
}

/// Iterator over a [`DocKeys`] blob.
pub(crate) struct DocKeysIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for DocKeysIter<'a> {
    type Item = (PathId, &'a [u8]);

    fn next(&mut self) -> Option<(PathId, &'a [u8])> {
        let mut rest = self.rest;
        let pid = take_varint(&mut rest)?;
        let len = take_varint(&mut rest)? as usize;
        let key = rest.get(..len)?;
        self.rest = &rest[len..];
        Some((pid as PathId, key))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX)] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut slice = out.as_slice();
            assert_eq!(take_varint(&mut slice), Some(v));
            assert!(slice.is_empty());
        }
    }
}
