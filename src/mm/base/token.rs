//! Who a process runs as. NT keeps it in the process's primary token
//! (EPROCESS.Token: the user's SID, its primary group, its privileges); mmfs
//! keeps the host user and group that made the process, the only identity a
//! FUSE request carries. The core only stores it (a fork's child inherits its
//! parent's, as NtCreateProcess's child inherits the parent's token); the
//! access checks that use it are the file system's and the command
//! language's (`src/fs`, `src/cmd`), as NT's are the object manager's and
//! each system service's.

/// A process's owner: the host uid and gid of the user who created it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Token {
    pub uid: u32,
    pub gid: u32,
}
