//! Names inside the `--files` volume, and opening them without ever leaving it.
//!
//! Every name the kernel sends is checked to be one component ([`Name`]: not
//! empty, not `.` or `..`, no `/`, no NUL); paths are built only from such
//! components ([`RelPath`]). The host then resolves a path relative to the
//! volume's directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS) and O_NOFOLLOW, so no `..`, absolute path or symlink,
//! in any component (the last one included), is followed even if a bad path got
//! past the checks. Where openat2 is missing (before Linux 5.6, or filtered by a
//! seccomp policy) an openat() walk, one checked component at a time with
//! O_NOFOLLOW, does the same.
//!
//! A symlink of the volume is stored and shown (readlink), never followed by
//! the daemon: opening one with O_PATH | O_NOFOLLOW gives the link itself,
//! opening it any other way fails with ELOOP. The kernel follows symlinks for
//! the caller, inside the mount, as on any filesystem.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use fuser::Errno;

use crate::beneath::is_component;

/// One name inside a directory of the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name<'a>(&'a [u8]);

impl<'a> Name<'a> {
    /// A single path component: anything else is EINVAL (the kernel never sends
    /// one; the check is what keeps a path from climbing out).
    pub fn new(bytes: &'a [u8]) -> Result<Name<'a>, Errno> {
        if is_component(bytes) {
            Ok(Name(bytes))
        } else {
            Err(Errno::EINVAL)
        }
    }

    pub fn from_os(name: &'a OsStr) -> Result<Name<'a>, Errno> {
        Name::new(name.as_bytes())
    }

    #[cfg(test)]
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    pub fn c(&self) -> CString {
        CString::new(self.0).expect("a checked name has no NUL")
    }
}

/// A path relative to the volume's root: checked components joined by `/`;
/// empty for the root itself.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct RelPath(Vec<u8>);

impl RelPath {
    pub fn root() -> RelPath {
        RelPath(Vec::new())
    }

    /// Parses `a/b/c` (no leading or trailing `/`, every component a [`Name`]).
    #[cfg(test)]
    pub fn parse(bytes: &[u8]) -> Result<RelPath, Errno> {
        if bytes.is_empty() {
            return Ok(RelPath::root());
        }
        if bytes.split(|&c| c == b'/').all(is_component) {
            Ok(RelPath(bytes.to_vec()))
        } else {
            Err(Errno::EINVAL)
        }
    }

    /// A path that skips the checks, to test that the host refuses it anyway.
    #[cfg(test)]
    pub fn unchecked(bytes: &[u8]) -> RelPath {
        RelPath(bytes.to_vec())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn join(&self, name: Name) -> RelPath {
        let mut v = Vec::with_capacity(self.0.len() + 1 + name.0.len());
        v.extend_from_slice(&self.0);
        if !v.is_empty() {
            v.push(b'/');
        }
        v.extend_from_slice(name.0);
        RelPath(v)
    }

    /// The directory holding this path and the last name; `None` for the root.
    #[cfg(test)]
    pub fn split(&self) -> Option<(RelPath, Name<'_>)> {
        if self.is_root() {
            return None;
        }
        match self.0.iter().rposition(|&c| c == b'/') {
            Some(i) => Some((RelPath(self.0[..i].to_vec()), Name(&self.0[i + 1..]))),
            None => Some((RelPath::root(), Name(&self.0))),
        }
    }

    /// Whether this path is `dir` or lies below it.
    pub fn is_under(&self, dir: &RelPath) -> bool {
        if dir.is_root() {
            return true;
        }
        self.0.starts_with(&dir.0) && (self.0.len() == dir.0.len() || self.0[dir.0.len()] == b'/')
    }

    /// This path with its prefix `from` replaced by `to` (a rename of `from`).
    pub fn rebase(&self, from: &RelPath, to: &RelPath) -> Option<RelPath> {
        if !self.is_under(from) {
            return None;
        }
        let rest = &self.0[from.0.len()..];
        let rest = rest.strip_prefix(b"/").unwrap_or(rest);
        let mut v = to.0.clone();
        if !v.is_empty() && !rest.is_empty() {
            v.push(b'/');
        }
        v.extend_from_slice(rest);
        Some(RelPath(v))
    }

    /// The name as `sections/control` and the cache's views show it.
    pub fn shown(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

/// The errno of the last failed host call.
pub fn last_errno() -> Errno {
    Errno::from(std::io::Error::last_os_error())
}

/// `ret` of a libc call that returns -1 on failure.
pub fn check(ret: libc::c_int) -> Result<libc::c_int, Errno> {
    if ret < 0 { Err(last_errno()) } else { Ok(ret) }
}

/// The volume's directory, held open; every host path is resolved beneath it.
#[derive(Debug)]
pub struct Beneath {
    root: OwnedFd,
}

impl Beneath {
    pub fn open(dir: &std::path::Path) -> std::io::Result<Beneath> {
        let c = CString::new(dir.as_os_str().as_bytes())?;
        // SAFETY: a valid C string; the fd returned is owned below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns.
        Ok(Beneath {
            root: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn root_fd(&self) -> RawFd {
        self.root.as_raw_fd()
    }

    /// Opens `path` with `flags` (O_NOFOLLOW and O_CLOEXEC are always added).
    /// With O_PATH a final symlink gives the link itself.
    pub fn open_path(&self, path: &RelPath, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
        open_beneath(self.root.as_raw_fd(), path, flags, mode)
    }

    /// Opens `name` in the directory `dir` (an fd of this volume) the same way.
    pub fn open_in(&self, dir: RawFd, name: Name, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
        crate::beneath::open(dir, name.0, flags, mode).map_err(Errno::from)
    }
}

fn open_beneath(dirfd: RawFd, path: &RelPath, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    crate::beneath::open(dirfd, rel_bytes(path), flags, mode).map_err(Errno::from)
}

/// The fallback walk alone (tests use it where openat2 exists).
#[cfg(test)]
pub(super) fn walk(dirfd: RawFd, path: &RelPath, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    crate::beneath::walk(dirfd, rel_bytes(path), flags, mode).map_err(Errno::from)
}

/// The root is `.` to the host.
fn rel_bytes(path: &RelPath) -> &[u8] {
    if path.is_root() { b"." } else { &path.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn o_path() -> i32 {
        libc::O_PATH
    }

    fn is_symlink(fd: &OwnedFd) -> bool {
        // SAFETY: fstat into a zeroed struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }).unwrap();
        st.st_mode & libc::S_IFMT == libc::S_IFLNK
    }

    /// A volume `vol/` next to a `secret` file, with links that point out of it.
    fn fixture() -> (tempfile::TempDir, Beneath) {
        let t = tempfile::tempdir().unwrap();
        let vol = t.path().join("vol");
        std::fs::create_dir_all(vol.join("a/b")).unwrap();
        std::fs::write(t.path().join("secret"), b"outside").unwrap();
        std::fs::write(vol.join("a/inside"), b"inside").unwrap();
        symlink("/etc", vol.join("esc")).unwrap();
        symlink("..", vol.join("up")).unwrap();
        symlink("../../secret", vol.join("a/rel")).unwrap();
        symlink("inside", vol.join("a/near")).unwrap();
        let b = Beneath::open(&vol).unwrap();
        (t, b)
    }

    #[test]
    fn names_are_single_components() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"/",
            b"/etc",
            b"a\0b",
            b"../x",
        ] {
            assert_eq!(Name::new(bad), Err(Errno::EINVAL), "{bad:?}");
        }
        for good in [
            &b"a"[..],
            b"...",
            b".hidden",
            b"a b",
            b"\xff\xfe",
            b"-",
            b"...",
        ] {
            assert!(Name::new(good).is_ok(), "{good:?}");
        }
        // Every byte but NUL and '/' is a name by itself, and all of them in one.
        let all: Vec<u8> = (1..=255u8).filter(|&c| c != b'/').collect();
        assert!(Name::new(&all).is_ok());
        for c in 1..=255u8 {
            assert_eq!(Name::new(&[c]).is_ok(), c != b'/' && c != b'.', "{c:#x}");
        }
    }

    #[test]
    fn paths_parse_only_checked_components() {
        for bad in [
            &b"a/../.."[..],
            b"..",
            b"a/./b",
            b"/etc/passwd",
            b"a//b",
            b"a/",
            b"a/\0",
        ] {
            assert_eq!(RelPath::parse(bad), Err(Errno::EINVAL), "{bad:?}");
        }
        let p = RelPath::parse(b"a/b/c").unwrap();
        let (dir, name) = p.split().unwrap();
        assert_eq!(dir, RelPath::parse(b"a/b").unwrap());
        assert_eq!(name.bytes(), b"c");
        assert_eq!(
            RelPath::parse(b"a").unwrap().split().unwrap().0,
            RelPath::root()
        );
        assert!(RelPath::root().split().is_none());
        assert_eq!(
            RelPath::root().join(Name::new(b"x").unwrap()),
            RelPath::parse(b"x").unwrap()
        );
    }

    #[test]
    fn rebase_moves_a_subtree() {
        let p = |s: &[u8]| RelPath::parse(s).unwrap();
        assert_eq!(p(b"a/b/c").rebase(&p(b"a/b"), &p(b"x")), Some(p(b"x/c")));
        assert_eq!(p(b"a/b").rebase(&p(b"a/b"), &p(b"x/y")), Some(p(b"x/y")));
        assert_eq!(p(b"a/bc").rebase(&p(b"a/b"), &p(b"x")), None);
        assert_eq!(p(b"a").rebase(&RelPath::root(), &p(b"z")), Some(p(b"z/a")));
        assert!(p(b"a/b").is_under(&p(b"a")));
        assert!(!p(b"ab").is_under(&p(b"a")));
    }

    /// Both resolvers, on every hostile path: nothing outside the volume opens,
    /// and a symlink is only ever the link itself.
    #[test]
    fn nothing_outside_the_volume_opens() {
        let (_t, b) = fixture();
        let root = b.root_fd();
        type Open = fn(RawFd, &RelPath, i32, u32) -> Result<OwnedFd, Errno>;
        let resolvers: [(&str, Open); 2] = [("openat2", open_beneath), ("walk", walk)];
        for (which, open) in resolvers {
            for hostile in [
                &b"esc/passwd"[..],
                b"up/secret",
                b"a/rel",
                b"a/../../secret",
                b"..",
                b"../secret",
                b"/etc/passwd",
                b"a/b/../../../secret",
            ] {
                let path = RelPath::unchecked(hostile);
                for flags in [libc::O_RDONLY, libc::O_PATH | libc::O_DIRECTORY] {
                    let r = open(root, &path, flags, 0);
                    assert!(r.is_err(), "{which}: {} opened", path.shown());
                }
            }
            // With O_PATH a symlink is the link itself, never its target.
            for link in [&b"esc"[..], b"up", b"a/rel", b"a/near"] {
                let fd = open(root, &RelPath::unchecked(link), o_path(), 0).unwrap();
                assert!(is_symlink(&fd), "{which}: {link:?} was followed");
                let e = open(root, &RelPath::unchecked(link), libc::O_RDONLY, 0).unwrap_err();
                assert_eq!(e, Errno::ELOOP, "{which}: {link:?}");
            }
            let inside = open(
                root,
                &RelPath::parse(b"a/inside").unwrap(),
                libc::O_RDONLY,
                0,
            );
            assert!(inside.is_ok(), "{which}");
            assert!(open(root, &RelPath::root(), o_path(), 0).is_ok(), "{which}");
        }
    }

    /// Names of every odd byte can be created and opened, inside the volume.
    #[test]
    fn odd_bytes_stay_names() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("vol")).unwrap();
        let b = Beneath::open(&t.path().join("vol")).unwrap();
        let mut names: Vec<Vec<u8>> = (1..=255u8)
            .filter(|&c| c != b'/' && c != b'.')
            .map(|c| vec![c])
            .collect();
        names.push((1..=255u8).filter(|&c| c != b'/').collect());
        names.push(b"..\n..".to_vec());
        for n in &names {
            let name = Name::new(n).unwrap();
            let fd = b
                .open_in(
                    b.root_fd(),
                    name,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                    0o600,
                )
                .unwrap_or_else(|e| panic!("{n:?}: {e:?}"));
            drop(fd);
            let path = RelPath::root().join(name);
            assert!(b.open_path(&path, libc::O_RDONLY, 0).is_ok());
            assert!(t.path().join("vol").join(OsStr::from_bytes(n)).exists());
        }
        assert!(!t.path().join("\x01").exists());
    }
}
