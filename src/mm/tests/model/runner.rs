//! Running the test: each operation goes to the real `Mm` and to the model,
//! and what `Mm` did is compared with what the model said (a refused call's
//! status, what a call returns, the bytes a transfer moves and reads); after
//! every batch `verify` runs, the locked pages are compared with the working
//! set and one process is read back whole (and one cached file, `files.rs`);
//! at the end every process and section goes, every file must hold its bytes
//! and nothing may stay charged.

use std::collections::{HashMap, HashSet};

use super::COMMIT_BUDGET;
use super::files::FileStats;
use super::generators::{Chooser, Op, SystemOp};
use super::in_place;
use super::reference::{
    Expect, GRANULE, Kind, Model, PAGE, ProcessModel, RW, ReadOut, Refusal, Region, SectionModel,
    ViewModel, page_span, plain_readable,
};
use super::reset::{Effect, ResetPlan};
use crate::mm::api::CachedFile;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::fault::{AccessFault, FaultKind};
use crate::mm::inspect::sections::PAGED_OUT;
use crate::mm::inspect::{PagedOutTable, PfnRow, PteRow};
use crate::mm::pfn::PageLocation;
use crate::mm::segment::ControlAreaId;
use crate::mm::tests::{meminfo, req, small_machine};
use crate::mm::testutil::XorShift;
use crate::mm::{Mm, MmResult, NtStatus};

pub(super) struct Run {
    pub(super) mm: Mm,
    rng: XorShift,
    seed: u64,
    arch: Arch,
    step: u64,
    pub(super) model: Model,
    /// The opens of each file of the file model, by its index (none while
    /// it is closed or deleted).
    pub(super) handles: Vec<Vec<CachedFile>>,
    /// Name each operation (`MMFS_MODEL_TRACE`).
    trace: bool,
    /// Refused calls checked (for the summary).
    refusals: u64,
    /// Resets done, the pages they zeroed at once (only in the paging file),
    /// reads of pages that could hold more than one content (checked against
    /// each), and those that found the former contents gone.
    resets: u64,
    reset_zeroed: u64,
    reset_reads: u64,
    reset_lost: u64,
    /// Forks done.
    forks: u64,
    /// ResetWriteWatch calls done, and the pages GetWriteWatch reported
    /// written just before them.
    watch_resets: u64,
    watch_pages: u64,
    /// The control area of each pagefile-backed section, by name: a section
    /// deleted while mapped keeps it, and its pages are still checked.
    section_areas: HashMap<String, ControlAreaId>,
}

/// What a run did, for the line the test prints.
pub(super) struct Summary {
    pub(super) steps: u64,
    pub(super) refusals: u64,
    pub(super) hard_faults: u64,
    pub(super) pages_written: u64,
    /// Page tables paged out, and faulted back.
    pub(super) tables_trimmed: u64,
    pub(super) table_faults: u64,
    pub(super) resets: u64,
    pub(super) reset_zeroed: u64,
    pub(super) reset_reads: u64,
    pub(super) reset_lost: u64,
    pub(super) forks: u64,
    pub(super) watch_resets: u64,
    pub(super) watch_pages: u64,
    pub(super) files: FileStats,
    /// The cache manager's counters (`cache/stats`).
    pub(super) cache: Vec<(&'static str, u64)>,
}

impl Run {
    /// A machine with 1 MB of RAM and three processes that stay to the end.
    pub(super) fn new(seed: u64, arch: Arch) -> Run {
        let (mm, pids) = small_machine(arch);
        let procs = (pids.into_iter().enumerate())
            .map(|(i, pid)| ProcessModel::new(pid, format!("p{i}"), false))
            .collect();
        Run {
            mm,
            rng: XorShift(seed ^ (arch as u64 + 1).wrapping_mul(0x9E37_79B9)),
            seed,
            arch,
            step: 0,
            model: Model::new(procs, arch),
            handles: Vec::new(),
            trace: false,
            refusals: 0,
            resets: 0,
            reset_zeroed: 0,
            reset_reads: 0,
            reset_lost: 0,
            forks: 0,
            watch_resets: 0,
            watch_pages: 0,
            section_areas: HashMap::new(),
        }
    }

    /// `ops` operations, checked after every `batch`; `trace` names each.
    pub(super) fn run(mut self, ops: u64, batch: u64, trace: bool) -> Summary {
        self.trace = trace;
        while self.step < ops {
            self.op();
            if self.step % batch == batch - 1 {
                self.check_batch();
            }
            self.step += 1;
        }
        self.finish()
    }

    fn chooser(&mut self) -> Chooser<'_> {
        Chooser {
            rng: &mut self.rng,
            model: &self.model,
        }
    }

    fn op(&mut self) {
        let (pi, k) = self.chooser().process_and_kind();
        if self.trace {
            eprintln!(
                "step {}: op {k} on pid {}",
                self.step, self.model.procs[pi].pid
            );
        }
        if let Some(op) = self.chooser().op(pi, k) {
            if self.trace {
                eprintln!("  {}", op.describe());
            }
            self.apply(pi, op);
        }
    }

    fn apply(&mut self, pi: usize, op: Op) {
        match op {
            Op::AllocAnywhere {
                pages,
                commit,
                protection,
            } => self.alloc_anywhere(pi, pages, commit, protection),
            Op::ReserveAt {
                address,
                pages,
                commit,
                protection,
            } => self.reserve_at(pi, address, pages, commit, protection),
            Op::CommitAt {
                address,
                size,
                protection,
            } => self.commit_at(pi, address, size, protection),
            Op::Reset {
                address,
                size,
                protection,
            } => self.reset(pi, address, size, protection),
            Op::AllocWriteWatch {
                pages,
                commit,
                protection,
            } => self.alloc_write_watch(pi, pages, commit, protection),
            Op::ResetWriteWatch { address, size } => self.reset_write_watch(pi, address, size),
            Op::FreeNowhere { address, release } => self.free_nowhere(pi, address, release),
            Op::Free {
                region,
                release,
                first_i,
                range,
            } => self.free(pi, &region, release, first_i, range),
            Op::ReleaseRegion(r) => self.release_region(pi, &r),
            Op::Protect { address, size, new } => self.protect(pi, address, size, new),
            Op::Lock {
                region,
                fi,
                n,
                address,
                size,
                unlock,
            } => match unlock {
                true => self.unlock(pi, &region, fi, n, (address, size)),
                false => self.lock(pi, &region, fi, n, (address, size)),
            },
            Op::WsLimits(limits) => self.ws_limits(pi, limits),
            Op::Write { va, data } => self.write(pi, va, &data),
            Op::Read { va, len } => self.read(pi, va, len),
            Op::CreateSection { pages, data } => self.create_section(pages, data),
            Op::DeleteSection(si) => self.delete_section(si),
            Op::Map {
                si,
                protection,
                offset,
                pages,
                address,
            } => self.map(pi, si, protection, (offset, pages), address),
            Op::Unmap { region, address } => self.unmap(pi, &region, address),
            Op::Fork => self.fork(pi),
            Op::CreateProcess => self.create_process(),
            Op::Terminate(victim) => self.terminate(victim),
            Op::System(s) => self.system(pi, s),
            Op::File(f) => self.file_op(f),
        }
    }

    // ---- comparing -----------------------------------------------------------

    pub(super) fn ctx(&self) -> String {
        format!(
            "seed {:#x} {:?} step {} (replay: MMFS_SEED={} MMFS_MODEL_OPS={})",
            self.seed,
            self.arch,
            self.step,
            self.seed,
            self.step + 1
        )
    }

    /// A refused call: the status must be `want`.
    pub(super) fn expect_refused<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        r: MmResult<T>,
        want: NtStatus,
    ) {
        match r {
            Ok(v) => panic!(
                "{}: {what} succeeded ({v:?}); the model expected {}",
                self.ctx(),
                want.name()
            ),
            Err(e) => {
                assert_eq!(
                    e.status,
                    want,
                    "{}: {what}: {e}; the model expected {}",
                    self.ctx(),
                    want.name()
                );
                self.refusals += 1;
            }
        }
    }

    pub(super) fn expect_ok<T>(&self, what: &str, r: MmResult<T>) -> T {
        r.unwrap_or_else(|e| {
            self.dump_memory();
            panic!(
                "{}: {what} failed: {e}; the model expected success",
                self.ctx()
            )
        })
    }

    /// A call checked against what the model said: refused with its status
    /// (None), or done, with what it returned and the model's answer.
    pub(super) fn expect<T: std::fmt::Debug, U>(
        &mut self,
        what: &str,
        got: MmResult<T>,
        want: Expect<U>,
    ) -> Option<(T, U)> {
        match want {
            Err(Refusal { what, status }) => {
                self.expect_refused(what, got, status);
                None
            }
            Ok(u) => Some((self.expect_ok(what, got), u)),
        }
    }

    /// Prints where memory is, for a failure that may be about memory: the
    /// list counts, the use counts, and per process the working set, page
    /// tables, locked pages, limits, VADs and PTE states.
    fn dump_memory(&self) {
        let meminfo: Vec<String> = self
            .mm
            .meminfo()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        eprintln!("meminfo: {}", meminfo.join(", "));
        let uses: Vec<String> = self
            .mm
            .usecounts()
            .iter()
            .filter(|u| u.counts[0] > 0)
            .map(|u| format!("{} {}", u.name, u.counts[0]))
            .collect();
        eprintln!("pages by use: {}", uses.join(", "));
        for p in self.mm.processes() {
            let Ok(st) = self.mm.process_status(p.pid) else {
                continue;
            };
            let mut states: std::collections::BTreeMap<&str, u64> = Default::default();
            for r in self.mm.ptes(p.pid).unwrap_or_default() {
                *states.entry(r.state).or_default() += 1;
            }
            eprintln!(
                "{} (pid {}): working set {} (minimum {}, maximum {}), page tables {}, locked {}, commit {}, VADs {}, PTEs {states:?}",
                p.name,
                p.pid,
                st.working_set_size,
                st.working_set_minimum,
                st.working_set_maximum,
                st.page_table_pages,
                st.locked_pages,
                st.commit_charge,
                self.mm.vads(p.pid).map(|v| v.len()).unwrap_or(0),
            );
        }
    }

    // ---- allocation ----------------------------------------------------------

    fn alloc_anywhere(&mut self, pi: usize, pages: u64, commit: bool, protection: Protection) {
        let flags = if commit { "reserve,commit" } else { "reserve" };
        let request = req(0, pages * PAGE_SIZE, flags, protection);
        let pid = self.model.procs[pi].pid;
        let (base, size) = self.expect_ok("alloc", self.mm.allocate(pid, &request));
        let ctx = self.ctx();
        assert_eq!(base.0 % GRANULE, 0, "{ctx}: base {:#x}", base.0);
        assert_eq!(size, pages * PAGE_SIZE, "{ctx}: size");
        let p = &mut self.model.procs[pi];
        assert!(
            !p.overlaps(base.0, base.0 + size - 1),
            "{ctx}: {:#x} overlaps a reservation",
            base.0
        );
        p.insert_private(base.0, pages, commit, protection);
    }

    /// MEM_RESERVE | MEM_WRITE_WATCH anywhere: a write-watch region with
    /// nothing written yet.
    fn alloc_write_watch(&mut self, pi: usize, pages: u64, commit: bool, protection: Protection) {
        let flags = if commit { "reserve,commit" } else { "reserve" };
        let mut request = req(0, pages * PAGE_SIZE, flags, protection);
        request.write_watch = true;
        let pid = self.model.procs[pi].pid;
        let (base, size) = self.expect_ok("alloc write-watch", self.mm.allocate(pid, &request));
        assert_eq!(size, pages * PAGE_SIZE, "{}: size", self.ctx());
        let p = &mut self.model.procs[pi];
        p.insert_private(base.0, pages, commit, protection);
        if let Some(r) = p.regions.get_mut(&base.0) {
            r.write_watch = Some(Default::default());
        }
    }

    /// GetWriteWatch of the range, compared with the model, then
    /// ResetWriteWatch of it.
    fn reset_write_watch(&mut self, pi: usize, address: u64, size: u64) {
        let pid = self.model.procs[pi].pid;
        let got = self.mm.get_write_watch(pid, address, size);
        let want = self.model.watch_range(pi, address, size, true);
        if let Some((pages, at)) = self.expect("get write watch", got, want) {
            let pages: Vec<u64> = pages.into_iter().map(|va| va.0).collect();
            let written = self.model.written_in(pi, at);
            assert_eq!(pages, written, "{}: GetWriteWatch", self.ctx());
            self.watch_pages += pages.len() as u64;
        }
        let got = self.mm.reset_write_watch(pid, address, size);
        let want = self.model.watch_range(pi, address, size, false);
        if let Some((_, at)) = self.expect("reset write watch", got, want) {
            self.model.apply_reset_write_watch(pi, at);
            self.watch_resets += 1;
        }
    }

    /// The `write-watch` view of process `pi` against the model's.
    fn check_write_watch(&self, pi: usize) {
        let pid = self.model.procs[pi].pid;
        let rows: Vec<(u64, u64)> = self
            .expect_ok("write-watch", self.mm.write_watch(pid))
            .into_iter()
            .map(|r| (r.region, r.va))
            .collect();
        assert_eq!(
            rows,
            self.model.write_watch_rows(pi),
            "{}: pid {pid}'s write-watch",
            self.ctx()
        );
    }

    fn reserve_at(
        &mut self,
        pi: usize,
        address: u64,
        pages: u64,
        commit: bool,
        protection: Protection,
    ) {
        let flags = if commit { "reserve,commit" } else { "reserve" };
        let pid = self.model.procs[pi].pid;
        let r = self
            .mm
            .allocate(pid, &req(address, pages * PAGE_SIZE, flags, protection));
        let want = self.model.reserve(pi, address, pages, protection);
        let Some(((got, size), (base, bytes))) = self.expect("reserve at an address", r, want)
        else {
            return;
        };
        assert_eq!((got.0, size), (base, bytes), "{}", self.ctx());
        let p = &mut self.model.procs[pi];
        p.insert_private(base, size / PAGE_SIZE, commit, protection);
    }

    fn commit_at(&mut self, pi: usize, address: u64, size: u64, protection: Protection) {
        let want = self.model.commit(pi, address, size, protection);
        if let Ok(c) = &want
            && self.model.committed_total() + c.new > COMMIT_BUDGET
        {
            return;
        }
        let pid = self.model.procs[pi].pid;
        let r = self
            .mm
            .allocate(pid, &req(address, size, "commit", protection));
        let Some(((got, bytes), c)) = self.expect("commit", r, want) else {
            return;
        };
        let (first, last) = page_span(address, size);
        assert_eq!((got.0, bytes), (first, last + 1 - first), "{}", self.ctx());
        self.model.apply_commit(pi, &c, protection);
    }

    fn reset(&mut self, pi: usize, address: u64, size: u64, protection: Protection) {
        let pid = self.model.procs[pi].pid;
        let want = self.model.reset(pi, address, size);
        let effects = match &want {
            Ok(plan) => self.reset_effects(pi, plan),
            Err(_) => HashMap::new(),
        };
        let r = self
            .mm
            .allocate(pid, &req(address, size, "reset", protection));
        let Some(((got, bytes), plan)) = self.expect("reset", r, want) else {
            return;
        };
        assert_eq!((got.0, bytes), plan.range(), "{}: reset", self.ctx());
        self.model.apply_reset(pi, &plan, &effects);
        self.resets += 1;
        self.reset_zeroed += (effects.values())
            .filter(|e| matches!(e, Effect::Zero | Effect::ZeroShared))
            .count() as u64;
    }

    /// What the reset `plan` will do to each of its pages, by where each
    /// frame is now, which is the real system's to know (`reset::Effect`).
    fn reset_effects(&self, pi: usize, plan: &ResetPlan) -> HashMap<u64, Effect> {
        let pid = self.model.procs[pi].pid;
        let (first, bytes) = plan.range();
        // The reset brings back the range's paged-out page tables before it
        // looks at a PTE; reading one from the paging file takes a page, which
        // may repurpose any standby frame first: a page in transition the
        // reset would have kept may then be only in the paging file, and read
        // zeros (MiMakePdeExistAndMakeValid's fault is as unpredictable).
        // So does bringing back a paged-out page of prototype PTEs
        // (MiMakeSystemAddressValidPfn), which the reset does before it reads
        // a view page's prototype PTE.
        let table_read = (first..first + bytes)
            .step_by(PAGE_SIZE as usize)
            .any(|va| {
                self.mm.pte_detail(pid, va).is_ok_and(|d| {
                    matches!(d.table_paged_out, Some(PagedOutTable::PagingFile { .. }))
                        || matches!(d.prototype, Some((_, PAGED_OUT)))
                })
            });
        let rows = self.expect_ok("ptes", self.mm.ptes(pid));
        rows.iter()
            .filter(|r| r.raw != 0 && (first..first + bytes).contains(&r.va))
            .map(|r| {
                let effect = match self.page_effect(pid, r) {
                    // A private page's frame, or a view's prototype frame (a
                    // clone block's page would be zeroed for every relative:
                    // the generator's private resets are predicted exactly).
                    Effect::Keep
                        if table_read
                            && (r.state == "transition"
                                || (plan.is_view() && r.state == "prototype")) =>
                    {
                        Effect::MayDrop
                    }
                    effect => effect,
                };
                (r.va, effect)
            })
            .collect()
    }

    /// The effect of a reset on the page of PTE `row` (not zero). Behind a
    /// prototype pointer (a view's page, a clone block's), the prototype PTE
    /// decides.
    fn page_effect(&self, pid: Pid, row: &PteRow) -> Effect {
        let frame = |n: u64| self.mm.pfn_detail(Pfn(n as u32));
        match row.state {
            "pagefile" => Effect::Zero,
            "valid" | "transition" => frame_effect(row.state, row.pfn_or_offset.and_then(frame)),
            "prototype" => {
                let detail = self.expect_ok("pte", self.mm.pte_detail(pid, row.va));
                match detail.prototype {
                    // A page of prototype PTEs leaves only while none of
                    // its PTEs is valid or in transition: a paged-out one
                    // names a paging-file slot (released: zeros) or demand
                    // zero (zeros already).
                    Some((_, "pagefile" | PAGED_OUT)) => Effect::ZeroShared,
                    Some((at, state @ ("valid" | "transition"))) => {
                        let mut found = None;
                        self.mm.for_each_pfn_row(|f| {
                            if f.pte_address == at {
                                found = Some(f.clone());
                            }
                        });
                        frame_effect(state, found)
                    }
                    _ => Effect::Keep,
                }
            }
            _ => Effect::Keep,
        }
    }

    // ---- free ----------------------------------------------------------------

    fn free_nowhere(&mut self, pi: usize, address: u64, release: bool) {
        if self.model.procs[pi].region_at(address).is_none() {
            let what = if release { "release" } else { "decommit" };
            let res = self.mm.free(self.model.procs[pi].pid, address, 0, release);
            self.expect_refused(what, res, NtStatus::MEMORY_NOT_ALLOCATED);
        }
    }

    fn free(
        &mut self,
        pi: usize,
        r: &Region,
        release: bool,
        first_i: u64,
        (address, size): (u64, u64),
    ) {
        let what = if release { "release" } else { "decommit" };
        let res = self
            .mm
            .free(self.model.procs[pi].pid, address, size, release);
        let want = Model::free(r, (what, release), first_i, address, size);
        let Some(((got, bytes), (first_i, last_i))) = self.expect(what, res, want) else {
            return;
        };
        assert_eq!(
            (got.0, bytes),
            (
                r.base + first_i * PAGE_SIZE,
                (last_i - first_i + 1) * PAGE_SIZE
            ),
            "{}",
            self.ctx()
        );
        self.model.apply_free(pi, r, (first_i, last_i), release);
    }

    /// Releases a whole private region or unmaps a whole view.
    fn release_region(&mut self, pi: usize, r: &Region) {
        let pid = self.model.procs[pi].pid;
        let got = if r.is_view() {
            self.expect_ok("unmap", self.mm.unmap_view(pid, r.base))
        } else {
            self.expect_ok("release", self.mm.free(pid, r.base, 0, true))
        };
        self.region_gone(pi, r, got);
    }

    /// A call that took all of region `r` away returned `(base, size)`: it
    /// must be exactly the region's, which leaves the model.
    fn region_gone(&mut self, pi: usize, r: &Region, (base, size): (Va, u64)) {
        assert_eq!(
            (base.0, size),
            (r.base, r.pages * PAGE_SIZE),
            "{}",
            self.ctx()
        );
        self.model.procs[pi].regions.remove(&r.base);
        if !r.is_view() {
            self.model.settle_span(r.base, r.pages);
        }
    }

    // ---- protect, lock, limits -----------------------------------------------

    fn protect(&mut self, pi: usize, address: u64, size: u64, new: Protection) {
        let pid = self.model.procs[pi].pid;
        let res = self.mm.protect(pid, address, size, new);
        let want = self.model.protect(pi, address, size, new);
        let what = match &want {
            Ok(at) if at.view => "protect a view",
            _ => "protect",
        };
        let Some((old, at)) = self.expect(what, res, want) else {
            return;
        };
        let old = old.value;
        let (want, ok) = self.model.protect_reported(pi, &at, old);
        let page = if at.view { "view page" } else { "page" };
        assert!(
            ok,
            "{}: protect returned {} for a {} {page}",
            self.ctx(),
            old.name(),
            want.name()
        );
        self.model.apply_protect(pi, &at, new);
    }

    fn unlock(&mut self, pi: usize, r: &Region, fi: u64, n: u64, (address, size): (u64, u64)) {
        let res = self.mm.unlock(self.model.procs[pi].pid, address, size);
        if Model::unlock(r, fi, n) {
            assert_eq!(self.expect_ok("unlock", res), n, "{}", self.ctx());
            self.model.procs[pi].set_locks(r.base, fi, n, false);
            self.model.settle_span(r.base + fi * PAGE_SIZE, n);
        } else {
            self.expect_refused("unlock", res, NtStatus::NOT_LOCKED);
        }
    }

    fn lock(&mut self, pi: usize, r: &Region, fi: u64, n: u64, (address, size): (u64, u64)) {
        // Locked pages are charged against resident available memory: the
        // model predicts the refusal (STATUS_INSUFFICIENT_RESOURCES) from the
        // minimums, kernel stacks and locked pages it knows of.
        let physical = self.mm.config().physical_pages();
        self.model.stacks_out = self.stacks_out();
        let expected = self.model.lock(pi, (r.base, fi, n), physical);
        let res = self.mm.lock(self.model.procs[pi].pid, address, size);
        match expected {
            Err(status) => self.expect_refused("lock", res, status),
            Ok(new) => {
                let got = self.expect_ok("lock", res);
                assert_eq!(got.value, new, "{}: pages newly locked", self.ctx());
                // STATUS_WAS_LOCKED when some were locked already.
                let was = if new < n {
                    NtStatus::WAS_LOCKED
                } else {
                    NtStatus::SUCCESS
                };
                assert_eq!(got.status, was, "{}", self.ctx());
                self.model.procs[pi].set_locks(r.base, fi, n, true);
            }
        }
    }

    /// The kernel stacks the real system has outswapped.
    fn stacks_out(&self) -> u64 {
        let procs = &self.model.procs;
        procs
            .iter()
            .filter(|p| self.mm.kernel_stack(p.pid).is_some_and(|s| s.outswapped))
            .count() as u64
    }

    fn ws_limits(&mut self, pi: usize, limits: Option<(u64, u64)>) {
        self.model.stacks_out = self.stacks_out();
        let pid = self.model.procs[pi].pid;
        let Some((min, max)) = limits else {
            self.expect_ok("ws-limits -1 -1", self.mm.set_ws_limits(pid, None, None));
            return;
        };
        // The page tables in the working set are the real system's to know.
        let untrimmable = self
            .mm
            .workingset(pid)
            .map(|ws| {
                ws.iter()
                    .filter(|r| r.kind == "pagetable" || r.locked)
                    .count()
            })
            .unwrap_or(0) as u64;
        let res = self
            .mm
            .set_ws_limits(pid, Some(min * PAGE_SIZE), Some(max * PAGE_SIZE));
        let physical = self.mm.config().physical_pages();
        let want = self.model.ws_limits(pi, (min, max), physical, untrimmable);
        let Some((got, (min, max, clamped))) = self.expect("ws-limits", res, want) else {
            return;
        };
        let range = if clamped {
            NtStatus::WORKING_SET_LIMIT_RANGE
        } else {
            NtStatus::SUCCESS
        };
        assert_eq!(got.status, range, "{}", self.ctx());
        let got = (got.value.minimum, got.value.maximum);
        assert_eq!(got, (min, max), "{}", self.ctx());
        self.model.procs[pi].ws_minimum = min;
        self.model.procs[pi].ws_maximum = max;
    }

    // ---- transfers -----------------------------------------------------------

    fn check_transfer(
        &self,
        what: &str,
        got: Result<usize, AccessFault>,
        want: (usize, Option<FaultKind>),
    ) -> usize {
        let ctx = self.ctx();
        match (got, want) {
            (Ok(n), (done, _)) if done > 0 => {
                assert_eq!(n, done, "{ctx}: {what}: bytes moved");
                n
            }
            (Err(f), (0, Some(kind))) => {
                assert_eq!(f.kind, kind, "{ctx}: {what}: {}", f.error);
                0
            }
            (got, want) => {
                self.dump_memory();
                panic!("{ctx}: {what}: got {got:?}, the model expected {want:?}")
            }
        }
    }

    fn write(&mut self, pi: usize, va: u64, data: &[u8]) {
        let pid = self.model.procs[pi].pid;
        let got = self.mm.write_memory(pid, va, data);
        let (done, fault, _) = self.model.transfer(pi, va, Some(data), data.len());
        self.check_transfer("write", got, (done, fault));
    }

    fn read(&mut self, pi: usize, va: u64, len: usize) {
        let pid = self.model.procs[pi].pid;
        let mut buf = vec![0u8; len];
        let got = self.mm.read_memory(pid, va, &mut buf);
        let (done, fault, want) = self.model.transfer(pi, va, None, len);
        let n = self.check_transfer("read", got, (done, fault));
        self.compare(pi, va, &buf[..n], &want);
    }

    /// What process `pi` read from `va` (`have`) against what the model says
    /// (`want`): every byte exactly, except that a reset page may read as any
    /// of its candidates, which the read then narrows down.
    fn compare(&mut self, pi: usize, va: u64, have: &[u8], want: &ReadOut) {
        let mut from = 0;
        for (page_va, span, at) in want.uncertain.iter().filter(|u| u.2 < have.len()) {
            self.compare_exact(pi, va, from, &have[from..*at], &want.bytes[from..*at]);
            let end = at + span.len();
            let Some(seen) = self
                .model
                .observe(pi, *page_va, span.clone(), &have[*at..end])
            else {
                let i = at + first_difference(&have[*at..end], &want.bytes[*at..end]);
                panic!(
                    "{}: pid {} reads {:#x} at {:#x}, in a reset page whose {} possible contents all differ there (the first says {:#x})",
                    self.ctx(),
                    self.model.procs[pi].pid,
                    have[i],
                    va + i as u64,
                    self.model.candidates(pi, *page_va),
                    want.bytes[i]
                );
            };
            self.reset_reads += u64::from(seen.choices > 1);
            self.reset_lost += u64::from(seen.lost);
            from = end;
        }
        self.compare_exact(pi, va, from, &have[from..], &want.bytes[from..have.len()]);
    }

    /// Bytes read from `va + from` that must be exactly the model's.
    fn compare_exact(&self, pi: usize, va: u64, from: usize, have: &[u8], want: &[u8]) {
        if have != want {
            let i = first_difference(have, want);
            panic!(
                "{}: pid {} reads {:#x} at {:#x}; the model says {:#x}",
                self.ctx(),
                self.model.procs[pi].pid,
                have[i],
                va + (from + i) as u64,
                want[i]
            );
        }
    }

    // ---- sections and views --------------------------------------------------

    fn create_section(&mut self, pages: u64, data: Option<Vec<u8>>) {
        let name = self.model.next_name("s");
        let file = data.is_some().then(|| format!("{name}.dat"));
        let r = match (&file, &data) {
            (Some(f), Some(d)) => {
                std::fs::write(self.mm.config().files_dir.join(f), d).unwrap();
                self.mm.create_section(&name, 0, Some(f), RW, false)
            }
            _ => self
                .mm
                .create_section(&name, pages * PAGE_SIZE, None, RW, false),
        };
        self.expect_ok("create section", r);
        if file.is_none()
            && let Some(s) = self.mm.section(&name)
        {
            self.section_areas.insert(name.clone(), s.control_area);
        }
        let data = data.unwrap_or_else(|| vec![0; (pages * PAGE_SIZE) as usize]);
        self.model
            .sections
            .push(SectionModel::new(name, data, file));
    }

    fn delete_section(&mut self, si: usize) {
        let r = self.mm.delete_section(&self.model.sections[si].name);
        self.expect_ok("delete section", r);
        self.model.sections[si].deleted = true;
    }

    fn map(
        &mut self,
        pi: usize,
        si: usize,
        protection: Protection,
        (offset, pages): (u64, u64),
        address: u64,
    ) {
        let pid = self.model.procs[pi].pid;
        let name = self.model.sections[si].name.clone();
        let res = self.mm.map_view(pid, &name, address, 0, offset, protection);
        let want = self.model.map(pi, address, pages);
        let Some(((base, bytes), ())) = self.expect("map", res, want) else {
            return;
        };
        let ctx = self.ctx();
        assert_eq!(bytes, pages * PAGE_SIZE, "{ctx}: view size");
        assert!(address == 0 || base.0 == address, "{ctx}: view base");
        let p = &mut self.model.procs[pi];
        assert!(
            !p.overlaps(base.0, base.0 + bytes - 1),
            "{ctx}: view overlaps"
        );
        let view = ViewModel::new(si, offset / PAGE_SIZE, pages, protection);
        p.regions.insert(
            base.0,
            Region {
                base: base.0,
                pages,
                kind: Kind::View(view),
                write_watch: None,
            },
        );
    }

    fn unmap(&mut self, pi: usize, r: &Region, address: Option<u64>) {
        let pid = self.model.procs[pi].pid;
        match address {
            Some(address) => {
                let got = self.expect_ok("unmap", self.mm.unmap_view(pid, address));
                self.region_gone(pi, r, got);
            }
            None => {
                let res = self.mm.unmap_view(pid, r.base);
                self.expect_refused("unmap private memory", res, NtStatus::NOT_MAPPED_VIEW);
            }
        }
    }

    // ---- processes and the system --------------------------------------------

    fn fork(&mut self, pi: usize) {
        let name = self.model.next_name("f");
        let parent = self.model.procs[pi].pid;
        if self.model.has_write_watch(pi) {
            // MiCloneProcessAddressSpace: no fork with a physical VAD.
            let refused = self.mm.fork_process(parent, &name);
            self.expect_refused("fork", refused, NtStatus::INVALID_PAGE_PROTECTION);
            return;
        }
        let physical = self.mm.config().physical_pages();
        self.model.stacks_out = self.stacks_out();
        if !self.model.new_process_fits(physical) {
            let refused = self.mm.fork_process(parent, &name);
            self.expect_refused("fork", refused, NtStatus::INSUFFICIENT_RESOURCES);
            return;
        }
        let child = self.expect_ok("fork", self.mm.fork_process(parent, &name));
        let dropped = self.frames_dropped(pi);
        self.model.fork(pi, child, name, &dropped);
        self.forks += 1;
    }

    /// Which of process `pi`'s reset pages that may have lost their frames
    /// did (a demand-zero PTE), looked at once the fork is done: a fork copies
    /// those PTEs and moves the others into clone blocks, which the model cannot
    /// tell apart on its own. The fork itself may be what dropped one: making
    /// the child's page tables can reuse the standby frame of a clean reset
    /// page (the fork plans its PTEs after that, as WRK does; see
    /// `mi_clone_process_address_space_keeps_a_reset_page_whose_frame_the_child_reuses`
    /// in `tests/fidelity.rs`), and a fork that runs out of pages trims the
    /// parent and starts again (`Mm::with_reclaim`).
    fn frames_dropped(&mut self, pi: usize) -> Vec<u64> {
        let clean: HashSet<u64> = self.model.procs[pi]
            .clean_reset_pages()
            .into_iter()
            .collect();
        if clean.is_empty() {
            return Vec::new();
        }
        let pid = self.model.procs[pi].pid;
        let rows = self.expect_ok("ptes", self.mm.ptes(pid));
        rows.iter()
            .filter(|r| clean.contains(&r.va) && r.state == "demand-zero")
            .map(|r| r.va)
            .collect()
    }

    fn create_process(&mut self) {
        let name = self.model.next_name("c");
        let physical = self.mm.config().physical_pages();
        self.model.stacks_out = self.stacks_out();
        if !self.model.new_process_fits(physical) {
            let refused = self.mm.create_process(&name);
            self.expect_refused("create process", refused, NtStatus::INSUFFICIENT_RESOURCES);
            return;
        }
        let pid = self.expect_ok("create process", self.mm.create_process(&name));
        self.model.procs.push(ProcessModel::new(pid, name, true));
    }

    fn terminate(&mut self, victim: usize) {
        let p = self.model.remove_process(victim);
        self.expect_ok("terminate", self.mm.terminate_process(p.pid));
        assert!(self.mm.pid_of(&p.name).is_none(), "{}", self.ctx());
    }

    fn system(&mut self, pi: usize, op: SystemOp) {
        let pid = self.model.procs[pi].pid;
        match op {
            SystemOp::Trim => drop(self.expect_ok("trim", self.mm.trim(pid))),
            SystemOp::FlushModified => drop(self.mm.flush_modified()),
            SystemOp::EmptyStandby => drop(self.mm.empty_standby()),
            SystemOp::EmptyWorkingSets => drop(self.mm.empty_working_sets()),
            SystemOp::MappedPageWriter => drop(self.mm.mapped_page_writer_pass()),
            SystemOp::Tick(ms) => drop(self.expect_ok("tick", self.mm.tick(ms))),
            SystemOp::Outswap => drop(self.expect_ok("outswap", self.mm.outswap(pid))),
            SystemOp::Inswap => drop(self.expect_ok("inswap", self.mm.inswap(pid))),
            SystemOp::Thread(t) => drop(self.mm.run_thread(t)),
        }
    }

    // ---- the checks ----------------------------------------------------------

    fn check_batch(&mut self) {
        let r = self.mm.verify();
        assert!(r.ok(), "{}:\n{}", self.ctx(), r.violations.join("\n"));
        for pi in 0..self.model.procs.len() {
            self.check_locks(pi);
            self.check_write_watch(pi);
        }
        self.check_commit();
        self.check_files();
        self.check_sections_in_place();
        let pi = self.rng.below(self.model.procs.len() as u64) as usize;
        if self.trace {
            eprintln!("  check, and read pid {} back", self.model.procs[pi].pid);
        }
        self.sweep(pi);
    }

    /// Every page of a pagefile-backed section the model is sure of (not
    /// reset) holds the model's bytes where it lies (`in_place`), whether or
    /// not a view of it is read.
    fn check_sections_in_place(&self) {
        for sec in &self.model.sections {
            let Some(&ca) = self.section_areas.get(&sec.name) else {
                continue;
            };
            for page in 0..(sec.data.len() as u64).div_ceil(PAGE_SIZE) {
                if sec.resets.contains_key(&page) {
                    continue;
                }
                let Some(have) = in_place::section_page(&self.mm, ca, page) else {
                    continue;
                };
                let want = sec.copy_page(page);
                if *have != *want {
                    let i = first_difference(&have, &want);
                    self.dump_memory();
                    panic!(
                        "{}: page {page} of section {} holds {:#x} at byte {i:#x}; the model says {:#x}",
                        self.ctx(),
                        sec.name,
                        have[i],
                        want[i]
                    );
                }
            }
        }
    }

    /// Reads every page of every region of one process and compares it. Guard
    /// pages and inaccessible pages are skipped (touching a guard disarms it).
    fn sweep(&mut self, pi: usize) {
        let pid = self.model.procs[pi].pid;
        let regions: Vec<Region> = self.model.procs[pi].regions.values().cloned().collect();
        for r in regions {
            for i in 0..r.pages {
                let va = r.base + i * PAGE_SIZE;
                let readable = match &r.kind {
                    Kind::Private(p) => {
                        p[i as usize].committed && plain_readable(p[i as usize].protection)
                    }
                    Kind::View(v) => plain_readable(v.page_protection[i as usize]),
                };
                if !readable {
                    continue;
                }
                let mut buf = vec![0u8; PAGE];
                let got = self.mm.read_memory(pid, va, &mut buf);
                let (done, fault, want) = self.model.transfer(pi, va, None, PAGE);
                self.check_transfer("sweep read", got, (done, fault));
                self.compare(pi, va, &buf, &want);
            }
        }
    }

    /// Every process is charged the commit the model says, and the system's
    /// commit charge is theirs, the processes' the model does not know
    /// (System's), and the pagefile-backed sections'.
    fn check_commit(&self) {
        let mut modelled = 0;
        for p in &self.model.procs {
            let (own, regions, tables) = p.commit_charge(self.arch);
            let want = own + regions + tables;
            let have = self.expect_ok("status", self.mm.process_status(p.pid));
            if have.commit_charge != want {
                self.dump_memory();
                panic!(
                    "{}: pid {} is charged {} pages of commit; the model says {want} ({own} for the process, {regions} for its regions, {tables} for page tables)",
                    self.ctx(),
                    p.pid,
                    have.commit_charge
                );
            }
            modelled += want;
        }
        let others = self.unmodelled_charge();
        let sections = self.model.section_charge();
        let total = meminfo(&self.mm, "CommitCharge");
        assert_eq!(
            total,
            modelled + others + sections,
            "{}: CommitCharge is not the processes' {modelled}, System's {others} and the sections' {sections}",
            self.ctx()
        );
    }

    /// The commit charged to processes the model does not keep (System).
    /// Paging-file slots the System process's pages of prototype PTEs hold:
    /// a page out in the paging file, or a resident page's clean copy.
    fn proto_page_slots(&self) -> u64 {
        let m = self.mm.machine();
        let pages: Vec<u64> = m
            .pfn_lock()
            .segments
            .proto_pages()
            .keys()
            .copied()
            .collect();
        let mut slots = 0;
        for p in pages {
            let Ok(d) = self.mm.pte_detail(crate::mm::base::types::Pid::SYSTEM, p) else {
                continue;
            };
            let copy = d.pfn.is_some_and(|pfn| {
                let original = m.pfn_lock().db.original_pte(pfn);
                matches!(
                    m.fmt.decode(original),
                    crate::mm::hw::pte::PteState::PageFile { .. }
                )
            });
            if d.state == "pagefile" || copy {
                slots += 1;
            }
        }
        slots
    }

    fn unmodelled_charge(&self) -> u64 {
        // The pages of paged pool holding prototype PTEs: one page of commit
        // each (how sections share them is not the model's business).
        let proto_pages = self.mm.machine().pfn_lock().segments.backed_pages();
        (self.mm.processes().iter())
            .filter(|e| !self.model.procs.iter().any(|p| p.pid == e.pid))
            .map(|e| self.expect_ok("status", self.mm.process_status(e.pid)))
            .map(|st| st.commit_charge)
            .sum::<u64>()
            + proto_pages
    }

    /// Locked pages are exactly the model's.
    fn check_locks(&self, pi: usize) {
        let pid = self.model.procs[pi].pid;
        let ws = self.expect_ok("workingset", self.mm.workingset(pid));
        let mut have: Vec<u64> = ws
            .iter()
            .filter(|w| w.locked && w.is_data())
            .map(|w| w.va)
            .collect();
        have.sort_unstable();
        let want = self.model.procs[pi].locked_pages();
        assert_eq!(have, want, "{}: locked pages of pid {pid}", self.ctx());
    }

    /// Ends the run: every process and section goes, every file holds its
    /// bytes, and nothing is left charged or allocated.
    fn finish(mut self) -> Summary {
        for pi in 0..self.model.procs.len() {
            self.sweep(pi);
        }
        self.check_commit();
        for p in std::mem::take(&mut self.model.procs) {
            self.expect_ok("terminate", self.mm.terminate_process(p.pid));
        }
        for s in self.model.sections.iter().filter(|s| !s.deleted) {
            self.mm.delete_section(&s.name).unwrap();
        }
        let r = self.mm.verify();
        assert!(r.ok(), "{}:\n{}", self.ctx(), r.violations.join("\n"));
        self.finish_files();
        let left = meminfo(&self.mm, "CommitCharge");
        let system = self.unmodelled_charge();
        assert_eq!(left, system, "{}: commit left charged", self.ctx());
        // The file model's files were checked by `finish_files`.
        for s in self
            .model
            .sections
            .iter()
            .filter(|s| !self.model.files.owns(s))
        {
            if let Some(f) = &s.file {
                let on_disk = std::fs::read(self.mm.config().files_dir.join(f)).unwrap();
                assert!(
                    on_disk == s.data,
                    "{}: file {f} differs from the model",
                    self.ctx()
                );
            }
        }
        // Only the pages of prototype PTEs of the files the cache keeps
        // after their close may still hold slots (in the paging file, or a
        // clean copy of a resident one).
        let proto_slots = self.proto_page_slots();
        assert_eq!(
            self.mm.machine().pagefiles_lock().used_pages(),
            proto_slots,
            "{}",
            self.ctx()
        );
        Summary {
            steps: self.step,
            refusals: self.refusals,
            resets: self.resets,
            reset_zeroed: self.reset_zeroed,
            reset_reads: self.reset_reads,
            reset_lost: self.reset_lost,
            forks: self.forks,
            watch_resets: self.watch_resets,
            watch_pages: self.watch_pages,
            files: self.model.files.stats,
            cache: self.mm.cache_stats(),
            hard_faults: self.mm.counter("hard_faults"),
            pages_written: self.mm.counter("pages_written_to_pagefile"),
            tables_trimmed: self.mm.counter("page_tables_trimmed"),
            table_faults: self.mm.counter("page_table_faults"),
        }
    }
}

/// The first index where `a` and `b` differ (0 if they do not).
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    (0..a.len()).find(|&i| a[i] != b[i]).unwrap_or(0)
}

/// What a reset does to a page whose PTE (or prototype PTE) is in `state`,
/// with frame `row`: a valid frame only one mapping references is made
/// clean; a frame in transition is moved off the modified list (no write in
/// flight); any other frame keeps what it holds.
fn frame_effect(state: &str, row: Option<PfnRow>) -> Effect {
    let Some(row) = row else {
        return Effect::Keep;
    };
    match state {
        "valid" if row.reference_count == 1 => Effect::MayDrop,
        "transition" if row.location == PageLocation::Modified && row.reference_count == 0 => {
            Effect::MayDrop
        }
        _ => Effect::Keep,
    }
}
