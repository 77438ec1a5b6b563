//! The `!pte` view of one address (`processes/<name>/pte/<VA>`): every paging
//! level's entry, the address split into the index of each level, what the PTE
//! says and what is behind it; and the effective protection of a page, which
//! `ptes` shares with it so that the two files always agree.

use crate::mm::Mm;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::hw::pagetable::PageTables;
use crate::mm::hw::pte::{HardwarePte, Level, PteState};
use crate::mm::machine::{Machine, PfnState};
use crate::mm::pfn::PageLocation;
use crate::mm::process::AddressSpace;
use crate::mm::process::system_tables::{is_shared_entry, shared_level};
use crate::mm::segment::ProtoLoc;
use crate::mm::vad::Vad;

use super::process::{VadRow, state_name, vad_row};
use super::sections::{PAGED_OUT, proto_state_name};

/// One paging level of the `pte/<VA>` view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PteLevelView {
    /// PXE, PPE, PDE or PTE.
    pub name: &'static str,
    /// The entry's self-map address (none for PAE's PDPT, which lives in the
    /// process object, not in the self-map).
    pub address: Option<u64>,
    pub raw: u64,
    /// A valid entry's frame (the next table down, or the page).
    pub pfn: Option<Pfn>,
    /// A valid entry's flags.
    pub flags: Option<PteFlags>,
}

/// The flags of a valid PTE (or of a valid entry of a higher level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteFlags {
    /// Bit 1, the hardware write bit.
    pub write: bool,
    pub owner: bool,
    pub accessed: bool,
    pub dirty: bool,
    pub copy_on_write: bool,
    pub no_execute: bool,
    /// Bit 11: the write permission multiprocessor kernels keep in software.
    pub software_write: bool,
    pub write_through: bool,
    pub cache_disable: bool,
    pub large_page: bool,
    pub global: bool,
}

impl From<HardwarePte> for PteFlags {
    fn from(h: HardwarePte) -> PteFlags {
        PteFlags {
            write: h.write,
            owner: h.owner,
            accessed: h.accessed,
            dirty: h.dirty,
            copy_on_write: h.copy_on_write,
            no_execute: h.no_execute,
            software_write: h.software_write,
            write_through: h.write_through,
            cache_disable: h.cache_disable,
            large_page: h.large_page,
            global: h.global,
        }
    }
}

/// Why a PTE says nothing (`State: none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyReason {
    /// No page table maps the address yet: the walk stopped at this level's
    /// entry (PXE, PPE or PDE), which is not valid. Page tables are made on the
    /// first touch that needs one.
    NoPageTable { invalid_entry: &'static str },
    /// The page table exists and the PTE is zero.
    ZeroPte,
    /// The page table is paged out and the PTE it held is zero.
    ZeroPteTablePagedOut,
}

/// Where a paged-out page table is (`pte/<VA>`): its PDE is not valid but
/// names it. A touch of the address brings it back first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagedOutTable {
    /// The PDE is a transition PTE: the table's frame is on the standby or
    /// modified list (a soft fault brings it back).
    Transition { pfn: Pfn },
    /// The PDE is a paging-file PTE (a hard fault reads it back).
    PagingFile { file: u8, slot: u32 },
}

/// What a touch of an address whose PTE says nothing does: the VAD decides
/// (MmAccessFault on a zero PTE, as `fault::zero_pte` resolves it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VadDecides {
    /// No VAD: the address is not allocated; an access violation.
    NotAllocated,
    /// A private VAD whose pages are reserved, not committed (each committed
    /// page would have a demand-zero PTE): an access violation.
    Reserved,
    /// A committed private VAD: a demand-zero page, if its protection allows
    /// the access.
    DemandZero,
    /// A view of a section: the page comes through the section's prototype PTE.
    View,
}

/// `State: none` explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmptyPte {
    pub reason: EmptyReason,
    pub vad_decides: VadDecides,
}

/// The `pte/<VA>` view: every level's entry, what the PTE says, and what is
/// behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PteDetail {
    pub va: u64,
    pub levels: Vec<PteLevelView>,
    pub state: &'static str,
    pub pfn: Option<Pfn>,
    pub pagefile: Option<(u8, u32)>,
    /// The page's effective protection (the same as `ptes` shows).
    pub protection: Option<Protection>,
    /// A valid PTE's flags.
    pub valid_flags: Option<PteFlags>,
    pub vad: Option<VadRow>,
    /// The prototype PTE behind the page (a view's or a fork's), and what it says.
    pub prototype: Option<(u64, &'static str)>,
    /// The address split: every paging level's index (top level first, PXE,
    /// PPE, PDE, PTE as the arch has them) ...
    pub indexes: Vec<(&'static str, u64)>,
    /// ... and the byte offset within the page.
    pub byte_offset: u64,
    /// Frame × 4096 + byte offset, for a page that is valid or in transition.
    pub physical_address: Option<u64>,
    /// Why the PTE says nothing, when it does (state `none`).
    pub empty: Option<EmptyPte>,
    /// The page table holding the PTE, if it is paged out: the PTE shown is
    /// the one it held (read without bringing it back).
    pub table_paged_out: Option<PagedOutTable>,
    /// The walk ended at a large-page PDE (MEM_LARGE_PAGES): the state, frame
    /// and flags shown are the PDE's, the frame being its first plus the 4 KB
    /// page's index in the large page.
    pub large_page: bool,
    /// For a system address every process shares: whether this process's
    /// top-level copy of the System process's entry is made (`Copied`), or
    /// not yet (`NotYet`: the walk shown is the System process's, which the
    /// first touch copies, as MiCheckPdeForPagedPool).
    pub shared_system_entry: Option<SharedEntry>,
}

/// See `PteDetail::shared_system_entry`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SharedEntry {
    Copied,
    NotYet,
    /// The System process's own.
    Owner,
}

pub(super) fn level_name(l: Level) -> &'static str {
    match l {
        Level::Pxe => "PXE",
        Level::Ppe => "PPE",
        Level::Pde => "PDE",
        Level::Pte => "PTE",
    }
}

impl Mm {
    /// `processes/<name>/pte/<VA>`: the `!pte` view.
    pub fn pte_detail(&self, pid: Pid, va: u64) -> MmResult<PteDetail> {
        let p = self.process(pid)?;
        let space = p.live_space()?;
        let m = &self.machine;
        let (shared, system_dtb) = self.shared_walk(&space, Va(va));
        let (levels, mut leaf) = match system_dtb {
            Some(dtb) => pte_levels(m, &PageTables::new(&m.fmt, &m.phys, dtb), Va(va)),
            None => pte_levels(m, &space.tables(m), Va(va)),
        };
        // A paged-out table is a user page table's (system tables stay).
        let table_paged_out = paged_out_table(m, &levels);
        if table_paged_out.is_some() {
            leaf = space.paged_tables.pte(m, Va(va)).unwrap_or(Mmpte::ZERO);
        }
        let large_page = large_page_state(m, &levels, Va(va));
        let state = large_page.unwrap_or_else(|| m.fmt.decode(leaf));
        let vad = space.vads.find(Va(va).vpn());
        let st = m.pfn_lock();
        let prototype = prototype_behind(m, &st, &space, Va(va), &state).map(|at| {
            // Looking never faults: a paged-out page of prototype PTEs is
            // shown as such.
            let Some(raw) = st.segments.try_read(at) else {
                return (st.segments.address(at).0, PAGED_OUT);
            };
            let pfn = m.fmt.pfn(raw);
            let mnw = pfn.is_some_and(|p| st.db.location(p) == Some(PageLocation::ModifiedNoWrite));
            (
                st.segments.address(at).0,
                proto_state_name(&m.fmt.decode_prototype(raw), mnw),
            )
        });
        let protection = effective_protection(m, Some(&st), &space, Va(va), &state, vad);
        drop(st);
        let mut d = PteDetail {
            va,
            empty: empty_pte(&levels, &state, vad, table_paged_out.is_some()),
            table_paged_out,
            levels,
            state: state_name(&state),
            pfn: None,
            pagefile: None,
            protection,
            valid_flags: None,
            vad: vad.map(vad_row),
            prototype,
            indexes: address_split(m, Va(va)),
            byte_offset: va & (PAGE_SIZE - 1),
            physical_address: None,
            shared_system_entry: shared,
            large_page: large_page.is_some(),
        };
        page_facts(&mut d, &state);
        Ok(d)
    }
}

impl Mm {
    /// Whether `va` is under a shared system entry, and, when this process
    /// has not copied it yet, the System process's DirectoryTableBase to walk
    /// instead. The System process's tables are read without its lock (an
    /// entry is one atomic word): a view taken while it changes them may
    /// show either side of the change.
    fn shared_walk(&self, space: &AddressSpace, va: Va) -> (Option<SharedEntry>, Option<Pfn>) {
        let m = &self.machine;
        if !is_shared_entry(m, va.0, shared_level(m)) {
            return (None, None);
        }
        if space.pid == Pid::SYSTEM {
            return (Some(SharedEntry::Owner), None);
        }
        // Its DirectoryTableBase from the owner slots, not from its address
        // space: this one's lock is held, and the System process's (pid 4,
        // below it) may not be taken after it.
        let system_dtb = m
            .pfn_lock()
            .owners
            .iter()
            .flatten()
            .find(|o| o.pid == Pid::SYSTEM)
            .map(|o| o.dtb);
        let Some(system_dtb) = system_dtb else {
            return (None, None);
        };
        let empty = space
            .shared_entry(m, va)
            .is_none_or(|loc| space.tables(m).read(loc).is_zero());
        if empty {
            (Some(SharedEntry::NotYet), Some(system_dtb))
        } else {
            (Some(SharedEntry::Copied), None)
        }
    }
}

/// The index of `va`'s entry at every level the arch has, top first.
fn address_split(m: &Machine, va: Va) -> Vec<(&'static str, u64)> {
    (1..=m.fmt.levels())
        .rev()
        .filter_map(Level::from_number)
        .filter_map(|l| m.fmt.index(va, l).map(|i| (level_name(l), i)))
        .collect()
}

/// Every level's entry for `va`, top first, and the leaf PTE's value (0 if
/// its page table does not exist).
fn pte_levels(m: &Machine, tables: &PageTables, va: Va) -> (Vec<PteLevelView>, Mmpte) {
    let walk = tables.walk(va);
    let levels = walk
        .iter()
        .map(|(l, _, raw)| {
            let valid = match m.fmt.decode(*raw) {
                PteState::Valid(h) => Some(h),
                _ => None,
            };
            PteLevelView {
                name: level_name(*l),
                address: m.fmt.entry_va(va, *l).map(|a| a.0),
                raw: raw.0,
                pfn: valid.map(|h| h.pfn),
                flags: valid.map(PteFlags::from),
            }
        })
        .collect();
    let leaf = walk
        .last()
        .filter(|(l, _, _)| *l == Level::Pte)
        .map_or(Mmpte::ZERO, |w| w.2);
    (levels, leaf)
}

/// The state of the 4 KB page `va` when the walk stopped at a large-page
/// PDE: valid, with the PDE's flags and the frame of that page in the run.
fn large_page_state(m: &Machine, levels: &[PteLevelView], va: Va) -> Option<PteState> {
    let last = levels.last().filter(|l| l.name == level_name(Level::Pde))?;
    let PteState::Valid(h) = m.fmt.decode(Mmpte(last.raw)) else {
        return None;
    };
    if !h.large_page {
        return None;
    }
    let index = (va.0 % m.fmt.large_page_size()) / PAGE_SIZE;
    Some(PteState::Valid(HardwarePte {
        pfn: Pfn(h.pfn.0 + index as u32),
        ..h
    }))
}

/// The paged-out table a walk that stopped at a non-valid PDE names, if any.
fn paged_out_table(m: &Machine, levels: &[PteLevelView]) -> Option<PagedOutTable> {
    let last = levels.last().filter(|l| l.name == level_name(Level::Pde))?;
    match m.fmt.decode(Mmpte(last.raw)) {
        PteState::Transition { pfn, .. } => Some(PagedOutTable::Transition { pfn }),
        PteState::PageFile { file, slot, .. } => Some(PagedOutTable::PagingFile { file, slot }),
        _ => None,
    }
}

/// Why the PTE says nothing, and what a touch would do, for a zero PTE (or a
/// page table that does not exist yet).
fn empty_pte(
    levels: &[PteLevelView],
    state: &PteState,
    vad: Option<&Vad>,
    paged_out: bool,
) -> Option<EmptyPte> {
    if *state != PteState::Zero {
        return None;
    }
    let reason = match levels.last() {
        _ if paged_out => EmptyReason::ZeroPteTablePagedOut,
        Some(l) if l.name != "PTE" => EmptyReason::NoPageTable {
            invalid_entry: l.name,
        },
        _ => EmptyReason::ZeroPte,
    };
    let vad_decides = match vad {
        None => VadDecides::NotAllocated,
        Some(v) if v.section.is_some() => VadDecides::View,
        Some(v) if v.mem_commit && v.private_memory => VadDecides::DemandZero,
        Some(_) => VadDecides::Reserved,
    };
    Some(EmptyPte {
        reason,
        vad_decides,
    })
}

/// The prototype PTE behind the page at `va`: named by the PTE, by the frame,
/// or by the view.
pub(super) fn prototype_behind(
    m: &Machine,
    st: &PfnState,
    space: &AddressSpace,
    va: Va,
    state: &PteState,
) -> Option<ProtoLoc> {
    match *state {
        PteState::Prototype {
            proto_pte: Some(a), ..
        } => st.segments.locate_address(a),
        PteState::Valid(h) if st.db.prototype(h.pfn) => m.proto_of_locked(st, h.pfn),
        PteState::Valid(_) | PteState::Transition { .. } | PteState::PageFile { .. } => None,
        _ => {
            let v = space.vads.find(va.vpn())?;
            let s = v.section.as_ref()?;
            let index = s.first_prototype_index + (va.vpn().0 - v.starting_vpn.0);
            st.segments.locate(s.id, index)
        }
    }
}

/// Runs `f` with the PFN lock: the caller's (`st`), or taken now.
fn with_pfn<T>(m: &Machine, st: Option<&PfnState>, f: impl FnOnce(&PfnState) -> T) -> T {
    match st {
        Some(st) => f(st),
        None => f(&m.pfn_lock()),
    }
}

/// The protection the page at `va` has, as `ptes` and `pte/<VA>` both show it:
/// a valid page's is its working-set entry's (the hardware PTE has none); a
/// transition, paging-file or demand-zero PTE's its own; a prototype pointer's
/// its own, or with ZERO_ACCESS ("use the prototype PTE's protection", the
/// only form x86 can store with an address, and what fork leaves) the
/// prototype PTE's; a zero PTE's the VAD's if the VAD is committed. Takes the
/// PFN lock (unless the caller holds it, `st`) only for a valid page or a
/// prototype pointer.
pub(super) fn effective_protection(
    m: &Machine,
    st: Option<&PfnState>,
    space: &AddressSpace,
    va: Va,
    state: &PteState,
    vad: Option<&Vad>,
) -> Option<Protection> {
    match *state {
        PteState::Valid(h) => with_pfn(m, st, |st| {
            space
                .ws_index_of(st, va.page_base(), h.pfn)
                .and_then(|i| space.ws.get(i))
                .map(|e| e.protection)
        })
        // Pages in no working set (non-paged pool, kernel stacks, mapped
        // MDLs, or a shared system page seen from another process): what
        // the hardware bits allow.
        .or(Some(hardware_protection(m, h))),
        PteState::Transition { protection, .. }
        | PteState::PageFile { protection, .. }
        | PteState::DemandZero { protection } => Some(protection),
        PteState::Prototype { protection, .. } if protection.raw() != 0 => Some(protection),
        PteState::Prototype { .. } => with_pfn(m, st, |st| {
            prototype_behind(m, st, space, va, state).and_then(|at| {
                let raw = st.segments.try_read(at);
                // Paged out: the segment's protection (only a clone block's,
                // never paged out, differs from it).
                let template = || {
                    let ca = st.segments.owner(at)?;
                    st.segments.control_area(ca).map(|a| a.protection)
                };
                raw.map_or_else(template, |raw| Some(m.proto_protection_locked(st, raw)))
            })
        }),
        PteState::Zero => vad.filter(|v| v.mem_commit).map(|v| v.protection),
        _ => None,
    }
}

/// The protection a valid PTE's bits give (write, copy-on-write, no-execute).
/// x86 without PAE has no no-execute bit: its pages read as not executable.
fn hardware_protection(m: &Machine, h: HardwarePte) -> Protection {
    let no_execute = h.no_execute || m.fmt.arch() == crate::mm::base::types::Arch::X86;
    match (h.write, h.copy_on_write, no_execute) {
        (_, true, _) => Protection::WRITECOPY,
        (true, _, true) => Protection::READWRITE,
        (true, _, false) => Protection::EXECUTE_READWRITE,
        (false, _, true) => Protection::READONLY,
        (false, _, false) => Protection::EXECUTE_READ,
    }
}

/// The frame, physical address, paging-file place and valid flags the PTE's
/// state gives.
fn page_facts(d: &mut PteDetail, state: &PteState) {
    match *state {
        PteState::Valid(h) => {
            d.pfn = Some(h.pfn);
            d.valid_flags = Some(PteFlags::from(h));
        }
        PteState::Transition { pfn, .. } => d.pfn = Some(pfn),
        PteState::PageFile { file, slot, .. } => d.pagefile = Some((file, slot)),
        _ => {}
    }
    d.physical_address = d.pfn.map(|p| p.0 as u64 * PAGE_SIZE + d.byte_offset);
}
