//! Opening a path beneath a host directory without ever leaving it: the
//! `--files` volume's safety, shared by the FUSE adapter (`fs/volume`) and by
//! `sections/control create ... file=PATH` (`mm/section`).
//!
//! The path is components joined by `/` (or `.` for the directory itself);
//! every component is checked (not empty, not `.` or `..`, no NUL). The host
//! resolves it with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS) and O_NOFOLLOW, so no `..`, absolute path or symlink
//! in any component is followed. Where openat2 is missing (before Linux 5.6, or
//! filtered by seccomp) an openat() walk, one component at a time with
//! O_NOFOLLOW, does the same. A symlink opened with O_PATH | O_NOFOLLOW is the
//! link itself; opened any other way it fails with ELOOP.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once openat2 has answered ENOSYS: the walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Whether `b` is one plain path component.
pub fn is_component(b: &[u8]) -> bool {
    !b.is_empty() && b != b"." && b != b".." && !b.contains(&b'/') && !b.contains(&0)
}

/// Opens `path` beneath the directory `dirfd` with `flags` (O_NOFOLLOW and
/// O_CLOEXEC are always added) and `mode` (used with O_CREAT).
pub fn open(dirfd: RawFd, path: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match openat2(dirfd, path, flags, mode) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed)
            }
            // EAGAIN: a concurrent rename somewhere on the system made the kernel
            // unsure the walk stayed beneath; trying again is what it asks.
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                return openat2(dirfd, path, flags, mode);
            }
            other => return other,
        }
    }
    walk(dirfd, path, flags, mode)
}

fn openat2(dirfd: RawFd, path: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `open_how` is plain integers; zero is a valid value for each.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    // The kernel refuses a mode without O_CREAT or O_TMPFILE.
    how.mode = if flags & libc::O_CREAT != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 with a valid C string and an `open_how` of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The fallback: each directory opened with O_PATH | O_DIRECTORY | O_NOFOLLOW
/// from the one before, every component checked again here.
pub fn walk(dirfd: RawFd, path: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let root = path == b".";
    let parts: Vec<&[u8]> = path.split(|&c| c == b'/').collect();
    if !root && !parts.iter().all(|p| is_component(p)) {
        return Err(io::Error::from_raw_os_error(libc::EXDEV));
    }
    let (last, dirs) = parts.split_last().expect("split gives at least one part");
    let mut held: Option<OwnedFd> = None;
    for d in dirs {
        let at = held.as_ref().map_or(dirfd, |f| f.as_raw_fd());
        let dir_flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        held = Some(openat(at, d, dir_flags, 0)?);
    }
    let at = held.as_ref().map_or(dirfd, |f| f.as_raw_fd());
    openat(at, last, flags, mode)
}

fn openat(dirfd: RawFd, name: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a valid C string; the fd returned is owned below.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags, mode as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
