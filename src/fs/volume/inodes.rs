//! The volume's inode table: a FUSE node id for each host file the kernel holds,
//! and the paths (relative to the volume's root) by which it was reached.
//!
//! Why paths and not an O_PATH descriptor per inode: the kernel may hold many
//! more inodes than a process may have descriptors (an `ls -R` of a big tree),
//! and a path is resolved from the volume's root on every use, so even a
//! directory moved out of the volume behind mmfs's back cannot take an
//! operation outside. The cost is keeping the paths right: a rename rewrites
//! every path under the name it moves, an unlink drops the path. A file with
//! hard links keeps every name it was looked up by, so losing one name leaves
//! the others. A file with no name left (unlinked while open) is reached
//! through its open handles.
//!
//! Node ids: a host file's (dev, ino) identifies it, so hard links share one
//! id. On the volume's own device the id is `VOLUME_BASE + ino`, computed, so a
//! directory listing gives each entry the inode number `stat` will show
//! without adding a table entry; files of other devices (a mount inside the
//! volume) get ids counted from `OTHER_BASE`. An entry lives while the kernel
//! holds a lookup on it and leaves at `forget`; the volume's root is
//! `FILES_INO` for ever.

use std::collections::HashMap;

use super::resolve::RelPath;
use crate::mm::api::FileId;

/// The node id of `files/`, the volume's root; fixed, never forgotten.
pub const FILES_INO: u64 = 2;
/// The first node id of the volume's own files.
pub const VOLUME_BASE: u64 = 1 << 60;
/// Host inode numbers below this map to `VOLUME_BASE + ino`.
const DIRECT_LIMIT: u64 = 1 << 59;
/// Ids handed out one by one, for inode numbers that do not map.
const OTHER_BASE: u64 = VOLUME_BASE + DIRECT_LIMIT;
/// d_ino for an entry whose id is not known (as libfuse's FUSE_UNKNOWN_INO).
pub const UNKNOWN_INO: u64 = 0xffff_ffff;
/// At most this many names are kept for one file (hard links).
const MAX_PATHS: usize = 16;

/// Whether the node id is one of the volume's.
pub fn owns(ino: u64) -> bool {
    ino == FILES_INO || ino >= VOLUME_BASE
}

#[derive(Debug)]
struct Entry {
    key: FileId,
    /// A regular file: renames are told to the cache manager.
    regular: bool,
    /// The names it is known by, most recent last.
    paths: Vec<RelPath>,
    nlookup: u64,
}

#[derive(Debug)]
pub struct VolumeInodes {
    root: FileId,
    entries: HashMap<u64, Entry>,
    by_key: HashMap<FileId, u64>,
    next_other: u64,
}

impl VolumeInodes {
    pub fn new(root: FileId) -> VolumeInodes {
        let mut t = VolumeInodes {
            root,
            entries: HashMap::new(),
            by_key: HashMap::new(),
            next_other: OTHER_BASE,
        };
        t.entries.insert(
            FILES_INO,
            Entry {
                key: root,
                regular: false,
                paths: vec![RelPath::root()],
                nlookup: 1,
            },
        );
        t.by_key.insert(root, FILES_INO);
        t
    }

    /// The id a directory listing shows for host inode `ino` of the directory's
    /// device `dev`: the id `stat` gives, without making an entry.
    pub fn listed_ino(&self, dev: u64, ino: u64) -> u64 {
        let key = FileId { dev, ino };
        if let Some(&id) = self.by_key.get(&key) {
            return id;
        }
        if dev == self.root.dev && ino < DIRECT_LIMIT {
            VOLUME_BASE + ino
        } else {
            UNKNOWN_INO
        }
    }

    /// The file `key`, reached by `path`: its id, counting one kernel lookup.
    pub fn lookup(&mut self, key: FileId, path: RelPath, regular: bool) -> u64 {
        let id = match self.by_key.get(&key) {
            Some(&id) => id,
            None => {
                let id = if key.dev == self.root.dev && key.ino < DIRECT_LIMIT {
                    VOLUME_BASE + key.ino
                } else {
                    self.next_other += 1;
                    self.next_other - 1
                };
                self.by_key.insert(key, id);
                id
            }
        };
        let e = self.entries.entry(id).or_insert(Entry {
            key,
            regular,
            paths: Vec::new(),
            nlookup: 0,
        });
        e.regular = regular;
        e.paths.retain(|p| *p != path);
        e.paths.push(path);
        if e.paths.len() > MAX_PATHS {
            e.paths.remove(0);
        }
        if id != FILES_INO {
            e.nlookup += 1;
        }
        id
    }

    /// The file behind an id and its known names, most recent first.
    pub fn get(&self, id: u64) -> Option<(FileId, Vec<RelPath>)> {
        self.entries
            .get(&id)
            .map(|e| (e.key, e.paths.iter().rev().cloned().collect()))
    }

    /// The kernel dropped `n` lookups; the entry goes when none are left.
    pub fn forget(&mut self, id: u64, n: u64) {
        if id == FILES_INO {
            return;
        }
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        e.nlookup = e.nlookup.saturating_sub(n);
        if e.nlookup == 0 {
            let key = e.key;
            self.entries.remove(&id);
            self.by_key.remove(&key);
        }
    }

    /// `path` is gone (unlink, rmdir, or replaced by a rename): no entry is
    /// reached by it, or by anything under it, any more.
    pub fn unlinked(&mut self, path: &RelPath) {
        for e in self.entries.values_mut() {
            if e.key != self.root {
                e.paths.retain(|p| !p.is_under(path));
            }
        }
    }

    /// `from` is now called `to`, and everything under it moved with it.
    /// Returns the regular files whose name changed, with their new names.
    pub fn renamed(&mut self, from: &RelPath, to: &RelPath) -> Vec<(FileId, RelPath)> {
        self.remap(|p| p.rebase(from, to))
    }

    /// `a` and `b` changed places (RENAME_EXCHANGE).
    pub fn exchanged(&mut self, a: &RelPath, b: &RelPath) -> Vec<(FileId, RelPath)> {
        self.remap(|p| p.rebase(a, b).or_else(|| p.rebase(b, a)))
    }

    fn remap(&mut self, f: impl Fn(&RelPath) -> Option<RelPath>) -> Vec<(FileId, RelPath)> {
        let mut moved = Vec::new();
        for e in self.entries.values_mut() {
            if e.key == self.root {
                continue;
            }
            for p in e.paths.iter_mut() {
                if let Some(new) = f(p) {
                    *p = new;
                    if e.regular {
                        moved.push((e.key, p.clone()));
                    }
                }
            }
        }
        moved
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::parse(s.as_bytes()).unwrap()
    }

    fn key(ino: u64) -> FileId {
        FileId { dev: 7, ino }
    }

    #[test]
    fn ids_follow_host_inodes_and_are_forgotten() {
        let mut t = VolumeInodes::new(key(2));
        assert_eq!(t.get(FILES_INO).unwrap().1, vec![RelPath::root()]);
        let a = t.lookup(key(100), p("a"), true);
        assert_eq!(a, VOLUME_BASE + 100);
        assert_eq!(t.listed_ino(7, 100), a);
        assert_eq!(
            t.listed_ino(7, 101),
            VOLUME_BASE + 101,
            "computed, no entry"
        );
        assert_eq!(t.listed_ino(7, 2), FILES_INO);
        assert_eq!(t.len(), 2);
        // A hard link: the same id, both names kept.
        assert_eq!(t.lookup(key(100), p("d/b"), true), a);
        assert_eq!(t.get(a).unwrap().1, vec![p("d/b"), p("a")]);
        t.unlinked(&p("d/b"));
        assert_eq!(t.get(a).unwrap().1, vec![p("a")]);
        t.forget(a, 1);
        assert!(t.get(a).is_some());
        t.forget(a, 1);
        assert!(t.get(a).is_none());
        assert_eq!(t.len(), 1);
        t.forget(FILES_INO, 10);
        assert!(t.get(FILES_INO).is_some());
        // Another device, or a huge inode number: counted ids.
        let o = t.lookup(FileId { dev: 8, ino: 5 }, p("mnt"), false);
        assert!(o >= OTHER_BASE && owns(o));
        assert_eq!(t.listed_ino(8, 5), o);
        assert!(!owns(1) && !owns(3) && owns(FILES_INO));
    }

    #[test]
    fn renames_move_subtrees() {
        let mut t = VolumeInodes::new(key(2));
        let d = t.lookup(key(10), p("d"), false);
        let f = t.lookup(key(11), p("d/f"), true);
        let g = t.lookup(key(12), p("dx/g"), true);
        let moved = t.renamed(&p("d"), &p("e/d2"));
        assert_eq!(moved, vec![(key(11), p("e/d2/f"))]);
        assert_eq!(t.get(d).unwrap().1, vec![p("e/d2")]);
        assert_eq!(t.get(f).unwrap().1, vec![p("e/d2/f")]);
        assert_eq!(
            t.get(g).unwrap().1,
            vec![p("dx/g")],
            "a mere prefix is not under"
        );
        t.exchanged(&p("e/d2/f"), &p("dx/g"));
        assert_eq!(t.get(f).unwrap().1, vec![p("dx/g")]);
        assert_eq!(t.get(g).unwrap().1, vec![p("e/d2/f")]);
        t.unlinked(&p("e"));
        assert!(t.get(d).unwrap().1.is_empty());
        assert_eq!(t.get(FILES_INO).unwrap().1, vec![RelPath::root()]);
    }
}
