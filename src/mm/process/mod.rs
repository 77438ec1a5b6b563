//! Layer 8, processes: EPROCESS as far as the memory manager cares, the process
//! table, and each process's address space with its page tables, mappings,
//! working set and working-set policy.
//!
//! - `address_space.rs`: the `AddressSpace` (VADs, page tables, working set,
//!   charges), its creation and outswap/inswap.
//! - `page_tables.rs`: page tables created on demand and freed when empty.
//! - `hyperspace.rs`: the pages a process starts with (hyperspace, the
//!   working-set list) and MM_PROCESS_COMMIT_CHARGE.
//! - `table_charges.rs`: page tables charged when a VAD needs them.
//! - `table_paging.rs`: user page tables paged out and brought back.
//! - `mapping.rs`: frames becoming valid in a PTE, and PTEs taken away.
//! - `working_set.rs`: the working-set list (MMWSL, WSLEs).
//! - `ws_policy.rs`: trimming, aging and replacement.
//! - `reclaim.rs`: finding a page when none is free (write out, trim).
//! - `awe.rs`: the AWE frames a process owns and its AWE VADs' page tables.
//!
//! Locks: the process table (`Processes`, lock order 3), then one address space
//! (`Process::space`, order 4). Only fork waits for two address spaces (the
//! parent, then the child it just made) and `verify` for all of them; both take
//! them in pid order (a child's pid is above its parent's: pids only grow).
//! Every other path waits for at most one. Reclaim holds its own and only
//! *tries* the others' (`try_space`), which never waits.
//!
//! Reclaim is also the one path that takes a lock above one it holds: with its
//! own address space locked it lists the processes (`Processes::all`, order 3)
//! in `trim_other_processes`. This cannot deadlock because no one holding the
//! process table waits for an address space: `all` and `get` clone what they
//! need and let go, and creation, which holds the table while it builds the new
//! address space, locks no existing one.

pub mod address_space;
pub mod awe;
pub mod hyperspace;
pub mod mapping;
pub mod page_tables;
pub mod reclaim;
pub mod system_tables;
pub mod table_charges;
pub mod table_paging;
pub mod working_set;
pub mod ws_policy;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::mm::base::status::MmResult;
use crate::mm::base::token::Token;
use crate::mm::base::types::Pid;

pub use address_space::AddressSpace;

/// The name NT gives the process that owns the system working set and system threads.
pub const SYSTEM_PROCESS_NAME: &str = "System";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProcessState {
    Running,
    Outswapped,
    Terminated,
}

impl ProcessState {
    pub fn name(self) -> &'static str {
        match self {
            ProcessState::Running => "running",
            ProcessState::Outswapped => "outswapped",
            ProcessState::Terminated => "terminated",
        }
    }
}

/// A process, as far as the memory manager cares (EPROCESS's Vm part).
pub struct Process {
    pub pid: Pid,
    pub name: String,
    /// Simulated time of creation, in milliseconds.
    pub create_time_ms: u64,
    /// The user it runs as (NT: its primary token); `None` for the System
    /// process and for a process a kernel-mode caller made, which belong to
    /// the machine (whoever runs mmfs). Set at creation, never changed.
    pub token: Option<Token>,
    /// The address space. Lock order 4: after the process table, before the
    /// commit and PFN locks.
    space: Mutex<AddressSpace>,
}

impl Process {
    pub fn new(
        pid: Pid,
        name: &str,
        create_time_ms: u64,
        token: Option<Token>,
        space: AddressSpace,
    ) -> Process {
        Process {
            pid,
            name: name.to_string(),
            create_time_ms,
            token,
            space: Mutex::new(space),
        }
    }

    /// Takes the address-space lock, whatever the process's state (termination
    /// and views use this).
    pub fn space(&self) -> MutexGuard<'_, AddressSpace> {
        // A panic mid-update is a bug caught by verify; keep serving the rest.
        self.space.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The address-space lock if it is free right now (reclaim from inside
    /// another process's fault must not wait).
    pub fn try_space(&self) -> Option<MutexGuard<'_, AddressSpace>> {
        match self.space.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Takes the address-space lock of a live process. A request that found the
    /// process just before `rmdir` tore it down gets STATUS_PROCESS_IS_TERMINATING
    /// instead of touching freed frames.
    pub fn live_space(&self) -> MmResult<MutexGuard<'_, AddressSpace>> {
        let space = self.space();
        if space.state == ProcessState::Terminated {
            return Err(mm_err!(
                PROCESS_IS_TERMINATING,
                "process {} ({}) has terminated",
                self.name,
                self.pid
            ));
        }
        Ok(space)
    }
}

/// All live processes, by pid and by name.
///
/// Invariant: `by_name` and `by_pid` hold the same processes; names are unique.
pub struct ProcessTable {
    by_pid: BTreeMap<Pid, Arc<Process>>,
    by_name: HashMap<String, Pid>,
    /// The next pid to hand out. Pids are not reused while mmfs runs, so a stale
    /// path or handle can never reach a newer process that took its number.
    next_pid: u32,
}

/// The longest process name accepted.
pub const MAX_PROCESS_NAME: usize = 64;

/// Checks a name for a new named object (a process, a section): it becomes a
/// directory name and a word in control commands, so it is restricted to a safe
/// set of characters. `kind` names the object in the messages.
pub fn validate_object_name(name: &str, kind: &str) -> MmResult<()> {
    if name.is_empty() || name.len() > MAX_PROCESS_NAME {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "a {kind} name has 1 to {MAX_PROCESS_NAME} characters"
        ));
    }
    if name.starts_with('.') {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "a {kind} name may not start with '.'"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@')))
    {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "'{}' may not appear in a {kind} name (use letters, digits and . _ - + @)",
            bad.escape_default()
        ));
    }
    Ok(())
}

/// Checks a name for a new process (see [`validate_object_name`]); `README` is
/// the directory's own file.
pub fn validate_process_name(name: &str) -> MmResult<()> {
    validate_object_name(name, "process")?;
    if name == "README" {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "README is the directory's own file; choose another process name"
        ));
    }
    Ok(())
}

impl ProcessTable {
    pub fn new() -> ProcessTable {
        ProcessTable {
            by_pid: BTreeMap::new(),
            by_name: HashMap::new(),
            next_pid: 8,
        }
    }

    /// Checks that `name` is valid and free; returns the pid the process will get
    /// (`pid` if given, for System). Nothing changes until `insert`.
    pub fn reserve(&self, name: &str, pid: Option<Pid>) -> MmResult<Pid> {
        validate_process_name(name)?;
        if self.by_name.contains_key(name) {
            return Err(mm_err!(
                OBJECT_NAME_COLLISION,
                "a process named '{name}' already exists"
            ));
        }
        match pid {
            Some(p) => Ok(p),
            None if self.next_pid <= u32::MAX - 4 => Ok(Pid(self.next_pid)),
            None => Err(mm_err!(INSUFFICIENT_RESOURCES, "no process ids are left")),
        }
    }

    /// Inserts a process whose pid came from `reserve`.
    pub fn insert(&mut self, process: Process) {
        if process.pid.0 >= self.next_pid {
            self.next_pid = process.pid.0 + 4;
        }
        self.by_name.insert(process.name.clone(), process.pid);
        self.by_pid.insert(process.pid, Arc::new(process));
    }

    pub fn remove(&mut self, pid: Pid) -> Option<Arc<Process>> {
        let p = self.by_pid.remove(&pid)?;
        self.by_name.remove(&p.name);
        Some(p)
    }

    pub fn get(&self, pid: Pid) -> Option<&Arc<Process>> {
        self.by_pid.get(&pid)
    }

    pub fn pid_of(&self, name: &str) -> Option<Pid> {
        self.by_name.get(name).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Process>> {
        self.by_pid.values()
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

/// The process table behind its lock (lock order 3): held only to find, insert
/// or remove a process, except that creation holds it while it sets the new
/// address space up (so a name is never half-created). Termination takes the
/// process out first and tears it down without the table.
#[derive(Default)]
pub struct Processes {
    table: RwLock<ProcessTable>,
}

impl Processes {
    pub fn read(&self) -> RwLockReadGuard<'_, ProcessTable> {
        // A poisoned lock means a thread panicked mid-update; the table itself is
        // still a valid map, and refusing every later request would hang users.
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, ProcessTable> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The live process with `pid`.
    pub fn get(&self, pid: Pid) -> MmResult<Arc<Process>> {
        self.read()
            .get(pid)
            .cloned()
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no process has pid {pid}"))
    }

    /// Every live process, in pid order (the order `verify` locks them in).
    pub fn all(&self) -> Vec<Arc<Process>> {
        self.read().iter().cloned().collect()
    }
}

impl Default for ProcessTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::status::NtStatus;

    #[test]
    fn names_are_checked() {
        let t = ProcessTable::new();
        for bad in [
            "",
            ".hidden",
            "a b",
            "a/b",
            "x\n",
            &"n".repeat(65),
            "é",
            "README",
        ] {
            assert_eq!(
                t.reserve(bad, None).unwrap_err().status,
                NtStatus::OBJECT_NAME_INVALID,
                "{bad:?}"
            );
        }
        assert_eq!(t.reserve("app", None).unwrap(), Pid(8));
    }
}
