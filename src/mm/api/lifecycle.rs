//! Process lifecycle: creation (`mkdir processes/NAME`), fork, termination
//! (`rmdir`), and the swapper's outswap and inswap on request. Creation and
//! termination hold the lifecycle lock shared, so `verify` never meets a
//! process half made or half torn down.

use crate::mm::base::status::MmResult;
use crate::mm::base::token::Token;
use crate::mm::base::types::{Pfn, Pid};
use crate::mm::machine::Owner;
use crate::mm::process::working_set::{
    DEFAULT_MAXIMUM, DEFAULT_MINIMUM, SYSTEM_MAXIMUM, SYSTEM_MINIMUM,
};
use crate::mm::process::{AddressSpace, Process, ProcessState, SYSTEM_PROCESS_NAME, system_tables};
use crate::mm::section::delete::delete_if_unreferenced;
use crate::mm::section::fork::{check_forkable, clone_into};
use crate::mm::section::view;
use crate::mm::segment::ControlAreaId;
use crate::mm::{Mm, vm};

impl Mm {
    /// The System process (pid 4), made at boot.
    pub(in crate::mm) fn create_system_process(&self) -> MmResult<Pid> {
        self.create_process_with(
            SYSTEM_PROCESS_NAME,
            Some(Pid::SYSTEM),
            None,
            SYSTEM_MINIMUM,
            SYSTEM_MAXIMUM,
        )
    }

    /// Creates a process with an empty address space (`mkdir processes/NAME`)
    /// and its kernel stack. The stack is made first, under `Mm::kernel` and
    /// the System process's address space alone (the process table is not
    /// held then: no address space is locked under it), and deleted again if
    /// the process cannot be made. The process belongs to the machine (no
    /// token): a kernel-mode caller's, as the tests make them.
    pub fn create_process(&self, name: &str) -> MmResult<Pid> {
        self.create_process_as(name, None)
    }

    /// [`Self::create_process`] for the user `token` (`mkdir processes/NAME`
    /// by that user): the process runs as them (NT: its primary token).
    pub fn create_process_as(&self, name: &str, token: Option<Token>) -> MmResult<Pid> {
        let _lifecycle = self.lifecycle_shared();
        self.with_reclaim(Pid(0), || {
            // The name's refusals come before the stack's.
            self.processes.read().reserve(name, None)?;
            let mut k = self.kernel_lock();
            let stack = self.create_kernel_stack(&mut k, name)?;
            match self.create_process_with(name, None, token, DEFAULT_MINIMUM, DEFAULT_MAXIMUM) {
                Ok(pid) => {
                    k.stacks.insert(pid, stack);
                    Ok(pid)
                }
                Err(e) => {
                    self.free_kernel_stack(&mut k, stack);
                    Err(e)
                }
            }
        })
    }

    /// Creates a process, holding the process table so its name is never seen
    /// half made: an owner slot in the PFN database, then the address space.
    fn create_process_with(
        &self,
        name: &str,
        pid: Option<Pid>,
        token: Option<Token>,
        ws_min: u64,
        ws_max: u64,
    ) -> MmResult<Pid> {
        let m = &self.machine;
        // Taken before the process table: an address space is never locked
        // while the table is held. An entry the System process adds after
        // this reaches the new process lazily (`process/system_tables.rs`).
        let system_entries = match self.system_process() {
            Ok(system) => system_tables::system_entries(m, &system.space().tables(m)),
            Err(_) => Vec::new(),
        };
        let mut table = self.processes.write();
        let pid = table.reserve(name, pid)?;
        // MmCreateProcessAddressSpace: the new working set's minimum must be
        // covered by resident available memory, or the process is refused.
        m.charge_new_ws_minimum(
            ws_min,
            &format!("a new process's working-set minimum ({ws_min} pages)"),
        )?;
        let slot = m.pfn_lock().add_owner(Owner {
            pid,
            dtb: Pfn(0),
            discarded_private: 0,
        });
        let Some(slot) = slot else {
            m.uncharge_ws_minimum(ws_min);
            return Err(mm_err!(INSUFFICIENT_RESOURCES, "too many processes"));
        };
        let space = match AddressSpace::create(m, pid, slot, ws_min, ws_max) {
            Ok(s) => s,
            Err(e) => {
                m.pfn_lock().remove_owner(slot);
                m.uncharge_ws_minimum(ws_min);
                return Err(e);
            }
        };
        space.copy_system_entries(m, &system_entries);
        if let Some(o) = m.pfn_lock().owners.get_mut(slot as usize) {
            *o = Some(Owner {
                pid,
                dtb: space.dtb,
                discarded_private: 0,
            });
        }
        table.insert(Process::new(pid, name, m.clock.now_ms(), token, space));
        m.events.name_process(u64::from(pid.0), name);
        Ok(pid)
    }

    /// Terminates a process and frees everything it held (`rmdir processes/NAME`):
    /// every page, page table, VAD and commit charge.
    pub fn terminate_process(&self, pid: Pid) -> MmResult<()> {
        if pid == Pid::SYSTEM {
            return Err(mm_err!(
                ACCESS_DENIED,
                "the System process cannot be terminated"
            ));
        }
        let _lifecycle = self.lifecycle_shared();
        // Out of the table first (so no new request finds it), then torn down
        // without holding the table: a big address space takes a while to free.
        // Both under `Mm::kernel`, so no MDL can lock its pages in between.
        let k = self.kernel_lock();
        if self.processes.read().get(pid).is_none() {
            return Err(mm_err!(OBJECT_NAME_NOT_FOUND, "no process has pid {pid}"));
        }
        self.check_no_locked_mdls(&k, pid)?;
        let process = self
            .processes
            .write()
            .remove(pid)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no process has pid {pid}"))?;
        drop(k);
        let control_areas = self.tear_down(&process);
        self.delete_kernel_stack(&mut self.kernel_lock(), pid);
        self.machine.events.forget_process(u64::from(pid.0));
        for ca in control_areas {
            delete_if_unreferenced(&self.machine, ca);
        }
        self.settle_prototype_pages();
        Ok(())
    }

    /// Frees a process's address space, which has left the table: its views
    /// (returned: their control areas may go now), its private memory, its page
    /// tables, its owner slot and its working-set minimum's charge.
    fn tear_down(&self, process: &Process) -> Vec<ControlAreaId> {
        let m = &self.machine;
        let mut space = process.space();
        // Marked first: a request that found the process before it left the table
        // and waits for this lock must see it dead, not a half-freed space.
        space.state = ProcessState::Terminated;
        // Paged-out page tables go without being read back: freeing the
        // VADs below then needs no page (and so cannot fail for want of one).
        space.discard_paged_tables(m);
        let vads: Vec<_> = space.vads.iter().cloned().collect();
        let mut control_areas = Vec::new();
        for v in vads {
            if let Some(s) = &v.section {
                control_areas.push(s.id);
                view::remove_view(m, &mut space, &v);
                continue;
            }
            let start = v.start_va().0;
            if let Err(e) = vm::free(m, &mut space, start, 0, true) {
                log::error!("terminating pid {}: releasing {start:#x}: {e}", process.pid);
            }
        }
        // Its AWE VADs are gone, so its AWE pages are unmapped: free them.
        vm::awe::free_all(m, &mut space);
        space.destroy_tables(m);
        m.pfn_lock().remove_owner(space.slot);
        m.uncharge_ws_minimum(space.ws.minimum);
        control_areas
    }

    /// `fork CHILD`: a new process whose address space is a copy-on-write clone
    /// of this one's (`section/fork.rs`). A fork that fails half way terminates
    /// the child it made. Returns the child's pid.
    pub fn fork_process(&self, pid: Pid, child_name: &str) -> MmResult<Pid> {
        let parent = self.process(pid)?;
        if pid == Pid::SYSTEM {
            return Err(mm_err!(
                ACCESS_DENIED,
                "the System process has no user address space to fork"
            ));
        }
        // Refused before a child is made (clone_into checks again, under
        // both locks): a fork that NT refuses changes nothing.
        check_forkable(&*parent.live_space()?)?;
        // The pages a fork needs are the child's (page tables, clone blocks),
        // so the parent's own working set is as fair a source as any other's.
        self.with_reclaim(Pid(0), || {
            // The child runs as its parent's user (NtCreateProcess: the
            // child's token is a copy of the parent's).
            let child_pid = self.create_process_as(child_name, parent.token)?;
            let cloned = self.process(child_pid).and_then(|child| {
                // Lock order: the parent, then the child: pid order, as
                // `verify` takes them (a child's pid is above its parent's).
                let mut ps = parent.live_space()?;
                let mut cs = child.live_space()?;
                clone_into(&self.machine, &mut ps, &mut cs)
            });
            if let Err(e) = cloned {
                if let Err(t) = self.terminate_process(child_pid) {
                    log::error!("fork: removing the half-made child {child_pid}: {t}");
                }
                return Err(e);
            }
            // The clone blocks' prototype pages (made under two user
            // address spaces) get their System pages now.
            self.settle_prototype_pages();
            crate::mm_event!(
                self.machine,
                "process.fork",
                "parent={pid} child={child_pid}"
            );
            Ok(child_pid)
        })
    }

    pub fn pid_of(&self, name: &str) -> Option<Pid> {
        self.processes.read().pid_of(name)
    }

    pub fn process_name(&self, pid: Pid) -> Option<String> {
        self.processes.read().get(pid).map(|p| p.name.clone())
    }

    /// The user a live process runs as; `None` if it belongs to the machine
    /// (System, or made by a kernel-mode caller) or does not exist.
    pub fn process_token(&self, pid: Pid) -> Option<Token> {
        self.processes.read().get(pid).and_then(|p| p.token)
    }

    /// `outswap`: empties the process's working set and marks it outswapped.
    /// Returns the pages that left the working set.
    pub fn outswap(&self, pid: Pid) -> MmResult<u64> {
        if pid == Pid::SYSTEM {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "the System process is never outswapped"
            ));
        }
        let p = self.process(pid)?;
        let mut k = self.kernel_lock();
        let mut space = p.live_space()?;
        if space.state == ProcessState::Outswapped {
            return Ok(0);
        }
        let pages = space.outswap(&self.machine);
        // The stack with the System process's space alone.
        drop(space);
        self.outswap_kernel_stack_locked(&mut k, pid);
        Ok(pages)
    }

    /// `inswap`: brings an outswapped process back (its pages return by faulting).
    /// Returns whether it was outswapped.
    pub fn inswap(&self, pid: Pid) -> MmResult<bool> {
        let p = self.process(pid)?;
        let mut k = self.kernel_lock();
        drop(p.live_space()?);
        self.inswap_kernel_stack_locked(&mut k, pid)?;
        let mut space = p.live_space()?;
        Ok(space.inswap(&self.machine))
    }
}
