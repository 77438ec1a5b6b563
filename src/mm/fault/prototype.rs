//! Faults through prototype PTEs (WRK MiResolveProtoPteFault). Callers hold the
//! process's address-space lock.
//!
//! A process PTE that is zero inside a view, or a prototype pointer, leads to a
//! prototype PTE, which says where the page is; one function per state:
//! - valid (`map_valid`): another process has it; this one maps it too (soft);
//! - transition (`map_transition`): on standby, modified or modified-no-write;
//!   it comes back (soft);
//! - demand zero (`map_demand_zero`): a pagefile-backed page touched for the
//!   first time gets a zeroed frame;
//! - pagefile or subsection (`read_in`, a mapped file): a hard fault reads it
//!   into a new frame. While the read is in flight the prototype PTE is a
//!   transition PTE whose frame has ReadInProgress; another process faulting on
//!   it waits for the read (a collided fault) instead of reading it twice.
//!
//! Either way the frame becomes valid in the prototype PTE, and this process's
//! PTE becomes valid too, with a shared working-set entry and one more share.
//! A write through a copy-on-write protection then takes a private copy.

use std::sync::{Arc, MutexGuard};

use super::prefetch::{RunPage, finish_run, take_cluster};
use crate::mm::base::counters::{add, bump};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Pid, PteAddress, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Injected, Machine, NewPage, PageNeed, PfnState};
use crate::mm::pfn::PageLocation;
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::NewMapping;
use crate::mm::segment::{Backing, ControlAreaId, ProtoLoc};

use super::{
    Access, AccessFault, check_protection, copy_on_write, count_fault, in_page, not_committed,
    resources, touch,
};

/// Where the page behind a hard prototype fault is read from.
enum Source {
    PagingFile { file: u8, slot: u32 },
    File(Arc<std::fs::File>, u64),
}

/// How a prototype fault was satisfied (for counters and the trace).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resolved {
    /// The page was in memory (valid elsewhere, or on a list).
    Memory(Option<PageLocation>),
    DemandZero,
    Read,
}

/// What one look at the prototype PTE came to.
enum Step {
    Done(Pfn, Resolved),
    /// Something moved while the PFN lock was let go: look again.
    Again,
    /// This process's PTE changed under the fault: start over from `touch`.
    Refault,
}

/// One prototype fault in progress: the page touched and how, the prototype
/// PTE it resolves through (control area `ca`, index `index`), the protection
/// the access was checked against, and what this process's PTE at `loc` must
/// still hold (`expected`) for the fault to go on.
struct ProtoFault {
    va: Va,
    access: Access,
    ca: ControlAreaId,
    index: u64,
    protection: Protection,
    loc: EntryLoc,
    expected: Mmpte,
}

impl ProtoFault {
    /// A write through a shared-write protection dirties the page at once; a
    /// copy-on-write one copies it after the page is in.
    fn write_now(&self) -> bool {
        self.access == Access::Write && !self.protection.is_copy_on_write()
    }

    fn mapping(&self, pfn: Pfn) -> NewMapping {
        NewMapping::new(self.loc, self.va, pfn, self.protection, self.write_now())
    }
}

/// A fault on `va` whose PTE leads to a prototype PTE: `pointer` is the
/// prototype PTE's address from a prototype-pointer PTE, or `None` to find it
/// through the view's VAD; `pte_protection` is the protection the PTE (or VAD)
/// gives, ZERO_ACCESS meaning "the prototype PTE's own".
/// Pages a hard fault on a mapped data file reads at once, the faulting page
/// included (WRK: MmDataClusterSize, 4 pages, facts §2).
const DATA_CLUSTER: u64 = 4;
/// The most pages MmSetPageFaultReadAhead lets a fault read besides its own
/// (WRK MM_MAXIMUM_READ_CLUSTER_SIZE): 64 KB in all.
const MAXIMUM_READ_CLUSTER: u64 = 15;

/// The pages a hard fault at `va` on a mapped file reads besides its own: as
/// many as the thread asked for with MmSetPageFaultReadAhead (a cache copy
/// read: the rest of its bytes in the view, so it takes one fault, not one
/// per cluster; none for a read within one page), at most
/// MAXIMUM_READ_CLUSTER, forward only; otherwise MmDataClusterSize's.
fn cluster_pages(space: &AddressSpace, va: Va) -> u64 {
    match space.fault_read_ahead_end {
        Some(end) => {
            let to_go = end.0.saturating_sub(va.page_base().0).div_ceil(PAGE_SIZE);
            to_go.saturating_sub(1).min(MAXIMUM_READ_CLUSTER)
        }
        None => DATA_CLUSTER - 1,
    }
}

pub(super) fn prototype_fault(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    pointer: Option<PteAddress>,
    pte_protection: Protection,
) -> Result<Pfn, AccessFault> {
    let (ca, index, protection) = target(m, space, va, access, pointer, pte_protection)?;
    let in_view = space
        .vads
        .find(va.vpn())
        .is_some_and(|v| v.section.as_ref().is_some_and(|s| s.id == ca));
    check_protection(space, va, access, protection, |space, disarmed| {
        if in_view {
            let loc = space.ensure_leaf(m, va).map_err(resources)?;
            let pte = PteState::Prototype {
                proto_pte: None,
                protection: disarmed,
            };
            space.tables(m).write(loc, m.fmt.encode(&pte));
        } else {
            // A fork's clone block keeps the page's protection, guard included,
            // for both processes (as NT's fork prototype PTEs do): the guard is
            // disarmed there, once for both.
            disarm_prototype(m, ca, index, disarmed);
        }
        Ok(())
    })?;
    space.replace_if_at_maximum(m);
    let loc = space.ensure_leaf(m, va).map_err(resources)?;
    let f = ProtoFault {
        va,
        access,
        ca,
        index,
        protection,
        loc,
        expected: space.tables(m).read(loc),
    };
    let (pfn, how) = loop {
        match look(m, space, &f)? {
            Step::Done(pfn, how) => break (pfn, how),
            Step::Again => continue,
            Step::Refault => return touch(m, space, va, access),
        }
    };
    account(m, space, &f, pfn, how);
    if access == Access::Write && protection.is_copy_on_write() {
        return copy_on_write(m, space, va);
    }
    Ok(pfn)
}

/// The prototype PTE behind the fault (control area, index) and the protection
/// to check the access against.
fn target(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    pointer: Option<PteAddress>,
    pte_protection: Protection,
) -> Result<(ControlAreaId, u64, Protection), AccessFault> {
    let Some(address) = pointer else {
        let vad = space.vads.find(va.vpn());
        let Some((vad, section)) = vad.and_then(|v| Some((v, v.section.as_ref()?))) else {
            return Err(not_committed(space, va, access));
        };
        let index = section.first_prototype_index + (va.vpn().0 - vad.starting_vpn.0);
        return Ok((section.id, index, pte_protection));
    };
    let mut st = m.pfn_lock();
    let at = st.segments.locate_address(address).ok_or_else(|| {
        let why = format!(
            "its PTE points at {:#x}, which is no prototype PTE",
            address.0
        );
        in_page(va, access, why)
    })?;
    if pte_protection.raw() == 0 && st.segments.is_absent(at) {
        // The protection is the prototype PTE's own: its page comes first.
        let page = st.segments.page_of(at);
        drop(st);
        proto_page_fault(m, space, page, va, access)?;
        st = m.pfn_lock();
        if st.segments.is_absent(at) {
            return Err(proto_page_out(page, va, access));
        }
    }
    let p = if pte_protection.raw() == 0 {
        m.proto_protection_locked(&st, st.segments.read(at))
    } else {
        pte_protection
    };
    Ok((
        st.segments.owner(at).unwrap_or_default(),
        st.segments.index(at),
        p,
    ))
}

/// One look at the prototype PTE under the PFN lock, and what its state calls
/// for.
fn look(m: &Machine, space: &mut AddressSpace, f: &ProtoFault) -> Result<Step, AccessFault> {
    let st = m.pfn_lock();
    if space.tables(m).read(f.loc) != f.expected {
        return Ok(Step::Refault);
    }
    let at = st.segments.locate(f.ca, f.index).ok_or_else(|| {
        let why = format!("control area {} has no prototype PTE {}", f.ca, f.index);
        in_page(f.va, f.access, why)
    })?;
    if st.segments.is_absent(at) {
        let page = st.segments.page_of(at);
        drop(st);
        proto_page_fault(m, space, page, f.va, f.access)?;
        return Ok(Step::Again);
    }
    let raw = st.segments.read(at);
    // The page holding the prototype PTE, for a fault that needs a frame
    // (not looked up for the soft faults, the hot path).
    let proto_page = |st: &PfnState| Va(st.segments.page_of(at));
    match m.fmt.decode_prototype(raw) {
        PteState::Valid(h) => map_valid(m, space, st, f, h.pfn),
        PteState::Transition { pfn, protection } => {
            map_transition(m, space, st, f, at, (pfn, protection))
        }
        PteState::DemandZero { protection } => {
            let page = proto_page(&st);
            drop(st);
            map_demand_zero(m, space, f, (raw, page), protection)
        }
        state @ (PteState::PageFile { .. } | PteState::Subsection { .. }) => {
            let page = proto_page(&st);
            drop(st);
            read_in(m, space, f, (raw, page), state)
        }
        _ => Err(not_committed(space, f.va, f.access)),
    }
}

/// The prototype PTE is valid: another process maps the frame; this one maps
/// it too.
fn map_valid(
    m: &Machine,
    space: &mut AddressSpace,
    mut st: MutexGuard<'_, PfnState>,
    f: &ProtoFault,
    pfn: Pfn,
) -> Result<Step, AccessFault> {
    if st.db.in_page_error(pfn) {
        let why = format!("its frame {:#x} is bad", pfn.0);
        return Err(in_page(f.va, f.access, why));
    }
    space.map_shared_locked(m, &mut st, f.mapping(pfn));
    Ok(Step::Done(pfn, Resolved::Memory(None)))
}

/// The prototype PTE is in transition: the frame comes back from its list, or
/// (a read in flight) the fault waits for the reader to finish.
fn map_transition(
    m: &Machine,
    space: &mut AddressSpace,
    mut st: MutexGuard<'_, PfnState>,
    f: &ProtoFault,
    at: ProtoLoc,
    (pfn, protection): (Pfn, Protection),
) -> Result<Step, AccessFault> {
    if st.db.read_in_progress(pfn) {
        // Another process is reading this page in: wait for it.
        drop(st);
        std::thread::yield_now();
        return Ok(Step::Again);
    }
    if st.db.in_page_error(pfn) {
        let why = format!("its frame {:#x} is bad", pfn.0);
        return Err(in_page(f.va, f.access, why));
    }
    let was = validate_transition_locked(m, space, &mut st, at, (pfn, protection), f.mapping(pfn));
    Ok(Step::Done(pfn, Resolved::Memory(was)))
}

/// A prototype PTE in transition made valid with its frame `pfn` (which the
/// caller found neither being read nor bad): the frame off its list, the
/// prototype PTE valid, the faulting PTE mapping it (`mapping`). Returns
/// where the frame was. Shared with `transition_run.rs`, which resolves a
/// run of such faults in one PFN-lock hold (`st`).
pub(super) fn validate_transition_locked(
    m: &Machine,
    space: &mut AddressSpace,
    st: &mut PfnState,
    at: ProtoLoc,
    (pfn, protection): (Pfn, Protection),
    mapping: NewMapping,
) -> Option<PageLocation> {
    let was = st.db.location(pfn);
    if was.is_some_and(PageLocation::is_list) {
        st.db.unlink(pfn);
    }
    st.segments.write(at, m.valid_proto_pte(pfn, protection));
    space.map_shared_locked(m, st, mapping);
    was
}

/// The `fault.prototype` event of a resolved prototype fault on `va`'s page
/// (prototype PTE `index` of `ca`), `from` where its frame came from.
pub(super) fn trace_prototype(
    m: &Machine,
    (pid, va): (Pid, Va),
    pfn: Pfn,
    (ca, index): (ControlAreaId, u64),
    from: &str,
) {
    crate::mm_event!(
        m,
        "fault.prototype",
        "pid={pid} va={:#x} pfn={pfn:#x} ca={ca} index={index} from={from}",
        va.page_base().0
    );
}

/// The prototype PTE is demand zero: a zeroed frame becomes the page.
fn map_demand_zero(
    m: &Machine,
    space: &mut AddressSpace,
    f: &ProtoFault,
    (raw, proto_page): (Mmpte, Va),
    protection: Protection,
) -> Result<Step, AccessFault> {
    let Some((mut st, page, at)) = page_for(m, space, f, (raw, proto_page), PageNeed::Zeroed)?
    else {
        return Ok(Step::Again);
    };
    m.activate_proto_locked(&mut st, page.pfn, at, raw);
    // Never written anywhere: the writer must save it before reuse.
    st.db.set_modified(page.pfn, true);
    st.segments
        .write(at, m.valid_proto_pte(page.pfn, protection));
    space.map_shared_locked(m, &mut st, f.mapping(page.pfn));
    Ok(Step::Done(page.pfn, Resolved::DemandZero))
}

/// The prototype PTE names a paging-file slot or the mapped file: a hard fault
/// reads the page into a new frame. During the read the prototype PTE is in
/// transition with ReadInProgress set, so other processes wait for it; a
/// failed read puts everything back as it was.
fn read_in(
    m: &Machine,
    space: &mut AddressSpace,
    f: &ProtoFault,
    (raw, proto_page): (Mmpte, Va),
    state: PteState,
) -> Result<Step, AccessFault> {
    let Some((mut st, page, at)) = page_for(m, space, f, (raw, proto_page), PageNeed::Any)? else {
        return Ok(Step::Again);
    };
    let pfn = page.pfn;
    let Some((source, protection)) = source_of(&st, f.ca, at, state) else {
        m.free_page_locked(&mut st, pfn);
        let why = "its subsection PTE belongs to no file".to_string();
        return Err(in_page(f.va, f.access, why));
    };
    m.activate_proto_locked(&mut st, pfn, at, raw);
    st.db.set_reference_count(pfn, 1);
    st.db.set_read_in_progress(pfn, true);
    st.db.set_modified(pfn, false);
    let transition = PteState::Transition { pfn, protection };
    st.segments.write(at, m.fmt.encode(&transition));
    // A mapped file's page is read with the pages after it, in one read; they
    // go to standby (a paging-file page of a section is read alone).
    let cluster = match source {
        Source::File(..) => take_cluster(m, &mut st, f.ca, f.index, at, cluster_pages(space, f.va)),
        Source::PagingFile { .. } => Vec::new(),
    };
    drop(st);
    // ReadInProgress: the frames are this read's alone until it finishes.
    let result = read_page(m, &source, pfn, &cluster);
    finish_run(m, f.ca, &cluster, result.is_ok());
    let mut st = m.pfn_lock();
    st.db.set_read_in_progress(pfn, false);
    if let Err(e) = result {
        undo_read_locked(m, &mut st, f, raw, pfn);
        drop(st);
        crate::mm_event!(
            m,
            "section.read-error",
            "pid={} va={:#x} ca={} index={}",
            space.pid,
            f.va.page_base().0,
            f.ca,
            f.index
        );
        return Err(in_page(
            f.va,
            f.access,
            format!("reading it in failed: {e}"),
        ));
    }
    st.db.decrement_reference(pfn);
    st.segments.write(at, m.valid_proto_pte(pfn, protection));
    space.map_shared_locked(m, &mut st, f.mapping(pfn));
    if let Source::PagingFile { .. } = source {
        add(&m.counters.pages_read_from_pagefile, 1);
    }
    Ok(Step::Done(pfn, Resolved::Read))
}

/// Where the page of prototype PTE `at` (in state `state`) is read from, and
/// the protection it carries; `None` for a subsection PTE with no file.
fn source_of(
    st: &PfnState,
    ca: ControlAreaId,
    at: ProtoLoc,
    state: PteState,
) -> Option<(Source, Protection)> {
    match state {
        PteState::PageFile {
            file,
            slot,
            protection,
        } => Some((Source::PagingFile { file, slot }, protection)),
        PteState::Subsection { protection, .. } => {
            match st.segments.control_area(ca).map(|a| &a.backing) {
                Some(Backing::File { file, .. }) => {
                    let source = Source::File(file.clone(), st.segments.file_offset(at));
                    Some((source, protection))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A read failed: the prototype PTE gets its old value back and the frame is
/// freed, so the next touch tries again.
fn undo_read_locked(m: &Machine, st: &mut PfnState, f: &ProtoFault, raw: Mmpte, pfn: Pfn) {
    if let Some(at) = st.segments.locate(f.ca, f.index) {
        st.segments.write(at, raw);
    }
    if let Some(area) = st.segments.control_area_mut(f.ca) {
        area.pfn_references -= 1;
    }
    st.db.set_reference_count(pfn, 0);
    m.free_page_locked(st, pfn);
}

/// The counters and the trace line of a resolved prototype fault.
fn account(m: &Machine, space: &mut AddressSpace, f: &ProtoFault, pfn: Pfn, how: Resolved) {
    count_fault(m, space);
    space.faults.prototype += 1;
    bump(&m.counters.prototype_faults);
    match how {
        Resolved::DemandZero => {
            space.faults.demand_zero += 1;
            bump(&m.counters.demand_zero_faults);
        }
        Resolved::Read => {
            space.faults.hard += 1;
            bump(&m.counters.hard_faults);
        }
        Resolved::Memory(_) => {}
    }
    let from = match how {
        Resolved::Memory(None) => "valid",
        Resolved::Memory(Some(l)) => l.name(),
        Resolved::DemandZero => "demand-zero",
        Resolved::Read => "disk",
    };
    trace_prototype(m, (space.pid, f.va), pfn, (f.ca, f.index), from);
}

/// Prototype PTE `index` of control area `ca` takes protection `disarmed` (its
/// own without GUARD). A guard page is never valid (touching it disarms it), so
/// the prototype PTE is in transition or a paging file, or demand zero.
fn disarm_prototype(m: &Machine, ca: ControlAreaId, index: u64, disarmed: Protection) {
    let mut st = m.pfn_lock();
    let Some(at) = st.segments.locate(ca, index) else {
        return;
    };
    // Clone blocks' pages never leave the working set; `try_read` all the same.
    let Some(raw) = st.segments.try_read(at) else {
        return;
    };
    let new = match m.fmt.decode_prototype(raw) {
        PteState::Transition { pfn, .. } => {
            let original = m.fmt.reprotect_original(st.db.original_pte(pfn), disarmed);
            st.db.set_original_pte(pfn, original);
            PteState::Transition {
                pfn,
                protection: disarmed,
            }
        }
        PteState::PageFile { file, slot, .. } => PteState::PageFile {
            file,
            slot,
            protection: disarmed,
        },
        PteState::DemandZero { .. } => PteState::DemandZero {
            protection: disarmed,
        },
        _ => return,
    };
    st.segments.write(at, m.fmt.encode(&new));
}

/// A frame for the fault's prototype PTE, returned with the PFN lock held, if
/// the prototype PTE still holds `raw` and the process PTE still what the fault
/// expects once the frame is found (finding one may reclaim and so change
/// them); else the frame goes back and the caller looks again.
fn page_for<'m>(
    m: &'m Machine,
    space: &mut AddressSpace,
    f: &ProtoFault,
    (raw, proto_page): (Mmpte, Va),
    need: PageNeed,
) -> Result<Option<(MutexGuard<'m, PfnState>, NewPage, ProtoLoc)>, AccessFault> {
    // The System process's fault (a copy through the cache's views) never
    // trims the page holding the prototype PTE it resolves: the fault would
    // find that page gone, bring it back, trim it again for the frame, and
    // so on forever. (A user process's working set holds no such page.)
    let spare = (space.pid == Pid::SYSTEM).then_some(proto_page);
    let (mut st, page) = (space.obtain_page_sparing(m, need, spare)).map_err(resources)?;
    let at = st.segments.locate(f.ca, f.index);
    match at {
        Some(at)
            if space.tables(m).read(f.loc) == f.expected
                && st.segments.try_read(at) == Some(raw) =>
        {
            Ok(Some((st, page, at)))
        }
        _ => {
            m.free_page_locked(&mut st, page.pfn);
            Ok(None)
        }
    }
}

/// Reads the page into `pfn` and, for a mapped file, the cluster after it
/// into their frames, straight from the host with no bounce buffer (a
/// paging file's `read_frames`; a mapped file's `read_file`, one `preadv`,
/// past the end of the file the pages read as zeros). The
/// caller owns the frames for the read (ReadInProgress).
fn read_page(m: &Machine, source: &Source, pfn: Pfn, cluster: &[RunPage]) -> std::io::Result<()> {
    match source {
        Source::PagingFile { file, slot } => {
            if Injected::take(&m.injected.pagefile_reads) {
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
            // The io handle on its own statement: the `pagefiles` guard drops
            // here, so the read below runs without it and a slot freed under
            // the PFN lock meanwhile does not wait for the disk.
            let io = m.pagefiles_lock().io(*file);
            match io {
                Some(io) => io.read_frames(*slot, &[pfn], &m.phys),
                None => Err(std::io::Error::other("no such paging file")),
            }
        }
        Source::File(file, offset) => {
            if Injected::take(&m.injected.mapped_reads) {
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
            let frames: Vec<Pfn> = std::iter::once(pfn)
                .chain(cluster.iter().map(|p| p.pfn))
                .collect();
            m.phys.read_file(file, *offset, &frames)
        }
    }
}

/// The prototype PTE's page (`page`) is out of the System working set. The
/// System process (a cache manager's fault in its views, holding its own
/// address space) faults it in here and the caller looks again; any other
/// process may not take the System process's address space while it holds
/// its own (both order 4, taken only in pid order), so the fault goes back
/// to where its lock can be let go (`FaultKind::PrototypePage`).
fn proto_page_fault(
    m: &Machine,
    space: &mut AddressSpace,
    page: u64,
    va: Va,
    access: Access,
) -> Result<(), AccessFault> {
    if space.pid != Pid::SYSTEM {
        return Err(proto_page_out(page, va, access));
    }
    // Out of pages stays out of pages: the copy's caller reclaims from the
    // other processes and touches again (NT's MiMakeSystemAddressValidPfn
    // waits for a page; it does not fail the copy).
    touch(m, space, Va(page), Access::Read)
        .map(|_| ())
        .map_err(|e| match e.kind {
            super::FaultKind::Resources => e,
            _ => in_page(va, access, format!("its prototype PTEs' page: {}", e.error)),
        })
}

/// The fault a user process's touch returns for an absent prototype page.
fn proto_page_out(page: u64, va: Va, access: Access) -> AccessFault {
    AccessFault {
        kind: super::FaultKind::PrototypePage(page),
        error: crate::mm::base::status::MmError::new(
            crate::mm::base::status::NtStatus::IN_PAGE_ERROR,
            format!(
                "{} of {:#x}: its prototype PTE's page {page:#x} is paged out",
                super::verb(access),
                va.0
            ),
        ),
    }
}
