//! Open files and directories: what each file handle (`fh`) holds between
//! `open` and `release`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::control::ControlHandle;
use super::node::Node;

/// A directory listing taken at opendir: `(name, node, inode)`; readdir offsets
/// index into it, so a long listing read in many calls stays linear and consistent.
pub type Listing = Arc<Vec<(String, Node, u64)>>;

pub enum Handle {
    /// A generated file's contents, rendered at open. Shared with in-flight reads
    /// through the Arc so no lock is held while replying.
    Snapshot(Arc<Vec<u8>>),
    Control(ControlHandle),
    /// A listing that streams (`pfn/db`, `pfn/lists/*`, `ptes`,
    /// `workingset`): a cursor and one chunk, made as it is read.
    Stream(Arc<super::stream::Stream>),
    Dir(Listing),
    /// A `mem` file: reads and writes go to the simulated MMU.
    Mem(super::node::MemSpace),
    /// `system/events`: this reader's subscription (its own bounded queue).
    Events(Arc<crate::mm::base::events::Subscription>),
}

/// Handle numbers are never reused while mounted.
pub struct HandleTable {
    next: AtomicU64,
    map: HashMap<u64, Handle>,
}

impl HandleTable {
    pub fn new() -> HandleTable {
        HandleTable {
            next: AtomicU64::new(1),
            map: HashMap::new(),
        }
    }

    pub fn insert(&mut self, h: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.map.insert(fh, h);
        fh
    }

    pub fn get_mut(&mut self, fh: u64) -> Option<&mut Handle> {
        self.map.get_mut(&fh)
    }

    pub fn get(&self, fh: u64) -> Option<&Handle> {
        self.map.get(&fh)
    }

    pub fn remove(&mut self, fh: u64) -> Option<Handle> {
        self.map.remove(&fh)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Default for HandleTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The part of `data` a read at `offset` of `size` bytes returns.
pub fn slice_at(data: &[u8], offset: u64, size: u32) -> &[u8] {
    let len = data.len() as u64;
    if offset >= len {
        return &[];
    }
    let end = (offset + size as u64).min(len);
    &data[offset as usize..end as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices() {
        let d = b"hello world";
        assert_eq!(slice_at(d, 0, 5), b"hello");
        assert_eq!(slice_at(d, 6, 100), b"world");
        assert_eq!(slice_at(d, 11, 4), b"");
        assert_eq!(slice_at(d, u64::MAX, u32::MAX), b"");
    }

    #[test]
    fn handles_are_not_reused() {
        let mut t = HandleTable::new();
        let a = t.insert(Handle::Snapshot(Arc::new(vec![])));
        t.remove(a);
        let b = t.insert(Handle::Snapshot(Arc::new(vec![])));
        assert_ne!(a, b);
        assert_eq!(t.len(), 1);
    }
}
