//! The inode table: stable inode numbers for nodes, with the kernel's lookup counts.
//!
//! An inode number is handed out the first time a node is seen and kept while the
//! kernel holds a reference (its lookup count). Lookup-only names (`pte/<VA>`,
//! `pfn/<PFN>`) can be looked up in unbounded numbers, so a node whose count drops
//! to zero through `forget` leaves the table.

use std::collections::HashMap;

use super::node::{Dir, Node};
use super::volume::FILES_INO;

pub const ROOT_INO: u64 = 1;

struct Entry {
    node: Node,
    /// How many lookups the kernel has not yet forgotten.
    nlookup: u64,
}

pub struct InodeTable {
    by_ino: HashMap<u64, Entry>,
    by_node: HashMap<Node, u64>,
    next_ino: u64,
}

impl InodeTable {
    pub fn new() -> InodeTable {
        let mut t = InodeTable {
            by_ino: HashMap::new(),
            by_node: HashMap::new(),
            next_ino: FILES_INO + 1,
        };
        // The root and `files/` (whose inodes below are the volume's own) are
        // never forgotten.
        for (ino, node) in [(ROOT_INO, Node::Dir(Dir::Root)), (FILES_INO, Node::Volume)] {
            t.by_ino.insert(ino, Entry { node, nlookup: 1 });
            t.by_node.insert(node, ino);
        }
        t
    }

    pub fn node(&self, ino: u64) -> Option<Node> {
        self.by_ino.get(&ino).map(|e| e.node)
    }

    /// The inode of `node`, allocating one if needed, without counting a lookup
    /// (for readdir entries).
    pub fn ino_of(&mut self, node: Node) -> u64 {
        if let Some(&ino) = self.by_node.get(&node) {
            return ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.by_ino.insert(ino, Entry { node, nlookup: 0 });
        self.by_node.insert(node, ino);
        ino
    }

    /// The inode of `node`, counting one kernel lookup (entry replies).
    pub fn lookup(&mut self, node: Node) -> u64 {
        let ino = self.ino_of(node);
        if let Some(e) = self.by_ino.get_mut(&ino) {
            e.nlookup += 1;
        }
        ino
    }

    /// The kernel dropped `n` references; the entry goes when none are left.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO || ino == FILES_INO {
            return;
        }
        let Some(e) = self.by_ino.get_mut(&ino) else {
            return;
        };
        e.nlookup = e.nlookup.saturating_sub(n);
        if e.nlookup == 0 {
            let node = e.node;
            self.by_ino.remove(&ino);
            self.by_node.remove(&node);
        }
    }

    pub fn len(&self) -> usize {
        self.by_ino.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ino.is_empty()
    }
}

impl Default for InodeTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::node::File;

    #[test]
    fn lookups_are_counted_and_forgotten() {
        let mut t = InodeTable::new();
        let n = Node::File(File::System(crate::fs::node::SystemFile::Config));
        let a = t.lookup(n);
        let b = t.lookup(n);
        assert_eq!(a, b);
        assert_eq!(t.node(a), Some(n));
        t.forget(a, 1);
        assert_eq!(t.node(a), Some(n));
        t.forget(a, 1);
        assert_eq!(t.node(a), None);
        assert_eq!(t.len(), 2, "the root and files/ stay");
        // A new inode number after the old one was forgotten: never reused.
        assert_ne!(t.lookup(n), a);
        t.forget(ROOT_INO, 100);
        assert!(t.node(ROOT_INO).is_some());
        t.forget(9999, 1);
    }
}
