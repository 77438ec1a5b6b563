//! Working sets: the list of pages a process (or the system) has valid (MMWSL).
//!
//! Each entry (WSLE) records the virtual page, its frame, its age and whether it is
//! locked; the PFN's `WsIndex` points back at the entry. NT keeps locked entries
//! below `FirstDynamic`; here a `locked` flag does the same job.

use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Pfn, Va};

/// What kind of page an entry holds: page-table pages are part of the working set
/// but never trimmed here (they hold the transition PTEs of trimmed pages).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WsleKind {
    Private,
    PageTable,
    /// A page of a section (or a fork's clone block) mapped through a prototype
    /// PTE. Other processes may map it too, so the PFN's WsIndex cannot name this
    /// entry: it is found by address in the working set's hash (NT: the WSLE
    /// hash table used for shared pages whose WsIndex does not match).
    Shared,
    /// A data page of the process's hyperspace (the VAD bitmap, the
    /// working-set list itself), locked from creation (`hyperspace.rs`).
    System,
}

impl WsleKind {
    pub fn name(self) -> &'static str {
        match self {
            WsleKind::Private => "private",
            WsleKind::PageTable => "page-table",
            WsleKind::Shared => "shared",
            WsleKind::System => "system",
        }
    }
}

/// One working-set list entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Wsle {
    pub va: Va,
    pub pfn: Pfn,
    /// Aging: 0 when the accessed bit was last seen set, up to 3 (WRK: 2 bits).
    pub age: u8,
    /// LockedInWs (VirtualLock): never trimmed.
    pub locked: bool,
    /// The page's protection (NT keeps it in the WSLE when it differs from the VAD).
    pub protection: Protection,
    pub kind: WsleKind,
}

impl Wsle {
    /// A new, young, unlocked entry.
    pub fn new(va: Va, pfn: Pfn, protection: Protection, kind: WsleKind) -> Wsle {
        Wsle {
            va,
            pfn,
            age: 0,
            locked: false,
            protection,
            kind,
        }
    }
}

impl Wsle {
    /// Whether a trim may take this entry: not locked, not a page table.
    pub fn trimmable(&self) -> bool {
        !self.locked && self.kind != WsleKind::PageTable
    }
}

/// Default working-set limits on a normal machine (facts §5).
pub const DEFAULT_MINIMUM: u64 = 50;
pub const DEFAULT_MAXIMUM: u64 = 345;
/// The System process's defaults.
pub const SYSTEM_MINIMUM: u64 = 50;
pub const SYSTEM_MAXIMUM: u64 = 450;
/// No working set may be set below this many pages (MmMinimumWorkingSetSize).
pub const MINIMUM_FLOOR: u64 = 20;
/// The oldest age an entry reaches (WRK: two bits of age in the WSLE).
pub const MAXIMUM_AGE: u8 = 3;

/// Virtual pages in a chunk of `SharedIndex`: one 256 KB view of the
/// system cache.
const CHUNK_PAGES: u64 = 64;
/// An empty slot of a chunk (no working set holds 2^32 - 1 entries).
const NO_ENTRY: u32 = u32::MAX;

/// The working-set indexes of shared entries by virtual page number (NT:
/// the WSLE hash table). Pages come and go in runs of consecutive pages (a
/// view at a time in the system cache), so the map holds chunks of 64
/// pages, ordered by their first page: a page's insert or lookup finds its
/// chunk and stores or reads one slot. A map of single pages cost about
/// 7% of the read-ahead thread's time in a cold cached read (a B-tree
/// insert per page); a hash table of single pages scattered consecutive
/// pages over megabytes of table (cache misses on every insert).
#[derive(Default)]
struct SharedIndex {
    chunks: std::collections::BTreeMap<u64, SharedChunk>,
}

struct SharedChunk {
    slots: Box<[u32; CHUNK_PAGES as usize]>,
    /// Slots in use: the chunk goes when its last entry does.
    used: u32,
}

impl SharedIndex {
    fn insert(&mut self, vpn: u64, index: u32) {
        debug_assert_ne!(index, NO_ENTRY);
        let chunk = self
            .chunks
            .entry(vpn / CHUNK_PAGES)
            .or_insert_with(|| SharedChunk {
                slots: Box::new([NO_ENTRY; CHUNK_PAGES as usize]),
                used: 0,
            });
        let slot = &mut chunk.slots[(vpn % CHUNK_PAGES) as usize];
        chunk.used += u32::from(*slot == NO_ENTRY);
        *slot = index;
    }

    fn remove(&mut self, vpn: u64) {
        let key = vpn / CHUNK_PAGES;
        let Some(chunk) = self.chunks.get_mut(&key) else {
            return;
        };
        let slot = &mut chunk.slots[(vpn % CHUNK_PAGES) as usize];
        if *slot != NO_ENTRY {
            *slot = NO_ENTRY;
            chunk.used -= 1;
            if chunk.used == 0 {
                self.chunks.remove(&key);
            }
        }
    }

    fn get(&self, vpn: u64) -> Option<u32> {
        let chunk = self.chunks.get(&(vpn / CHUNK_PAGES))?;
        Some(chunk.slots[(vpn % CHUNK_PAGES) as usize]).filter(|&i| i != NO_ENTRY)
    }
}

pub struct WorkingSet {
    entries: Vec<Option<Wsle>>,
    /// Shared entries' indexes by virtual page number (`SharedIndex`).
    shared: SharedIndex,
    /// Free entry indexes, reused last-freed first.
    free: Vec<u32>,
    count: u64,
    pub peak: u64,
    pub minimum: u64,
    pub maximum: u64,
    /// MaximumWorkingSetHard: replace at the maximum even when memory is plentiful.
    pub hard_maximum: bool,
    /// The replacement clock hand (NT's NextSlot): where the next victim search starts.
    pub hand: u32,
}

impl WorkingSet {
    pub fn new(minimum: u64, maximum: u64) -> WorkingSet {
        WorkingSet {
            entries: Vec::new(),
            shared: SharedIndex::default(),
            free: Vec::new(),
            count: 0,
            peak: 0,
            minimum,
            maximum,
            hard_maximum: false,
            hand: 0,
        }
    }

    /// Entry slots, used or free (the range indexes fall in).
    pub fn slots(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Adds an entry; returns its index (the PFN's WsIndex).
    pub fn insert(&mut self, e: Wsle) -> u32 {
        let index = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(e);
                i
            }
            None => {
                self.entries.push(Some(e));
                (self.entries.len() - 1) as u32
            }
        };
        if e.kind == WsleKind::Shared {
            self.shared.insert(e.va.vpn().0, index);
        }
        self.count += 1;
        self.peak = self.peak.max(self.count);
        index
    }

    pub fn remove(&mut self, index: u32) -> Option<Wsle> {
        let e = self.entries.get_mut(index as usize)?.take()?;
        if e.kind == WsleKind::Shared {
            self.shared.remove(e.va.vpn().0);
        }
        self.free.push(index);
        self.count -= 1;
        Some(e)
    }

    /// From now on free entries are reused lowest index first, as after WRK's
    /// MiRemoveWorkingSetPages (which MiEmptyWorkingSet ends with): it rebuilds
    /// the free list in ascending order, so pages faulted back in take entries in
    /// the order they come and a later trim meets them in that order. (WRK also
    /// compacts the valid entries to the front; here they keep their indexes.)
    pub fn reuse_lowest_first(&mut self) {
        self.free.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// The index of the shared entry for the page at `va`.
    pub fn shared_index(&self, va: Va) -> Option<u32> {
        self.shared.get(va.vpn().0)
    }

    pub fn get(&self, index: u32) -> Option<&Wsle> {
        self.entries.get(index as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, index: u32) -> Option<&mut Wsle> {
        self.entries.get_mut(index as usize)?.as_mut()
    }

    /// Entries in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Wsle)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, e)))
    }

    /// Entries in index order, mutable (aging).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut Wsle)> {
        self.entries
            .iter_mut()
            .enumerate()
            .filter_map(|(i, e)| e.as_mut().map(|e| (i as u32, e)))
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Entries locked in the working set (WRK's FirstDynamic): the process's
    /// own system pages and hyperspace tables, and the pages VirtualLock
    /// locked. VirtualLock's quota and the fluid-maximum rule count these.
    pub fn first_dynamic(&self) -> u64 {
        self.iter().filter(|(_, e)| e.locked).count() as u64
    }

    /// Pages VirtualLock locked (LockedInWs data pages).
    pub fn locked_count(&self) -> u64 {
        self.iter()
            .filter(|(_, e)| e.locked && matches!(e.kind, WsleKind::Private | WsleKind::Shared))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(va: u64) -> Wsle {
        Wsle {
            va: Va(va),
            pfn: Pfn(1),
            age: 0,
            locked: false,
            protection: Protection::READWRITE,
            kind: WsleKind::Private,
        }
    }

    /// Shared entries are found by address across chunk edges, and an
    /// emptied chunk is let go.
    #[test]
    fn shared_entries_are_found_by_address_until_removed() {
        let mut ws = WorkingSet::new(DEFAULT_MINIMUM, DEFAULT_MAXIMUM);
        let shared = |vpn: u64| Wsle {
            kind: WsleKind::Shared,
            ..e(vpn << 12)
        };
        let vpns = [0u64, 63, 64, 65, 127, 1 << 40];
        let indexes: Vec<u32> = vpns.iter().map(|&v| ws.insert(shared(v))).collect();
        ws.insert(e(62 << 12)); // private: not in the shared index
        for (&v, &i) in vpns.iter().zip(&indexes) {
            assert_eq!(ws.shared_index(Va(v << 12)), Some(i), "vpn {v}");
        }
        assert_eq!(ws.shared_index(Va(62 << 12)), None);
        assert_eq!(ws.shared_index(Va(1 << 12)), None);
        assert_eq!(ws.shared.chunks.len(), 3);
        for &i in &indexes[..2] {
            ws.remove(i);
        }
        assert_eq!(ws.shared_index(Va(0)), None);
        assert_eq!(ws.shared_index(Va(64 << 12)), Some(indexes[2]));
        assert_eq!(ws.shared.chunks.len(), 2, "the emptied chunk went");
    }

    #[test]
    fn insert_remove_reuses_slots_and_tracks_peak() {
        let mut ws = WorkingSet::new(DEFAULT_MINIMUM, DEFAULT_MAXIMUM);
        let a = ws.insert(e(0x10000));
        let b = ws.insert(e(0x11000));
        assert_eq!((a, b), (0, 1));
        assert_eq!(ws.remove(a).unwrap().va, Va(0x10000));
        assert!(ws.remove(a).is_none());
        assert_eq!(ws.insert(e(0x12000)), 0);
        assert_eq!(ws.len(), 2);
        assert_eq!(ws.peak, 2);
        ws.remove(0);
        ws.remove(1);
        assert!(ws.is_empty());
        assert_eq!(ws.peak, 2);
        assert!(ws.remove(99).is_none());
    }
}
