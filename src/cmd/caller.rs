//! Who writes a command, and the privileges they hold (SPEC §9).
//!
//! NT's system services ask `SeSinglePrivilegeCheck(privilege, PreviousMode)`
//! at their entry: a kernel-mode caller always passes, a user-mode caller
//! passes if its token holds the privilege. The control files are mmfs's
//! user-mode boundary, so the checks are made here, in the command language,
//! before a service of `Mm` is called; the core itself is the kernel and
//! checks nothing (its tests and the kernel's own callers are kernel mode).

use super::Words;
use crate::mm::MmError;
use crate::mm_err;

/// The privileges a caller holds (NT: the enabled privileges of its token).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Privileges {
    /// SeLockMemoryPrivilege: lock pages in memory (NtLockVirtualMemory as
    /// the SPEC asks it, AWE's NtAllocateUserPhysicalPages, MEM_LARGE_PAGES).
    pub lock_memory: bool,
}

impl Privileges {
    pub const ALL: Privileges = Privileges { lock_memory: true };
    pub const NONE: Privileges = Privileges { lock_memory: false };
}

/// The user behind a command: the host uid and gid of the process that wrote
/// it, and what its token holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub privileges: Privileges,
}

impl Caller {
    /// Kernel mode (`PreviousMode == KernelMode`): every check passes. What
    /// [`execute`](super::execute) runs as.
    pub const KERNEL: Caller = Caller {
        uid: 0,
        gid: 0,
        privileges: Privileges::ALL,
    };

    /// A host user. The machine's administrators hold every privilege: root,
    /// and the user mmfs runs as (`machine_owner`), whose machine it is (so a
    /// mount without `--allow-other` works as before for its one user). NT
    /// grants SeLockMemoryPrivilege by policy only; this is mmfs's policy.
    pub fn user(uid: u32, gid: u32, machine_owner: u32) -> Caller {
        Caller {
            uid,
            gid,
            privileges: if Caller::is_administrator(uid, machine_owner) {
                Privileges::ALL
            } else {
                Privileges::NONE
            },
        }
    }

    /// Root, or the user who runs the machine: owner rights over everything.
    pub fn is_administrator(uid: u32, machine_owner: u32) -> bool {
        uid == 0 || uid == machine_owner
    }
}

/// The privilege a command of a process's control file needs, and the NT
/// service whose entry asks for it; `None` if it needs none. Decided from the
/// verb (and for `alloc` its type list) before the command is parsed further,
/// as the check is the first thing the service does with a user-mode caller.
fn lock_memory_service(w: &Words<'_>) -> Option<&'static str> {
    match w.verb {
        // WRK's NtLockVirtualMemory asks for the privilege only with
        // MAP_SYSTEM (VirtualLock needs none); the SPEC (§9) asks it of every
        // `lock`, and mmfs follows the SPEC. `unlock` likewise, so a lock made
        // with the privilege is not undone without it.
        "lock" => Some("NtLockVirtualMemory"),
        "unlock" => Some("NtUnlockVirtualMemory"),
        // NtAllocateUserPhysicalPages: AWE pages are locked in memory.
        "awe-alloc" => Some("NtAllocateUserPhysicalPages"),
        // NtAllocateVirtualMemory with MEM_LARGE_PAGES: large pages are never
        // paged (MiAllocateLargePages' SeSinglePrivilegeCheck).
        "alloc" => {
            let types = w.args.get(2)?;
            types
                .split(',')
                .any(|t| {
                    let t = t.to_ascii_lowercase();
                    t == "large-pages" || t == "mem_large_pages"
                })
                .then_some("NtAllocateVirtualMemory(MEM_LARGE_PAGES)")
        }
        _ => None,
    }
}

/// STATUS_PRIVILEGE_NOT_HELD if `caller` lacks a privilege the command needs;
/// nothing has been done when it fails.
pub fn check_process_command(w: &Words<'_>, caller: &Caller) -> Result<(), MmError> {
    match lock_memory_service(w) {
        Some(service) if !caller.privileges.lock_memory => Err(mm_err!(
            PRIVILEGE_NOT_HELD,
            "{} needs SeLockMemoryPrivilege (the lock-memory privilege, {service}), \
             which uid {} does not hold; root has it",
            w.verb,
            caller.uid
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Target, execute, execute_as};
    use crate::mm::Mm;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    const USER: Caller = Caller {
        uid: 1000,
        gid: 1000,
        privileges: Privileges::NONE,
    };

    fn machine() -> (Mm, Target) {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let pid = m.create_process("app").unwrap();
        (m, Target::Process(pid))
    }

    #[test]
    fn administrators_hold_every_privilege() {
        assert_eq!(Caller::user(0, 0, 1000).privileges, Privileges::ALL);
        assert_eq!(Caller::user(1000, 1000, 1000).privileges, Privileges::ALL);
        assert_eq!(Caller::user(1001, 1001, 1000).privileges, Privileges::NONE);
        assert_eq!(
            Caller::user(1001, 1001, 0),
            Caller {
                uid: 1001,
                gid: 1001,
                ..USER
            }
        );
        assert!(Caller::is_administrator(0, 1000));
        assert!(!Caller::is_administrator(1001, 0));
    }

    /// lock, unlock, awe-alloc and a large-pages alloc need
    /// SeLockMemoryPrivilege: without it they fail with
    /// STATUS_PRIVILEGE_NOT_HELD, a sentence naming the privilege, and
    /// change nothing; with it (kernel mode, root) they run.
    #[test]
    fn lock_memory_privilege_is_checked_first() {
        let (m, t) = machine();
        let Target::Process(pid) = t else {
            unreachable!()
        };
        execute(&m, t, b"alloc 0x10000 64K reserve,commit readwrite")
            .unwrap()
            .unwrap();
        let before = (m.vads(pid).unwrap(), m.process_status(pid).unwrap());
        for line in [
            "lock 0x10000 4K",
            "unlock 0x10000 4K",
            "awe-alloc 4",
            "alloc 0 4M reserve,commit,large-pages readwrite",
            "alloc 0 4M MEM_RESERVE,MEM_COMMIT,MEM_LARGE_PAGES readwrite",
            // Refused before its arguments are even looked at.
            "lock nonsense",
        ] {
            let e = execute_as(&m, t, line.as_bytes(), &USER)
                .unwrap()
                .expect_err(line);
            assert_eq!(e.status.name(), "STATUS_PRIVILEGE_NOT_HELD", "{line}");
            assert!(e.message.contains("SeLockMemoryPrivilege"), "{}", e.message);
            assert!(e.message.contains("uid 1000"), "{}", e.message);
        }
        let after = (m.vads(pid).unwrap(), m.process_status(pid).unwrap());
        assert_eq!(before, after);
        assert_eq!(after.1.locked_pages, 0);
        // The same lock with the privilege runs.
        let root = Caller::user(0, 0, 0);
        execute_as(&m, t, b"lock 0x10000 4K", &root)
            .unwrap()
            .unwrap();
        assert_eq!(m.process_status(pid).unwrap().locked_pages, 1);
    }

    /// Everything else a process's owner may do needs no privilege.
    #[test]
    fn other_commands_need_no_privilege() {
        let (m, t) = machine();
        for line in [
            "alloc 0x10000 64K reserve,commit readwrite",
            "protect 0x10000 4K readonly",
            "alloc 0 64K reserve,top-down readwrite",
            "trim",
            "free 0x10000 0 release",
            "fork child",
        ] {
            execute_as(&m, t, line.as_bytes(), &USER)
                .unwrap()
                .unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        // An unknown verb still gets its usual answer.
        let e = execute_as(&m, t, b"frob", &USER).unwrap().unwrap_err();
        assert_eq!(e.status.name(), "STATUS_INVALID_PARAMETER");
    }
}
