//! The simulated Windows NT memory manager: a library with no FUSE in it.
//!
//! [`Mm`] is the façade: NT's executive services (create a process, allocate
//! virtual memory, ...) as methods, and read-only views of its state as plain data
//! that the filesystem layer renders.
//!
//! # Lock order
//!
//! Locks are taken in this order and never the other way round:
//!
//! 1. `Mm::processes` — the process table (RwLock).
//!
//! Later subsystems add their locks below it (the per-process address-space lock,
//! then the PFN lock, which is always innermost).

#[macro_use]
pub mod status;
pub mod clock;
pub mod config;
pub mod layout;
pub mod pfn;
pub mod physmem;
pub mod process;
pub mod protection;
pub mod pte;
pub mod types;
pub mod vad;

use std::sync::RwLock;

use clock::Clock;
use config::MmConfig;
use process::{Pid, ProcessState, ProcessTable, SYSTEM_PROCESS_NAME};

pub use status::{MmError, MmResult, NtStatus};

/// One simulated machine's memory manager. Everything lives in this value, so a
/// test can run several machines at once.
pub struct Mm {
    config: MmConfig,
    clock: Clock,
    /// The process table. Lock order: 1.
    processes: RwLock<ProcessTable>,
}

/// What `processes/<name>/status` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessStatus {
    pub name: String,
    pub pid: Pid,
    pub state: ProcessState,
}

/// A process as listed under `processes/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessEntry {
    pub name: String,
    pub pid: Pid,
}

impl Mm {
    /// Boots a simulated machine: the System process (pid 4) exists from the start.
    pub fn new(config: MmConfig) -> MmResult<Mm> {
        let clock = Clock::new(config.clock);
        let mut processes = ProcessTable::new();
        processes.insert(SYSTEM_PROCESS_NAME, Some(Pid::SYSTEM), 0)?;
        Ok(Mm {
            config,
            clock,
            processes: RwLock::new(processes),
        })
    }

    pub fn config(&self) -> &MmConfig {
        &self.config
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// `tick SECONDS`: advance a manual clock and run whatever falls due.
    pub fn tick(&self, ms: u64) -> MmResult<u64> {
        self.clock.advance(ms)
    }

    fn processes_read(&self) -> std::sync::RwLockReadGuard<'_, ProcessTable> {
        // A poisoned lock means a thread panicked mid-update; the table itself is
        // still a valid map, and refusing every later request would hang users.
        self.processes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn processes_write(&self) -> std::sync::RwLockWriteGuard<'_, ProcessTable> {
        self.processes.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates an empty process (`mkdir processes/NAME`).
    pub fn create_process(&self, name: &str) -> MmResult<Pid> {
        let now = self.clock.now_ms();
        self.processes_write().insert(name, None, now)
    }

    /// Terminates a process and frees everything it held (`rmdir processes/NAME`).
    pub fn terminate_process(&self, pid: Pid) -> MmResult<()> {
        if pid == Pid::SYSTEM {
            return Err(mm_err!(
                ACCESS_DENIED,
                "the System process cannot be terminated"
            ));
        }
        match self.processes_write().remove(pid) {
            Some(_) => Ok(()),
            None => Err(mm_err!(OBJECT_NAME_NOT_FOUND, "no process has pid {pid}")),
        }
    }

    pub fn pid_of(&self, name: &str) -> Option<Pid> {
        self.processes_read().pid_of(name)
    }

    pub fn process_name(&self, pid: Pid) -> Option<String> {
        self.processes_read().get(pid).map(|p| p.name.clone())
    }

    /// Live processes in pid order.
    pub fn processes(&self) -> Vec<ProcessEntry> {
        self.processes_read()
            .iter()
            .map(|p| ProcessEntry {
                name: p.name.clone(),
                pid: p.pid,
            })
            .collect()
    }

    pub fn process_status(&self, pid: Pid) -> MmResult<ProcessStatus> {
        let table = self.processes_read();
        let p = table
            .get(pid)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no process has pid {pid}"))?;
        Ok(ProcessStatus {
            name: p.name.clone(),
            pid: p.pid,
            state: p.state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::types::Arch;

    fn mm() -> Mm {
        Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap()
    }

    #[test]
    fn system_process_exists_at_boot() {
        let m = mm();
        assert_eq!(m.pid_of("System"), Some(Pid(4)));
        let s = m.process_status(Pid(4)).unwrap();
        assert_eq!(s.state, ProcessState::Running);
        assert_eq!(
            m.terminate_process(Pid(4)).unwrap_err().status,
            NtStatus::ACCESS_DENIED
        );
    }

    #[test]
    fn create_and_terminate() {
        let m = mm();
        let pid = m.create_process("app").unwrap();
        assert_eq!(m.processes().len(), 2);
        m.terminate_process(pid).unwrap();
        assert_eq!(
            m.terminate_process(pid).unwrap_err().status,
            NtStatus::OBJECT_NAME_NOT_FOUND
        );
        assert_eq!(m.processes().len(), 1);
    }
}
