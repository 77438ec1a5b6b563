//! Choosing the operations and their arguments. Every draw from the seed's
//! generator is made by the `Chooser`, here and in `files.rs` for the file
//! operations (the runner's one other draw picks the process a batch check
//! reads back), in a fixed order, so a seed runs the same operations every
//! time (MEM_RESET, kinds 40 and 41, changed every seed's sequence when it
//! came, and so did the file model, kinds 42 to 47). A chooser looks at the
//! model but never changes it; the limits that keep the run inside what mmfs
//! can promise (`COMMIT_BUDGET`, `REGION_LIMIT`) skip an operation here,
//! before the draws that would follow.

use super::files::FileOp;
use super::reference::{GRANULE, Kind, Model, PAGE, RO, RW, Region, SectionModel, WC, guard};
use super::reset::touches_copies;
use super::{ADDRESS_WINDOW, COMMIT_BUDGET, REGION_LIMIT};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::base::wakeups::SystemThread;
use crate::mm::testutil::XorShift;

/// One operation of the run, on the process the runner chose (`pi`).
pub(super) enum Op {
    /// MEM_RESERVE (and MEM_COMMIT) anywhere.
    AllocAnywhere {
        pages: u64,
        commit: bool,
        protection: Protection,
    },
    /// MEM_RESERVE (and MEM_COMMIT) at an address.
    ReserveAt {
        address: u64,
        pages: u64,
        commit: bool,
        protection: Protection,
    },
    /// MEM_RESERVE | MEM_WRITE_WATCH (and MEM_COMMIT) anywhere.
    AllocWriteWatch {
        pages: u64,
        commit: bool,
        protection: Protection,
    },
    /// GetWriteWatch, then ResetWriteWatch, of `size` bytes at `address`.
    ResetWriteWatch {
        address: u64,
        size: u64,
    },
    /// MEM_RESET of `size` bytes at `address` (the protection is not used).
    Reset {
        address: u64,
        size: u64,
        protection: Protection,
    },
    /// MEM_COMMIT alone.
    CommitAt {
        address: u64,
        size: u64,
        protection: Protection,
    },
    /// Decommit or release where the process has no region.
    FreeNowhere {
        address: u64,
        release: bool,
    },
    /// Decommit or release `range` (address, size) in region `region`, from
    /// its page `first_i`.
    Free {
        region: Region,
        release: bool,
        first_i: u64,
        range: (u64, u64),
    },
    /// Release a whole private region or unmap a whole view.
    ReleaseRegion(Region),
    Protect {
        address: u64,
        size: u64,
        new: Protection,
    },
    /// Lock or unlock pages `fi..fi + n` of a private region.
    Lock {
        region: Region,
        fi: u64,
        n: u64,
        address: u64,
        size: u64,
        unlock: bool,
    },
    /// Working-set limits in pages (None: `-1 -1`, the defaults).
    WsLimits(Option<(u64, u64)>),
    Write {
        va: u64,
        data: Vec<u8>,
    },
    Read {
        va: u64,
        len: usize,
    },
    /// A section of `pages` pages: file-backed with `data` in its file, or
    /// pagefile-backed (None).
    CreateSection {
        pages: u64,
        data: Option<Vec<u8>>,
    },
    DeleteSection(usize),
    /// A view of `pages` pages of section `si` from `offset`, at `address`
    /// (0: anywhere).
    Map {
        si: usize,
        protection: Protection,
        offset: u64,
        pages: u64,
        address: u64,
    },
    /// Unmap at `address` in a view (None: at the base of private memory).
    Unmap {
        region: Region,
        address: Option<u64>,
    },
    Fork,
    CreateProcess,
    /// Terminate the process at this index.
    Terminate(usize),
    System(SystemOp),
    /// A call of the cache manager on a file of the file model (`files.rs`).
    File(FileOp),
}

/// The system threads, the lists and the clock.
pub(super) enum SystemOp {
    Trim,
    FlushModified,
    EmptyStandby,
    EmptyWorkingSets,
    MappedPageWriter,
    Tick(u64),
    Outswap,
    Inswap,
    Thread(SystemThread),
}

/// Draws from the seed's generator, looking at the model.
pub(super) struct Chooser<'a> {
    pub(super) rng: &'a mut XorShift,
    pub(super) model: &'a Model,
}

impl Chooser<'_> {
    pub(super) fn pick(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
    }

    pub(super) fn chance(&mut self, one_in: u64) -> bool {
        self.rng.below(one_in) == 0
    }

    /// The process an operation runs on, and which kind of operation (`0..48`).
    pub(super) fn process_and_kind(&mut self) -> (usize, u64) {
        let pi = self.pick(self.model.procs.len());
        (pi, self.rng.below(48))
    }

    /// The operation of kind `k` on process `pi`, or None where the kind
    /// comes to nothing this time.
    pub(super) fn op(&mut self, pi: usize, k: u64) -> Option<Op> {
        if self.model.procs[pi].regions.len() >= REGION_LIMIT && matches!(k, 0..=4 | 30..=31) {
            return self.random_region(pi, |_| true).map(Op::ReleaseRegion);
        }
        match k {
            0..=3 => self.alloc_anywhere(),
            4 => self.reserve_at(pi),
            5..=6 => Some(self.commit_at(pi)),
            7..=8 => self.free(pi),
            9..=11 => Some(self.protect(pi)),
            12..=14 => self.lock(pi),
            15 => Some(self.ws_limits()),
            16..=23 => Some(self.write(pi)),
            24..=28 => Some(self.read(pi)),
            29 => self.create_section(),
            30..=31 => self.map(pi),
            32 => self.unmap(pi),
            33 if self.chance(4) => self.delete_section(),
            34 if self.chance(3) => self.fork(pi),
            35 if self.chance(6) => (self.model.procs.len() < 8).then_some(Op::CreateProcess),
            36 if self.chance(4) => self.terminate(),
            37..=39 => Some(self.system()),
            40..=41 => self.reset(pi),
            42..=47 => self.file_op(pi),
            _ => None,
        }
    }

    fn private_protection(&mut self) -> Protection {
        [
            RW,
            RW,
            RW,
            RO,
            Protection::EXECUTE_READWRITE,
            Protection::NOACCESS,
            guard(RW),
        ][self.pick(7)]
    }

    /// Write-copy one time in `one_in` (refused for private memory), else a
    /// private protection.
    fn write_copy_or_private(&mut self, one_in: u64) -> Protection {
        if self.chance(one_in) {
            WC
        } else {
            self.private_protection()
        }
    }

    fn over_budget(&self, pages: u64) -> bool {
        self.model.committed_total() + pages > COMMIT_BUDGET
    }

    // ---- allocation ----------------------------------------------------------

    fn alloc_anywhere(&mut self) -> Option<Op> {
        let pages = 1 + self.rng.below(48);
        let commit = self.chance(2);
        if commit && self.over_budget(pages) {
            return None;
        }
        let protection = self.private_protection();
        if self.chance(6) {
            return Some(Op::AllocWriteWatch {
                pages,
                commit,
                protection,
            });
        }
        Some(Op::AllocAnywhere {
            pages,
            commit,
            protection,
        })
    }

    /// MEM_RESERVE at an address: near an existing reservation (mostly a
    /// conflict) or anywhere in the window.
    fn reserve_at(&mut self, pi: usize) -> Option<Op> {
        let pages = 1 + self.rng.below(32);
        let address = self.address_near_or_anywhere(pi);
        let commit = self.chance(2);
        if commit && self.over_budget(pages) {
            return None;
        }
        let protection = self.write_copy_or_private(10);
        Some(Op::ReserveAt {
            address,
            pages,
            commit,
            protection,
        })
    }

    /// MEM_COMMIT without MEM_RESERVE: inside one reservation, or refused.
    fn commit_at(&mut self, pi: usize) -> Op {
        let (address, size) = self.random_range(pi, true);
        let protection = self.write_copy_or_private(12);
        Op::CommitAt {
            address,
            size,
            protection,
        }
    }

    /// MEM_RESET: mostly whole pages of a region (sometimes from an address
    /// inside a page, which rounds inward), else a range of `random_range`:
    /// often less than a page, sometimes past its region or where nothing is
    /// reserved. Pages a write-copy view has copied are left alone
    /// (`reset.rs` says why). Any protection goes with it: MEM_RESET ignores it.
    fn reset(&mut self, pi: usize) -> Option<Op> {
        if self.chance(3) {
            return self.reset_write_watch(pi);
        }
        let (address, size) = match self.random_region(pi, |_| true) {
            Some(r) if !self.chance(4) => {
                let fi = self.rng.below(r.pages);
                let n = 1 + self.rng.below((r.pages - fi).min(16));
                let slack = if self.chance(4) {
                    self.rng.below(PAGE_SIZE)
                } else {
                    0
                };
                (r.base + fi * PAGE_SIZE + slack, n * PAGE_SIZE)
            }
            _ => self.random_range(pi, true),
        };
        let protection = self.write_copy_or_private(8);
        if let Some((first, bytes)) = Model::reset_pages(address, size)
            && let Some((r, true)) = self.model.procs[pi].lowest_region(first, bytes)
            && let Kind::View(v) = &r.kind
            && touches_copies(v, r.base, first, bytes)
        {
            return None;
        }
        Some(Op::Reset {
            address,
            size,
            protection,
        })
    }

    fn free(&mut self, pi: usize) -> Option<Op> {
        let release = self.chance(2);
        let Some(r) = self.random_region(pi, |_| true) else {
            let address = self.random_granule();
            return Some(Op::FreeNowhere { address, release });
        };
        let at_base = self.chance(2);
        let first_i = if at_base { 0 } else { self.rng.below(r.pages) };
        let address = r.base + first_i * PAGE_SIZE + self.rng.below(PAGE_SIZE);
        let size = if self.chance(3) {
            0
        } else {
            (1 + self.rng.below(r.pages + 2 - first_i)) * PAGE_SIZE - self.rng.below(PAGE_SIZE)
        };
        Some(Op::Free {
            region: r,
            release,
            first_i,
            range: (address, size),
        })
    }

    // ---- protect, lock, limits -----------------------------------------------

    fn protect(&mut self, pi: usize) -> Op {
        let (address, size) = self.random_range(pi, false);
        let lowest = self.model.procs[pi].lowest_region(address, size);
        let view = lowest.is_some_and(|(r, _)| r.is_view());
        let new = if view {
            [RW, RO, WC, Protection::NOACCESS, Protection::EXECUTE_READ][self.pick(5)]
        } else {
            self.write_copy_or_private(12)
        };
        Op::Protect { address, size, new }
    }

    fn lock(&mut self, pi: usize) -> Option<Op> {
        let r = self.random_region(pi, |r| !r.is_view())?;
        let fi = self.rng.below(r.pages);
        let n = 1 + self.rng.below((r.pages - fi).min(12));
        let address = r.base + fi * PAGE_SIZE + self.rng.below(PAGE_SIZE);
        let last = (r.base + (fi + n - 1) * PAGE_SIZE + self.rng.below(PAGE_SIZE)).max(address);
        let size = last - address + 1;
        let unlock = self.chance(3);
        Some(Op::Lock {
            region: r,
            fi,
            n,
            address,
            size,
            unlock,
        })
    }

    fn ws_limits(&mut self) -> Op {
        if self.chance(4) {
            return Op::WsLimits(None);
        }
        let min = 10 + self.rng.below(200);
        let max = (min + self.rng.below(300)).saturating_sub(20);
        Op::WsLimits(Some((min, max)))
    }

    // ---- transfers -----------------------------------------------------------

    fn write(&mut self, pi: usize) -> Op {
        let (va, len) = self.transfer_range(pi);
        let fill = self.rng.next();
        let data: Vec<u8> = (0..len)
            .map(|i| (fill.wrapping_add(i as u64 * 0x9E37) >> 8) as u8)
            .collect();
        Op::Write { va, data }
    }

    fn read(&mut self, pi: usize) -> Op {
        let (va, len) = self.transfer_range(pi);
        Op::Read { va, len }
    }

    // ---- sections and views --------------------------------------------------

    fn create_section(&mut self) -> Option<Op> {
        if SectionModel::live(&self.model.sections).len() >= 4 {
            return None;
        }
        let pages = 1 + self.rng.below(40);
        if self.over_budget(pages) {
            return None;
        }
        let data = self.chance(2).then(|| {
            (0..pages * PAGE_SIZE)
                .map(|_| self.rng.next() as u8)
                .collect()
        });
        Some(Op::CreateSection { pages, data })
    }

    fn delete_section(&mut self) -> Option<Op> {
        let live = SectionModel::live(&self.model.sections);
        if live.is_empty() {
            return None;
        }
        Some(Op::DeleteSection(live[self.pick(live.len())]))
    }

    fn map(&mut self, pi: usize) -> Option<Op> {
        let live = SectionModel::live(&self.model.sections);
        if live.is_empty() {
            return None;
        }
        let si = live[self.pick(live.len())];
        if !self.model.files.may_map(si, &self.model.sections) {
            return None;
        }
        let section_pages = self.model.sections[si].data.len() as u64 / PAGE_SIZE;
        let protection = [RW, RW, WC, RO][self.pick(4)];
        let offset = if section_pages > 16 && self.chance(2) {
            GRANULE
        } else {
            0
        };
        let pages = section_pages - offset / PAGE_SIZE;
        if protection == WC && self.over_budget(pages) {
            return None;
        }
        // Sometimes at an address: misaligned, over a reservation, or free.
        let address = if self.chance(4) {
            self.address_near_or_anywhere(pi)
        } else {
            0
        };
        Some(Op::Map {
            si,
            protection,
            offset,
            pages,
            address,
        })
    }

    fn unmap(&mut self, pi: usize) -> Option<Op> {
        let region = self.random_region(pi, |_| true)?;
        let address = region
            .is_view()
            .then(|| region.base + self.rng.below(region.pages * PAGE_SIZE));
        Some(Op::Unmap { region, address })
    }

    // ---- processes and the system --------------------------------------------

    fn fork(&mut self, pi: usize) -> Option<Op> {
        if self.model.procs.len() >= 8 {
            return None;
        }
        let extra = self.model.procs[pi].committed_pages();
        (!self.over_budget(extra)).then_some(Op::Fork)
    }

    fn terminate(&mut self) -> Option<Op> {
        let candidates: Vec<usize> = (0..self.model.procs.len())
            .filter(|&i| self.model.procs[i].disposable)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(Op::Terminate(candidates[self.pick(candidates.len())]))
    }

    fn system(&mut self) -> Op {
        Op::System(match self.rng.below(12) {
            0 => SystemOp::Trim,
            1 => SystemOp::FlushModified,
            2 => SystemOp::EmptyStandby,
            3 => SystemOp::EmptyWorkingSets,
            4 => SystemOp::MappedPageWriter,
            5 => SystemOp::Tick(100 * (1 + self.rng.below(100))),
            6 => SystemOp::Outswap,
            7 => SystemOp::Inswap,
            _ => SystemOp::Thread(SystemThread::ALL[self.pick(SystemThread::ALL.len())]),
        })
    }

    // ---- places --------------------------------------------------------------

    pub(super) fn random_region(
        &mut self,
        pi: usize,
        keep: impl Fn(&Region) -> bool,
    ) -> Option<Region> {
        let rs: Vec<&Region> = self.model.procs[pi]
            .regions
            .values()
            .filter(|r| keep(r))
            .collect();
        if rs.is_empty() {
            return None;
        }
        let i = self.rng.below(rs.len() as u64) as usize;
        Some(rs[i].clone())
    }

    /// A granule of the address window, above the first.
    fn random_granule(&mut self) -> u64 {
        GRANULE * (1 + self.rng.below(ADDRESS_WINDOW / GRANULE - 1))
    }

    /// An address for a reservation or a view: a page of one of the process's
    /// regions (half the time when it has one), else a granule of the window.
    fn address_near_or_anywhere(&mut self, pi: usize) -> u64 {
        match self.random_region(pi, |_| true) {
            Some(r) if self.chance(2) => r.base + self.rng.below(r.pages) * PAGE_SIZE,
            _ => self.random_granule(),
        }
    }

    /// A byte range for commit/protect: usually inside one region, sometimes
    /// running past its end, sometimes where nothing is reserved.
    pub(super) fn random_range(&mut self, pi: usize, allow_free: bool) -> (u64, u64) {
        match self.random_region(pi, |_| true) {
            Some(r) if !(allow_free && self.chance(8)) => {
                let fi = self.rng.below(r.pages);
                let address = r.base + fi * PAGE_SIZE + self.rng.below(PAGE_SIZE);
                let room = r.end() - address;
                let size = if self.chance(6) {
                    room + 1 + self.rng.below(4 * PAGE_SIZE)
                } else {
                    1 + self.rng.below(room)
                };
                (address, size)
            }
            _ => (
                self.random_granule() + self.rng.below(GRANULE),
                1 + self.rng.below(8 * PAGE_SIZE),
            ),
        }
    }

    /// A transfer: mostly inside a region, sometimes running off its end.
    fn transfer_range(&mut self, pi: usize) -> (u64, usize) {
        match self.random_region(pi, |_| true) {
            Some(r) => {
                if self.chance(6) {
                    // The whole region, and a page beyond.
                    return (r.base, ((r.pages + 1) * PAGE_SIZE) as usize);
                }
                let va = r.base + self.rng.below(r.pages * PAGE_SIZE);
                let len = 1 + self.rng.below(3 * PAGE_SIZE);
                (va, len as usize)
            }
            None => (
                GRANULE + self.rng.below(ADDRESS_WINDOW),
                1 + self.pick(PAGE),
            ),
        }
    }
}

impl Op {
    /// The operation and its arguments, for `MMFS_MODEL_TRACE`.
    pub(super) fn describe(&self) -> String {
        let range = |a: &u64, n: &u64| format!("{a:#x} +{n:#x}");
        match self {
            Op::AllocAnywhere {
                pages,
                commit,
                protection: p,
            } => {
                format!("allocate {pages} pages commit={commit} {}", p.name())
            }
            Op::ReserveAt {
                address,
                pages,
                commit,
                protection: p,
            } => {
                format!(
                    "reserve {pages} pages at {address:#x} commit={commit} {}",
                    p.name()
                )
            }
            Op::CommitAt {
                address,
                size,
                protection: p,
            } => {
                format!("commit {} {}", range(address, size), p.name())
            }
            Op::Reset {
                address,
                size,
                protection: p,
            } => {
                format!("reset {} {}", range(address, size), p.name())
            }
            Op::AllocWriteWatch {
                pages,
                commit,
                protection: p,
            } => {
                format!(
                    "allocate {pages} pages write-watch commit={commit} {}",
                    p.name()
                )
            }
            Op::ResetWriteWatch { address, size } => {
                format!("get and reset write watch {}", range(address, size))
            }
            Op::FreeNowhere { address, release } => {
                format!("free nothing at {address:#x} release={release}")
            }
            Op::Free {
                range: (a, n),
                release,
                ..
            } => format!("free {} release={release}", range(a, n)),
            Op::ReleaseRegion(r) => format!("release or unmap all of {:#x}", r.base),
            Op::Protect { address, size, new } => {
                format!("protect {} {}", range(address, size), new.name())
            }
            Op::Lock {
                address,
                size,
                unlock,
                ..
            } => format!("lock {} unlock={unlock}", range(address, size)),
            Op::WsLimits(l) => format!("ws-limits {l:?}"),
            Op::Write { va, data } => format!("write {}", range(va, &(data.len() as u64))),
            Op::Read { va, len } => format!("read {}", range(va, &(*len as u64))),
            Op::CreateSection { pages, data } => {
                format!("create a section of {pages} pages, file={}", data.is_some())
            }
            Op::DeleteSection(si) => format!("delete section {si}"),
            Op::Map {
                si,
                protection: p,
                offset,
                address,
                ..
            } => {
                format!(
                    "map section {si} from {offset:#x} at {address:#x} {}",
                    p.name()
                )
            }
            Op::Unmap { region, address } => format!("unmap {address:#x?} in {:#x}", region.base),
            Op::Fork => "fork".into(),
            Op::CreateProcess => "create a process".into(),
            Op::Terminate(i) => format!("terminate process {i}"),
            Op::System(_) => "a system thread or tick".into(),
            Op::File(f) => f.describe(),
        }
    }
}
