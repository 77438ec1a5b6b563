//! Kernel stacks (MmCreateKernelStack, MmDeleteKernelStack,
//! MmOutPageKernelStack, MmInPageKernelStack). mmfs processes have one thread
//! each, so each process gets one stack when it is made: KERNEL_STACK_SIZE
//! from the system PTE pool, with one more PTE below it left invalid as the
//! guard that catches an overflow, as WRK lays it out. The frames are valid in
//! the System process's page tables, in no working set, with use KernelStack,
//! and charged against resident available memory.
//!
//! When the swapper outswaps the process the stack's PTEs become transition
//! PTEs and its frames go to the modified list (a stack is always dirty), from
//! where the modified page writer may write them to a paging file and the
//! allocator repurpose them; the resident charge is returned. Inswap brings
//! each page back: off its list (a soft fault) or read from the paging file
//! (a hard fault), and charges again.
//!
//! Callers hold `Mm::kernel` and the System process's address space (never a
//! user's at the same time); the PFN lock is taken here for each page.

use crate::mm::base::counters::add;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, Mmpte, PAGE_SIZE, Pfn, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{ActivePage, Machine, PageNeed, activate_locked};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::system_data_pte;
use crate::mm::process::page_tables::pte_va;

use super::sysptes::SystemPtes;

/// KERNEL_STACK_SIZE in pages: 12 KB on x86 and PAE (WRK `i386.h`), 24 KB on
/// x64 (WRK `amd64.h`, KERNEL_STACK_SIZE 0x6000).
pub fn kernel_stack_pages(arch: Arch) -> u64 {
    match arch {
        Arch::X86 | Arch::Pae => 3,
        Arch::X64 => 6,
    }
}

/// One process's kernel stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelStack {
    /// The run of system PTEs: the guard PTE, then the stack's pages.
    pub guard: Va,
    pub pages: u64,
    /// Outswapped: its PTEs are transition or paging-file PTEs and it holds
    /// no resident charge.
    pub outswapped: bool,
}

impl KernelStack {
    /// The stack's pages, lowest first (the stack grows down from the top).
    pub fn page_vas(&self) -> impl Iterator<Item = Va> + use<> {
        let first = self.guard.0 + PAGE_SIZE;
        (0..self.pages).map(move |i| Va(first + i * PAGE_SIZE))
    }

    /// The initial stack pointer's page end: the top of the stack.
    pub fn top(&self) -> Va {
        Va(self.guard.0 + (self.pages + 1) * PAGE_SIZE)
    }
}

/// The OriginalPte of a stack page: read/write demand zero, so the modified
/// page writer sends it to a paging file.
fn stack_original(m: &Machine) -> Mmpte {
    m.fmt.encode(&PteState::DemandZero {
        protection: Protection::READWRITE,
    })
}

/// MmCreateKernelStack: charges resident available memory, reserves the
/// PTEs, and makes each page valid. On failure nothing is left.
pub fn create(
    m: &Machine,
    ptes: &mut SystemPtes,
    system: &mut AddressSpace,
    owner: &str,
) -> MmResult<KernelStack> {
    let pages = kernel_stack_pages(m.fmt.arch());
    m.charge_resident_unreserved(pages, &format!("the kernel stack of {owner}"))?;
    let guard = match ptes.reserve(pages + 1, &format!("kernel stack {owner}")) {
        Ok(va) => va,
        Err(e) => {
            m.uncharge_resident(pages);
            return Err(e);
        }
    };
    let mut stack = KernelStack {
        guard,
        pages: 0,
        outswapped: false,
    };
    for va in (KernelStack { pages, ..stack }).page_vas() {
        if let Err(e) = make_page(m, system, va) {
            stack.pages = pages;
            delete(m, ptes, system, &stack);
            return Err(e);
        }
    }
    stack.pages = pages;
    Ok(stack)
}

/// One new stack page: a zeroed frame, valid at `va`.
fn make_page(m: &Machine, system: &mut AddressSpace, va: Va) -> MmResult<()> {
    let loc = system.ensure_leaf(m, va)?;
    let (mut st, page) = system.obtain_page(m, PageNeed::Zeroed)?;
    let active = ActivePage {
        use_: PageUse::KernelStack,
        owner: system.slot,
        pte_address: pte_va(m, va),
        original_pte: stack_original(m),
        share: 1,
        ws_index: 0,
    };
    activate_locked(&mut st, page.pfn, active);
    st.db.set_modified(page.pfn, true);
    st.db.increment_share(loc.table);
    system.tables(m).write(
        loc,
        system_data_pte(m, page.pfn, Protection::READWRITE, true),
    );
    Ok(())
}

/// MmDeleteKernelStack: frees every page (valid, in transition or in a
/// paging file), clears the PTEs, returns the run and the resident charge.
pub fn delete(m: &Machine, ptes: &mut SystemPtes, system: &mut AddressSpace, stack: &KernelStack) {
    let tables = system.tables(m);
    for va in stack.page_vas() {
        let Some(loc) = tables.leaf(va) else { continue };
        let mut st = m.pfn_lock();
        match m.fmt.decode(tables.read(loc)) {
            PteState::Valid(h) => {
                st.db.decrement_share(loc.table);
                m.release_frame_locked(&mut st, h.pfn);
            }
            PteState::Transition { pfn, .. } => m.release_frame_locked(&mut st, pfn),
            PteState::PageFile { file, slot, .. } => m.pagefiles_lock().release(file, slot),
            _ => {}
        }
        tables.write(loc, Mmpte::ZERO);
    }
    ptes.release(stack.guard);
    if !stack.outswapped {
        m.uncharge_resident(stack.pages);
    }
}

/// MmOutPageKernelStack: each valid page's PTE becomes a transition PTE and
/// the frame goes to the modified list; the resident charge is returned.
/// Returns the pages that left.
pub fn outswap(m: &Machine, system: &mut AddressSpace, stack: &mut KernelStack) -> u64 {
    if stack.outswapped {
        return 0;
    }
    let out = out_pages(m, system, stack);
    stack.outswapped = true;
    m.uncharge_resident(stack.pages);
    crate::mm_event!(m, "kernel.stack-out", "va={:#x} pages={out}", stack.guard.0);
    out
}

/// Puts each valid page of the stack in transition, on the modified list.
fn out_pages(m: &Machine, system: &mut AddressSpace, stack: &KernelStack) -> u64 {
    let tables = system.tables(m);
    let mut out = 0;
    for va in stack.page_vas() {
        let Some(loc) = tables.leaf(va) else { continue };
        let mut st = m.pfn_lock();
        let PteState::Valid(h) = m.fmt.decode(tables.read(loc)) else {
            continue;
        };
        st.db.set_modified(h.pfn, true);
        m.release_backing_locked(&mut st, h.pfn);
        let transition = PteState::Transition {
            pfn: h.pfn,
            protection: Protection::READWRITE,
        };
        tables.write(loc, m.fmt.encode(&transition));
        st.db.decrement_share(loc.table);
        st.db.set_share_count(h.pfn, 0);
        st.db.set_ws_index(h.pfn, 0);
        if st.db.decrement_reference(h.pfn) == 0 {
            st.db.insert(h.pfn, PageLocation::Modified);
        } else {
            st.db.set_location(h.pfn, PageLocation::Transition);
        }
        out += 1;
    }
    out
}

/// MmInPageKernelStack: charges resident available memory again (NT takes
/// it unconditionally: a thread that must run cannot be refused) and brings
/// every page back. A page whose paging-file read fails stays out and the
/// stack stays outswapped, every page out again (the next inswap tries
/// again).
pub fn inswap(m: &Machine, system: &mut AddressSpace, stack: &mut KernelStack) -> MmResult<u64> {
    if !stack.outswapped {
        return Ok(0);
    }
    let mut read = 0;
    for va in stack.page_vas() {
        let Some(loc) = system.tables(m).leaf(va) else {
            continue;
        };
        match inpage(m, system, loc, va) {
            Ok(n) => read += n,
            Err(e) => {
                // All or nothing: the pages already back go out again.
                out_pages(m, system, stack);
                return Err(e);
            }
        }
    }
    m.resident
        .charged
        .fetch_add(stack.pages, std::sync::atomic::Ordering::Relaxed);
    stack.outswapped = false;
    crate::mm_event!(
        m,
        "kernel.stack-in",
        "va={:#x} pages={} read={read}",
        stack.guard.0,
        stack.pages
    );
    Ok(read)
}

/// One page of an inswap; returns 1 if it was read from a paging file.
fn inpage(m: &Machine, system: &mut AddressSpace, loc: EntryLoc, va: Va) -> MmResult<u64> {
    let tables = system.tables(m);
    let mut st = m.pfn_lock();
    match m.fmt.decode(tables.read(loc)) {
        PteState::Transition { pfn, .. } => {
            if st.db.location(pfn).is_some_and(PageLocation::is_list) {
                st.db.unlink(pfn);
            }
            st.db.set_location(pfn, PageLocation::Active);
            st.db.increment_reference(pfn);
            st.db.set_share_count(pfn, 1);
            st.db.set_ws_index(pfn, 0);
            st.db.increment_share(loc.table);
            let dirty = st.db.modified(pfn);
            tables.write(loc, system_data_pte(m, pfn, Protection::READWRITE, dirty));
            Ok(0)
        }
        PteState::PageFile { file, slot, .. } => {
            drop(st);
            read_page(m, system, loc, va, (file, slot))?;
            Ok(1)
        }
        _ => Ok(0),
    }
}

/// A stack page's hard fault: a new frame, filled from the paging file with
/// no lock but the System process's address space held (no other thread can
/// reach the frame: it is on no list and in no PTE yet).
fn read_page(
    m: &Machine,
    system: &mut AddressSpace,
    loc: EntryLoc,
    va: Va,
    (file, slot): (u8, u32),
) -> MmResult<()> {
    let (st, page) = system.obtain_page(m, PageNeed::Any)?;
    drop(st);
    let io = m.pagefiles_lock().io(file);
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    let done = match io {
        Some(io) => io.read_pages(slot, &mut buf),
        None => Err(std::io::Error::other("no such paging file")),
    };
    let mut st = m.pfn_lock();
    if let Err(e) = done {
        m.free_page_locked(&mut st, page.pfn);
        return Err(mm_err!(
            IN_PAGE_ERROR,
            "the kernel stack page {:#x} could not be read from paging file {file} slot {slot:#x}: {e}",
            va.0
        ));
    }
    m.phys.write(page.pfn, 0, &buf);
    let original = m.fmt.encode(&PteState::PageFile {
        file,
        slot,
        protection: Protection::READWRITE,
    });
    activate_locked(
        &mut st,
        page.pfn,
        ActivePage {
            use_: PageUse::KernelStack,
            owner: system.slot,
            pte_address: pte_va(m, va),
            original_pte: original,
            share: 1,
            ws_index: 0,
        },
    );
    st.db.increment_share(loc.table);
    system.tables(m).write(
        loc,
        system_data_pte(m, page.pfn, Protection::READWRITE, false),
    );
    // Paging I/O, but no page fault: MmInPageKernelStack reads the stack
    // itself, not through MmAccessFault.
    add(&m.counters.pages_read_from_pagefile, 1);
    Ok(())
}

/// The frame of a resident stack page, for `verify` and the tests.
pub fn frame_of(m: &Machine, system: &AddressSpace, va: Va) -> Option<Pfn> {
    let tables = system.tables(m);
    let loc = tables.leaf(va)?;
    match m.fmt.decode(tables.read(loc)) {
        PteState::Valid(h) => Some(h.pfn),
        _ => None,
    }
}
