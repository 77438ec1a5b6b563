//! Who may do what in the generated tree (SPEC §9): each node's owner and
//! mode, and the checks the daemon makes itself.
//!
//! The mount uses `default_permissions`, so the kernel checks every open,
//! lookup, mkdir and rmdir against the owner and mode `stat` shows; `ls -l`
//! tells the truth because those attributes come from here. The daemon makes
//! the same checks again from the same table ([`check`], [`may_remove`]) on
//! the requests that change or reveal something, so the rules hold whatever
//! the kernel caches or the mount options say (a mount without
//! `default_permissions`, attributes cached for a second after a change).
//!
//! The rules:
//! - a process directory and its files belong to the user who made the
//!   process (its token, `Mm::process_token`); the System process and the
//!   rest of the tree belong to the machine: the user mmfs runs as;
//! - anyone may read a process's `status`, `vads`, `maps` and `map.svg`
//!   (0444: the picture shows the regions `vads` lists, with how much of each
//!   is committed and resident, VMMap's view; not frames or PTEs) and list
//!   its directory; only its owner reads or writes `mem` and `control`
//!   (0600), and reads `ptes`, `workingset`, `clones`, `pte/<VA>`, and every
//!   other process file (`awe`, `write-watch`, whatever is added: 0400, a
//!   whitelist, so a new file is private until said otherwise);
//! - `processes/` is 1777: anyone makes a process, and only its owner (or
//!   root, or the machine's owner) removes it: the sticky bit's rule, and
//!   its error, EPERM (STATUS_ACCESS_DENIED's errno in SPEC §3);
//! - machine-wide control files (`system/`, `pagefiles/`, `sections/`,
//!   `cache/`, `pool/`, `kernel/mdls/`) are 0644: every user reads the views,
//!   only root and the machine's owner change the machine. `sections/control`
//!   is among them: `create ... file=PATH` reads a host file as the daemon,
//!   whatever its mode; `kernel/mem` is 0600;
//! - root (uid 0) may do anything, as CAP_DAC_OVERRIDE lets it.

use fuser::Errno;

use super::node::{Dir, File, FileClass, Node, ProcessFile};
use crate::mm::Mm;

/// A host user as a request names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Who {
    pub uid: u32,
    pub gid: u32,
}

/// Who owns a node and what its mode bits allow (the permission bits only).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Access {
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
}

/// Read, write, execute (search), as `access(2)`'s bits.
pub const READ: u16 = 4;
pub const WRITE: u16 = 2;
pub const SEARCH: u16 = 1;

/// The process files anyone may read (SPEC §9); every other file of a
/// process directory is its owner's alone.
fn public_process_file(f: ProcessFile) -> bool {
    matches!(
        f,
        ProcessFile::Status | ProcessFile::Vads | ProcessFile::Maps | ProcessFile::MapSvg
    )
}

/// The mode bits of a node of the generated tree.
pub fn mode(node: Node) -> u16 {
    match node {
        Node::Dir(Dir::Processes) => 0o1777,
        Node::Dir(Dir::PteDir(_)) => 0o500,
        Node::Dir(d) if d.is_writable() => 0o755,
        Node::Dir(_) => 0o555,
        Node::PidLink(_) => 0o777,
        // The volume's root has the host directory's own mode.
        Node::Volume => 0o755,
        Node::File(File::Process(_, f)) if public_process_file(f) => 0o444,
        Node::File(File::Process(_, ProcessFile::Mem | ProcessFile::Control)) => 0o600,
        Node::File(File::Process(..) | File::PteEntry(..)) => 0o400,
        Node::File(f) => match f.class() {
            FileClass::Generated | FileClass::Events => 0o444,
            FileClass::Control(_) => 0o644,
            FileClass::Mem(_) => 0o600,
        },
    }
}

/// A node's owner and mode. `machine` is the user mmfs runs as, who owns
/// everything that is not a user's process.
pub fn access_of(mm: &Mm, node: Node, machine: Who) -> Access {
    let owner = super::node::owning_process(node)
        .and_then(|pid| mm.process_token(pid))
        .map(|t| Who {
            uid: t.uid,
            gid: t.gid,
        })
        .unwrap_or(machine);
    Access {
        uid: owner.uid,
        gid: owner.gid,
        mode: mode(node),
    }
}

/// Whether `who` may have `want` (READ, WRITE, SEARCH bits) on a node with
/// `a`: the owner's bits, the group's, or the others', as the kernel's
/// `generic_permission` (with only the caller's primary group known); root
/// passes every check.
pub fn permits(a: Access, who: Who, want: u16) -> bool {
    if who.uid == 0 {
        return true;
    }
    let bits = if who.uid == a.uid {
        a.mode >> 6
    } else if who.gid == a.gid {
        a.mode >> 3
    } else {
        a.mode
    } & 7;
    bits & want == want
}

/// EACCES unless `who` may have `want` on `node`.
pub fn check(mm: &Mm, node: Node, machine: Who, who: Who, want: u16) -> Result<(), Errno> {
    if permits(access_of(mm, node, machine), who, want) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// Whether `who` may remove `child` from `dir`: write and search on the
/// directory, and where the directory is sticky (`processes/`), ownership of
/// the child or of the directory (the kernel's `may_delete`).
pub fn may_remove(mm: &Mm, dir: Dir, child: Node, machine: Who, who: Who) -> Result<(), Errno> {
    let d = access_of(mm, Node::Dir(dir), machine);
    if !permits(d, who, WRITE | SEARCH) {
        return Err(Errno::EACCES);
    }
    let sticky = d.mode & 0o1000 != 0;
    if sticky && who.uid != 0 && who.uid != d.uid {
        let c = access_of(mm, child, machine);
        if who.uid != c.uid {
            // EPERM, as the kernel's sticky-bit refusal (`rmdir` of another
            // user's directory in /tmp): with default_permissions the kernel
            // answers first, so the daemon says the same.
            return Err(Errno::EPERM);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::token::Token;
    use crate::mm::base::types::{Arch, Pid};

    const MACHINE: Who = Who { uid: 0, gid: 0 };
    const ALICE: Who = Who {
        uid: 1000,
        gid: 1000,
    };
    const BOB: Who = Who {
        uid: 1001,
        gid: 1001,
    };
    const ROOT: Who = Who { uid: 0, gid: 0 };

    fn machine_with_alices_process() -> (Mm, Pid) {
        let mm = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let pid = mm
            .create_process_as(
                "app",
                Some(Token {
                    uid: 1000,
                    gid: 1000,
                }),
            )
            .unwrap();
        (mm, pid)
    }

    fn file(pid: Pid, f: ProcessFile) -> Node {
        Node::File(File::Process(pid, f))
    }

    #[test]
    fn a_process_belongs_to_its_creator() {
        let (mm, pid) = machine_with_alices_process();
        let a = access_of(&mm, file(pid, ProcessFile::Mem), MACHINE);
        assert_eq!((a.uid, a.gid, a.mode), (1000, 1000, 0o600));
        let a = access_of(&mm, Node::Dir(Dir::Process(pid)), MACHINE);
        assert_eq!((a.uid, a.mode), (1000, 0o555));
        let a = access_of(&mm, Node::File(File::PteEntry(pid, 0x10000)), MACHINE);
        assert_eq!((a.uid, a.mode), (1000, 0o400));
        // The System process and the machine-wide files: the machine's.
        let sys = access_of(
            &mm,
            file(Pid::SYSTEM, ProcessFile::Mem),
            Who { uid: 7, gid: 8 },
        );
        assert_eq!((sys.uid, sys.gid), (7, 8));
        let a = access_of(&mm, Node::Dir(Dir::Processes), MACHINE);
        assert_eq!(a.mode, 0o1777);
    }

    /// SPEC §9: others read status, vads and maps, and nothing else of the
    /// process; its owner and root read and write all of it.
    #[test]
    fn others_read_only_the_public_files() {
        let (mm, pid) = machine_with_alices_process();
        let every = [
            ProcessFile::Status,
            ProcessFile::Mem,
            ProcessFile::Vads,
            ProcessFile::Ptes,
            ProcessFile::Workingset,
            ProcessFile::Maps,
            ProcessFile::Clones,
            ProcessFile::Control,
            ProcessFile::MapSvg,
        ];
        for f in every {
            let node = file(pid, f);
            let public = matches!(
                f,
                ProcessFile::Status | ProcessFile::Vads | ProcessFile::Maps | ProcessFile::MapSvg
            );
            assert_eq!(
                check(&mm, node, MACHINE, BOB, READ).is_ok(),
                public,
                "{f:?}"
            );
            assert_eq!(check(&mm, node, MACHINE, BOB, WRITE), Err(Errno::EACCES));
            assert!(check(&mm, node, MACHINE, ALICE, READ).is_ok(), "{f:?}");
            assert!(check(&mm, node, MACHINE, ROOT, READ | WRITE).is_ok());
            let writable = matches!(f, ProcessFile::Mem | ProcessFile::Control);
            assert_eq!(check(&mm, node, MACHINE, ALICE, WRITE).is_ok(), writable);
        }
        let pte = Node::File(File::PteEntry(pid, 0x10000));
        assert_eq!(check(&mm, pte, MACHINE, BOB, READ), Err(Errno::EACCES));
        let pte_dir = Node::Dir(Dir::PteDir(pid));
        assert_eq!(
            check(&mm, pte_dir, MACHINE, BOB, SEARCH),
            Err(Errno::EACCES)
        );
        assert!(check(&mm, pte_dir, MACHINE, ALICE, SEARCH).is_ok());
        // Anyone lists the process directory.
        let dir = Node::Dir(Dir::Process(pid));
        assert!(check(&mm, dir, MACHINE, BOB, READ | SEARCH).is_ok());
    }

    #[test]
    fn machine_wide_controls_are_the_machines() {
        let (mm, _) = machine_with_alices_process();
        for f in [
            File::System(crate::fs::node::SystemFile::Control),
            File::PagefilesControl,
            File::SectionsControl,
        ] {
            let node = Node::File(f);
            assert!(check(&mm, node, MACHINE, BOB, READ).is_ok());
            assert_eq!(check(&mm, node, MACHINE, BOB, WRITE), Err(Errno::EACCES));
            assert!(check(&mm, node, MACHINE, ROOT, WRITE).is_ok());
            // A non-root machine owner (mmfs run by alice) writes them.
            assert!(check(&mm, node, ALICE, ALICE, WRITE).is_ok());
        }
        let kmem = Node::File(File::Kernel(crate::fs::node::KernelFile::Mem));
        assert_eq!(check(&mm, kmem, MACHINE, BOB, READ), Err(Errno::EACCES));
    }

    /// processes/ is sticky: anyone makes a process, only its owner, the
    /// directory's owner or root removes it. sections/ is the machine's.
    #[test]
    fn only_the_owner_removes_a_process() {
        let (mm, pid) = machine_with_alices_process();
        let p = Node::Dir(Dir::Process(pid));
        assert!(permits(
            access_of(&mm, Node::Dir(Dir::Processes), MACHINE),
            BOB,
            WRITE | SEARCH
        ));
        assert_eq!(
            may_remove(&mm, Dir::Processes, p, MACHINE, BOB),
            Err(Errno::EPERM)
        );
        assert!(may_remove(&mm, Dir::Processes, p, MACHINE, ALICE).is_ok());
        assert!(may_remove(&mm, Dir::Processes, p, MACHINE, ROOT).is_ok());
        let bobs = Who {
            uid: 1001,
            gid: 1001,
        };
        assert!(may_remove(&mm, Dir::Processes, p, bobs, BOB).is_ok());
        let s = Node::Dir(Dir::Sections);
        assert_eq!(
            may_remove(&mm, Dir::Sections, s, MACHINE, ALICE),
            Err(Errno::EACCES)
        );
    }

    /// The daemon's own checks through `MmFs`, without the kernel's: the
    /// same answers as the modes, and a control file's commands (a partial
    /// line run at the last close too) run with the writer's privileges.
    #[test]
    fn the_daemon_checks_without_the_kernel() {
        use crate::fs::inode::ROOT_INO;
        use crate::fs::{MmFs, ReadFrom};
        let mm = std::sync::Arc::new(Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap());
        let fs = MmFs::new(std::sync::Arc::clone(&mm)).unwrap();
        // The test runs as root (the mount tests need it), so the machine is root's.
        let (procs, _) = fs.lookup(ROOT_INO, "processes", BOB).unwrap();
        let (app, node) = fs.mkdir(procs, "app", ALICE).unwrap();
        let Node::Dir(Dir::Process(pid)) = node else {
            panic!("{node:?}")
        };
        assert_eq!(
            mm.process_token(pid),
            Some(Token {
                uid: 1000,
                gid: 1000
            })
        );
        let ino = |name: &str, who: Who| fs.lookup(app, name, who).map(|(i, _)| i);
        let status = ino("status", BOB).unwrap();
        assert!(fs.open(status, READ, BOB).is_ok());
        let mem = ino("mem", BOB).unwrap();
        assert_eq!(fs.open(mem, READ, BOB).err(), Some(Errno::EACCES));
        assert_eq!(fs.truncate(mem, BOB).err(), Some(Errno::EACCES));
        assert!(fs.open(mem, READ | WRITE, ALICE).is_ok());
        let control = ino("control", BOB).unwrap();
        assert_eq!(fs.open(control, WRITE, BOB).err(), Some(Errno::EACCES));
        assert_eq!(
            ino("pte", BOB)
                .and_then(|pte| fs.lookup(pte, "0x10000", BOB))
                .err(),
            Some(Errno::EACCES)
        );
        assert_eq!(fs.rmdir(procs, "app", BOB), Err(Errno::EPERM));
        // The owner's lock is refused for want of the privilege, and a
        // partial line run at close runs as its writer, not as root.
        let fh = fs.open(control, WRITE | READ, ALICE).unwrap().fh;
        assert_eq!(
            fs.write(fh, 0, b"lock 0x10000 4K\n", 7, ALICE),
            Err(Errno::EPERM)
        );
        fs.write(fh, 0, b"unlock 0x10000 4K", 7, ALICE).unwrap();
        assert_eq!(fs.flush(fh, None), Err(Errno::EPERM));
        let Ok(ReadFrom::Bytes(text)) = fs.read(fh, 0, 4096) else {
            panic!("no outcome")
        };
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.starts_with("error STATUS_PRIVILEGE_NOT_HELD: unlock needs SeLockMemoryPrivilege"),
            "{text}"
        );
        fs.release(fh).unwrap();
        // Root's lock runs (the range is not committed: the core's own answer).
        let fh = fs.open(control, WRITE, ROOT).unwrap().fh;
        let e = fs.write(fh, 0, b"lock 0x10000 4K\n", 7, ROOT);
        assert_ne!(e, Err(Errno::EPERM));
        fs.release(fh).unwrap();
        assert!(fs.rmdir(procs, "app", ALICE).is_ok());
        assert_eq!(mm.process_token(pid), None);
    }
}
