//! The host calls the volume makes, each on a descriptor of the volume and at
//! most one checked [`Name`]: `*at()` calls that do not follow a final symlink,
//! so none of them can reach outside (see `resolve.rs`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileType, TimeOrNow};

use super::resolve::{Name, check, last_errno};
use crate::mm::api::FileId;

/// What the host's stat says of a file.
#[derive(Clone, Copy, Debug)]
pub struct HostStat(pub libc::stat);

impl HostStat {
    pub fn of(fd: RawFd) -> Result<HostStat, Errno> {
        // SAFETY: fstat fills the zeroed struct; O_PATH descriptors are accepted.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        check(unsafe { libc::fstat(fd, &mut st) })?;
        Ok(HostStat(st))
    }

    /// `name` in the directory `dir`, not following a symlink.
    pub fn at(dir: RawFd, name: Name) -> Result<HostStat, Errno> {
        let c = name.c();
        // SAFETY: as above, with a valid C string.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        check(unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
        Ok(HostStat(st))
    }

    pub fn id(&self) -> FileId {
        FileId {
            dev: self.0.st_dev,
            ino: self.0.st_ino,
        }
    }

    pub fn format(&self) -> u32 {
        self.0.st_mode & libc::S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.format() == libc::S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        self.format() == libc::S_IFREG
    }

    pub fn is_symlink(&self) -> bool {
        self.format() == libc::S_IFLNK
    }

    pub fn kind(&self) -> FileType {
        kind_of_mode(self.0.st_mode)
    }

    /// Only a regular file opens: a directory is EISDIR, anything else EINVAL.
    pub fn require_file(&self) -> Result<(), Errno> {
        match self.format() {
            libc::S_IFREG => Ok(()),
            libc::S_IFDIR => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }
}

fn kind_of_mode(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

pub fn system_time(sec: i64, nsec: i64) -> SystemTime {
    let nsec = nsec.clamp(0, 999_999_999) as u32;
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec)
    } else {
        UNIX_EPOCH - Duration::new(sec.unsigned_abs(), 0) + Duration::new(0, nsec)
    }
}

pub fn mkdirat(dir: RawFd, name: Name, mode: u32) -> Result<(), Errno> {
    let c = name.c();
    // SAFETY: a valid C string.
    check(unsafe { libc::mkdirat(dir, c.as_ptr(), mode) }).map(drop)
}

pub fn mknodat(dir: RawFd, name: Name, mode: u32) -> Result<(), Errno> {
    let c = name.c();
    // SAFETY: a valid C string; only FIFOs and sockets come here (no device).
    check(unsafe { libc::mknodat(dir, c.as_ptr(), mode, 0) }).map(drop)
}

pub fn symlinkat(target: &[u8], dir: RawFd, name: Name) -> Result<(), Errno> {
    let t = CString::new(target).map_err(|_| Errno::EINVAL)?;
    let c = name.c();
    // SAFETY: valid C strings.
    check(unsafe { libc::symlinkat(t.as_ptr(), dir, c.as_ptr()) }).map(drop)
}

/// Removes `name` (`rmdir` if `dir_too`).
pub fn unlinkat(dir: RawFd, name: Name, rmdir: bool) -> Result<(), Errno> {
    let c = name.c();
    let flags = if rmdir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: a valid C string.
    check(unsafe { libc::unlinkat(dir, c.as_ptr(), flags) }).map(drop)
}

pub fn renameat2(from: RawFd, a: Name, to: RawFd, b: Name, flags: u32) -> Result<(), Errno> {
    let (ca, cb) = (a.c(), b.c());
    // SAFETY: valid C strings; renameat2 never follows a symlink.
    check(unsafe { libc::renameat2(from, ca.as_ptr(), to, cb.as_ptr(), flags) }).map(drop)
}

/// A new name `name` in `dir` for the file `node` (an O_PATH descriptor of it):
/// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; without it, the
/// descriptor's /proc link, which names exactly that file too.
pub fn link_fd(node: RawFd, dir: RawFd, name: Name) -> Result<(), Errno> {
    let c = name.c();
    let empty = c"";
    // SAFETY: valid C strings.
    let r = unsafe { libc::linkat(node, empty.as_ptr(), dir, c.as_ptr(), libc::AT_EMPTY_PATH) };
    if r == 0 {
        return Ok(());
    }
    let e = last_errno();
    if e.code() != libc::ENOENT && e.code() != libc::EPERM {
        return Err(e);
    }
    let proc = proc_fd(node);
    // SAFETY: valid C strings; following the /proc magic link lands on `node`.
    check(unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc.as_ptr(),
            dir,
            c.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
    .map(drop)
}

fn proc_fd(fd: RawFd) -> CString {
    CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL")
}

/// The target of the symlink `node` (an O_PATH descriptor of the link).
pub fn readlink_fd(node: RawFd) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the buffer is as long as said; "" with an O_PATH link reads the link.
    let n = unsafe { libc::readlinkat(node, c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(last_errno());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// chown of the file `node` itself (a symlink is not followed). `u32::MAX`
/// leaves a field alone.
pub fn chown_fd(node: RawFd, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
    let uid = uid.unwrap_or(u32::MAX);
    let gid = gid.unwrap_or(u32::MAX);
    // SAFETY: "" with AT_EMPTY_PATH names the descriptor's own file.
    check(unsafe {
        libc::fchownat(
            node,
            c"".as_ptr(),
            uid,
            gid,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// chmod of the file `node` (an O_PATH descriptor, or a real one). A symlink's
/// mode cannot change (EOPNOTSUPP, as lchmod); anything else is reached through
/// the descriptor's /proc link, which is that very file, never a name.
pub fn chmod_fd(node: RawFd, st: &HostStat, mode: u32) -> Result<(), Errno> {
    if st.is_symlink() {
        return Err(Errno::EOPNOTSUPP);
    }
    let proc = proc_fd(node);
    // SAFETY: a valid C string.
    check(unsafe { libc::chmod(proc.as_ptr(), (mode & 0o7777) as libc::mode_t) }).map(drop)
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let (sec, nsec) = match t.duration_since(UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i64),
                Err(e) => {
                    let d = e.duration();
                    let mut sec = -(d.as_secs() as i64);
                    let mut nsec = -(d.subsec_nanos() as i64);
                    if nsec < 0 {
                        sec -= 1;
                        nsec += 1_000_000_000;
                    }
                    (sec, nsec)
                }
            };
            libc::timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            }
        }
    }
}

/// Sets the access and modification times of the file `node` itself.
pub fn utimens_fd(
    node: RawFd,
    atime: Option<TimeOrNow>,
    mtime: Option<TimeOrNow>,
) -> Result<(), Errno> {
    let times = [timespec(atime), timespec(mtime)];
    // SAFETY: "" with AT_EMPTY_PATH names the descriptor's own file.
    check(unsafe {
        libc::utimensat(
            node,
            c"".as_ptr(),
            times.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// The host filesystem's statvfs, for `df`.
pub fn statvfs(fd: RawFd) -> Result<libc::statvfs, Errno> {
    // SAFETY: fstatvfs fills the zeroed struct.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstatvfs(fd, &mut s) })?;
    Ok(s)
}

pub fn fsync(fd: &impl AsRawFd, data_only: bool) -> Result<(), Errno> {
    // SAFETY: plain calls on an open descriptor.
    let r = unsafe {
        if data_only {
            libc::fdatasync(fd.as_raw_fd())
        } else {
            libc::fsync(fd.as_raw_fd())
        }
    };
    check(r).map(drop)
}
