//! A thread's reads and writes of process memory: every page is touched through
//! the simulated MMU (`fault::touch_extent`), taking whatever fault it takes,
//! and the bytes are copied to or from its frame while the address-space lock
//! is held.

use std::sync::atomic::Ordering;

use crate::mm::base::status::MmResult;
use crate::mm::base::status::NtStatus;
use crate::mm::base::types::{PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::fault::{Access, AccessFault, Extent, FaultKind, touch_extent};
use crate::mm::machine::Machine;
use crate::mm::paging::modified_writer::flush_modified;
use crate::mm::process::address_space::Exception;
use crate::mm::process::{AddressSpace, ProcessState};
use crate::mm::{Mm, MmError};

/// A transfer that copies each page's bytes into `buf`.
fn reader(buf: &mut [u8]) -> Transfer<impl FnMut(&Machine, Pfn, usize, usize, usize) + '_> {
    Transfer {
        access: Access::Read,
        full_pages: Extent::Part,
        copy: move |m: &Machine, pfn: Pfn, off: usize, done: usize, n: usize| {
            m.phys.read(pfn, off, &mut buf[done..done + n]);
        },
    }
}

/// A cache manager's copy: into `Read`'s buffer, or from `Write`'s data.
pub(super) enum SystemCopy<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

/// What one transfer does besides touching pages: the access, what a page the
/// span covers in full is touched with (`Extent::WholePage` promises that the
/// copy writes every byte it is given, which lets a demand-zero fault skip
/// zeroing that page), and the copy itself, called with (machine, frame,
/// offset in page, bytes done, bytes in this page).
struct Transfer<F> {
    access: Access,
    full_pages: Extent,
    copy: F,
}

impl Mm {
    /// Touches `pages` pages from `va` as a thread would (one access per page, no
    /// data copied): the fault path alone, for probes and benchmarks. Returns the
    /// pages touched before the first failure.
    pub fn touch_pages(
        &self,
        pid: Pid,
        va: u64,
        pages: u64,
        write: bool,
    ) -> Result<u64, AccessFault> {
        let access = if write { Access::Write } else { Access::Read };
        let len = usize::try_from(pages.saturating_mul(PAGE_SIZE)).unwrap_or(usize::MAX);
        let t = Transfer {
            access,
            full_pages: Extent::Part,
            copy: |_: &Machine, _, _, _, _| {},
        };
        let done = self.transfer(pid, va & !(PAGE_SIZE - 1), len, t)?;
        Ok((done as u64).div_ceil(PAGE_SIZE))
    }

    /// Reads process memory through the simulated MMU, page by page, as a thread of
    /// the process would. Stops at the first page that cannot be touched: returns
    /// the bytes done, or the fault if none were.
    pub fn read_memory(&self, pid: Pid, va: u64, buf: &mut [u8]) -> Result<usize, AccessFault> {
        let len = buf.len();
        self.transfer(pid, va, len, reader(buf))
    }

    /// Writes process memory through the simulated MMU (see `read_memory`).
    pub fn write_memory(&self, pid: Pid, va: u64, data: &[u8]) -> Result<usize, AccessFault> {
        let t = Transfer {
            access: Access::Write,
            full_pages: Extent::WholePage,
            copy: |m: &Machine, pfn: Pfn, off: usize, done: usize, n: usize| {
                m.phys.write(pfn, off, &data[done..done + n]);
            },
        };
        self.transfer(pid, va, data.len(), t)
    }

    /// Touches each page of `va..va + len` for the transfer's access and copies
    /// while holding the address-space lock (see `Transfer`). Stops at the first
    /// page that cannot be touched.
    fn transfer<F>(
        &self,
        pid: Pid,
        va: u64,
        len: usize,
        t: Transfer<F>,
    ) -> Result<usize, AccessFault>
    where
        F: FnMut(&Machine, Pfn, usize, usize, usize),
    {
        let not_found = |error: MmError| AccessFault {
            kind: FaultKind::NotCommitted,
            error,
        };
        let process = self.process(pid).map_err(not_found)?;
        let m = &self.machine;
        let mut space = process.live_space().map_err(not_found)?;
        if space.state == ProcessState::Outswapped {
            // A thread of the process runs: an outswapped process comes back
            // first, its kernel stack before it (`Mm::kernel`, then the System
            // process's space alone, then this one's again).
            drop(space);
            let mut k = self.kernel_lock();
            if let Err(e) = self.inswap_kernel_stack_locked(&mut k, pid) {
                // NT would bugcheck (KERNEL_STACK_INPAGE_ERROR); mmfs leaves
                // the stack outswapped and tries again at the next inswap.
                crate::mm_event!(
                    m,
                    "kernel.stack-in-error",
                    "pid={pid} status={}",
                    e.status.name()
                );
            }
            space = process.live_space().map_err(not_found)?;
            space.inswap(m);
        }
        space.last_access_ms = m.clock.now_ms();
        let user_end = m.layout.highest_user_address();
        let mut t = t;
        let mut done = 0usize;
        let mut retries = 0;
        let mut progress = 0usize;
        loop {
            if done > progress {
                // Pages were copied since the last retry: the trimmer is not
                // winning every race, so the count starts over.
                (progress, retries) = (done, 0);
            }
            let error = match self.transfer_steps(
                &mut space,
                (va, len, user_end),
                &[],
                &mut t,
                &mut done,
            ) {
                Ok(()) => return Ok(done),
                Err(AccessFault {
                    kind: FaultKind::PrototypePage(page),
                    ..
                }) if retries < MAX_PROTO_RETRIES => {
                    // The prototype PTE's page is paged out: this space goes,
                    // the System process faults the page in (its space alone,
                    // so address spaces are still taken in pid order), this
                    // space comes back and the touch starts over (NT:
                    // MiMakeSystemAddressValidPfn).
                    drop(space);
                    retries += 1;
                    let made = self.make_prototype_page_resident(page);
                    space = process.live_space().map_err(not_found)?;
                    match made {
                        Ok(()) => continue,
                        Err(e) => AccessFault {
                            kind: FaultKind::InPage,
                            error: e,
                        },
                    }
                }
                Err(f) => f,
            };
            return if done > 0 { Ok(done) } else { Err(error) };
        }
    }

    /// Gives new prototype pages their System pages and deletes those of
    /// pages no subsection uses (`kernel/proto_pages.rs`). Call with no
    /// address space held (the section table or the cache's lock may be).
    pub(in crate::mm) fn settle_prototype_pages(&self) {
        if let Ok(system) = self.system_process() {
            crate::mm::kernel::proto_pages::settle(&self.machine, &mut system.space());
        }
    }

    /// Runs `service` on `pid`'s range `[va, va + len)` and, if it failed
    /// with STATUS_IN_PAGE_ERROR because a page of the prototype PTEs behind
    /// the range's views was paged out, faults those pages in as the System
    /// process and runs it again (NT faults them under the working-set lock:
    /// MiMakeSystemAddressValidPfnWs). `service` takes the address space
    /// itself and undoes what it did when it fails (VirtualLock,
    /// MmProbeAndLockPages), so no address space is held here between runs.
    pub(in crate::mm) fn with_prototype_pages<T>(
        &self,
        pid: Pid,
        (va, len): (u64, u64),
        mut service: impl FnMut() -> MmResult<T>,
    ) -> MmResult<T> {
        let (mut tries, mut none_absent) = (0, 0);
        loop {
            let r = service();
            match &r {
                Err(e) if e.status == NtStatus::IN_PAGE_ERROR && tries < MAX_PROTO_RETRIES => {}
                _ => return r,
            }
            let pages = self.absent_prototype_pages(pid, va, len);
            if pages.is_empty() {
                // Another thread's fault may have brought the page back
                // between the failure and this look (no lock is held in
                // between): run again, but an in-page error that twice more
                // finds no page absent is a real one (a paging file's).
                none_absent += 1;
                if none_absent > 2 {
                    return r;
                }
            } else if pages
                .iter()
                .any(|&p| self.make_prototype_page_resident(p).is_err())
            {
                return r;
            }
            tries += 1;
        }
    }

    /// Faults back the paged-out pages of prototype PTEs behind `pid`'s
    /// views in `[va, va + len)` (as the System process, no address space
    /// held); what cannot be read stays out.
    pub(in crate::mm) fn fault_prototype_pages(&self, pid: Pid, va: u64, len: u64) {
        for page in self.absent_prototype_pages(pid, va, len) {
            let _ = self.make_prototype_page_resident(page);
        }
    }

    /// The paged-out pages of prototype PTEs behind `pid`'s views in
    /// `[va, va + len)` (its address space briefly, then the PFN lock).
    fn absent_prototype_pages(&self, pid: Pid, va: u64, len: u64) -> Vec<u64> {
        let Ok(p) = self.process(pid) else {
            return Vec::new();
        };
        let space = p.space();
        let (first, last) = (
            Va(va).vpn().0,
            Va(va.saturating_add(len.max(1) - 1)).vpn().0,
        );
        let st = self.machine.pfn_lock();
        let mut pages = Vec::new();
        for vad in space.vads.iter() {
            let Some(s) = &vad.section else {
                continue;
            };
            let (from, to) = (first.max(vad.starting_vpn.0), last.min(vad.ending_vpn.0));
            if from > to {
                continue;
            }
            for vpn in from..=to {
                let index = s.first_prototype_index + (vpn - vad.starting_vpn.0);
                if let Some(at) = st.segments.locate(s.id, index)
                    && st.segments.is_absent(at)
                    && !pages.contains(&st.segments.page_of(at))
                {
                    pages.push(st.segments.page_of(at));
                }
            }
        }
        pages
    }

    /// Faults the prototype page at `page` into the System working set (a
    /// System process fault, counted as pid 4's), holding only the System
    /// process's address space.
    pub(in crate::mm) fn make_prototype_page_resident(&self, page: u64) -> Result<(), MmError> {
        let system = self.system_process()?;
        // No page: the others give some up (the faulting process's space is
        // let go, so it may too) and the System process touches again.
        self.with_reclaim(Pid::SYSTEM, || {
            let mut space = system.space();
            crate::mm::kernel::proto_pages::make_resident(&self.machine, &mut space, page)
                .map(|_| ())
        })
    }

    /// A kernel-mode copy to or from system space in the System process's
    /// address space (which the caller holds): the cache manager's copies
    /// through its views. Faults are the System process's.
    pub(super) fn system_copy(
        &self,
        space: &mut AddressSpace,
        va: u64,
        buf: SystemCopy<'_>,
        known: &[Option<Pfn>],
    ) -> Result<usize, AccessFault> {
        match buf {
            SystemCopy::Read(buf) => {
                let len = buf.len();
                self.transfer_locked(space, (va, len), u64::MAX, known, reader(buf))
            }
            SystemCopy::Write(data) => {
                let t = Transfer {
                    access: Access::Write,
                    full_pages: Extent::Part,
                    copy: |m: &Machine, pfn: Pfn, off: usize, done: usize, n: usize| {
                        m.phys.write(pfn, off, &data[done..done + n]);
                    },
                };
                self.transfer_locked(space, (va, data.len()), u64::MAX, known, t)
            }
        }
    }

    /// `transfer` with the address space held; addresses above `limit` are
    /// access violations. `known[k]`, when given, is the frame the page `k`
    /// pages from `va`'s was just made valid with by a fault the caller took
    /// for it (`fault::transition_run`): it is copied without another touch,
    /// as a fault's own page is, until the first page that is touched (whose
    /// fault might trim the working set at its maximum, so the frames known
    /// after it are looked at again).
    fn transfer_locked<F>(
        &self,
        space: &mut AddressSpace,
        (va, len): (u64, usize),
        limit: u64,
        known: &[Option<Pfn>],
        mut t: Transfer<F>,
    ) -> Result<usize, AccessFault>
    where
        F: FnMut(&Machine, Pfn, usize, usize, usize),
    {
        let mut done = 0usize;
        match self.transfer_steps(space, (va, len, limit), known, &mut t, &mut done) {
            Ok(()) => Ok(done),
            Err(_) if done > 0 => Ok(done),
            Err(f) => Err(f),
        }
    }

    /// The pages of a transfer from byte `*done` on, advancing `*done`;
    /// stops at the first page that cannot be touched, with its fault.
    /// `known` as for `transfer_locked`, indexed from `va`'s page.
    fn transfer_steps<F>(
        &self,
        space: &mut AddressSpace,
        (va, len, limit): (u64, usize, u64),
        known: &[Option<Pfn>],
        t: &mut Transfer<F>,
        done: &mut usize,
    ) -> Result<(), AccessFault>
    where
        F: FnMut(&Machine, Pfn, usize, usize, usize),
    {
        let m = &self.machine;
        let pid = space.pid;
        let mut known = known;
        while *done < len {
            let addr = va.checked_add(*done as u64).filter(|&a| a <= limit);
            let Some(addr) = addr else {
                let at = va.saturating_add(*done as u64);
                return Err(above_user_space(m, space, at, t.access));
            };
            let page_off = (addr % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - page_off).min(len - *done);
            let extent = if n == PAGE_SIZE as usize {
                t.full_pages
            } else {
                Extent::Part
            };
            let page = ((addr / PAGE_SIZE).saturating_sub(va / PAGE_SIZE)) as usize;
            if let Some(&Some(pfn)) = known.get(page) {
                (t.copy)(m, pfn, page_off, *done, n);
                *done += n;
                continue;
            }
            known = &[];
            // Looked at in place, not moved: a resident page's touch returns
            // here millions of times a second.
            let mut touched = touch_extent(m, space, Va(addr), t.access, extent);
            if let Err(f) = &touched
                && out_of_pages(f)
            {
                let page = (Va(addr), t.access, extent);
                touched = self.touch_after_reclaim(pid, space, touched, page);
            }
            let pfn = touched?;
            (t.copy)(m, pfn, page_off, *done, n);
            *done += n;
        }
        Ok(())
    }

    /// A touch found no page even after this process gave up its own
    /// (`failed`): other processes give up some (those whose lock is free right
    /// now) and the touch is retried, until it succeeds, fails otherwise, or
    /// nothing more can be reclaimed (then the last failure stands).
    #[cold]
    fn touch_after_reclaim(
        &self,
        pid: Pid,
        space: &mut AddressSpace,
        mut failed: Result<Pfn, AccessFault>,
        (va, access, extent): (Va, Access, Extent),
    ) -> Result<Pfn, AccessFault> {
        while matches!(&failed, Err(f) if out_of_pages(f))
            && self.reclaim_around(pid, space, va) > 0
        {
            failed = touch_extent(&self.machine, space, va, access, extent);
        }
        failed
    }

    /// One round of reclaim for a fault of `space` (held) that found no page:
    /// the other processes, then this one's page tables that map nothing
    /// valid or in transition but the one the fault needs. The failed fault
    /// holds no walk of them, so they may go now; they are written out at
    /// once, to be available.
    fn reclaim_around(&self, pid: Pid, space: &mut AddressSpace, va: Va) -> u64 {
        let others = self.reclaim_for(pid);
        let tables = space.trim_page_tables_sparing(&self.machine, Some(va));
        if tables > 0 {
            flush_modified(&self.machine);
        }
        others + tables
    }
}

/// How many times in a row one transfer faults a prototype page back in,
/// with no byte copied in between, before it gives up (each time the page
/// was trimmed again before the touch: a trimmer emptying the System working
/// set in a loop can win a few such races, not dozens).
const MAX_PROTO_RETRIES: u32 = 64;

/// Whether a touch failed for want of a physical page (which reclaiming from
/// other processes may cure).
fn out_of_pages(f: &AccessFault) -> bool {
    f.kind == FaultKind::Resources && f.error.status == NtStatus::NO_MEMORY
}

/// An access past the highest user address: an access violation, recorded as
/// the process's last exception and counted.
fn above_user_space(m: &Machine, space: &mut AddressSpace, a: u64, access: Access) -> AccessFault {
    let user_end = m.layout.highest_user_address();
    space.last_exception = Some(Exception {
        status: NtStatus::ACCESS_VIOLATION,
        write: access == Access::Write,
        va: Va(a),
    });
    m.counters.access_violations.fetch_add(1, Ordering::Relaxed);
    AccessFault {
        kind: FaultKind::NotCommitted,
        error: mm_err!(
            ACCESS_VIOLATION,
            "{a:#x} is above the highest user address {user_end:#x}"
        ),
    }
}
