//! The volume without FUSE: the calls the kernel would make, on a test machine.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use fuser::{Errno, FileType};

use super::names::SetAttr;
use super::{Caller, FILES_INO, Volume};
use crate::mm::Mm;
use crate::mm::base::config::MmConfig;
use crate::mm::base::types::Arch;

fn setup() -> (Mm, Volume, std::path::PathBuf) {
    let mm = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
    let dir = mm.config().files_dir.clone();
    let vol = Volume::new(&dir).unwrap();
    (mm, vol, dir)
}

fn me() -> Caller {
    Caller {
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
    }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

const RW: i32 = libc::O_RDWR;

#[test]
fn bytes_go_through_the_cache_and_sizes_follow() {
    let (mm, v, dir) = setup();
    let (attr, fh) = v.create(&mm, FILES_INO, os("f"), 0o644, RW, me()).unwrap();
    assert_eq!(attr.kind, FileType::RegularFile);
    assert_eq!(v.write(&mm, fh, 0, b"hello world", RW).unwrap(), 11);
    assert_eq!(v.getattr(&mm, attr.ino.0, None).unwrap().size, 11);
    assert_eq!(v.read(&mm, fh, 6, 100, RW).unwrap(), b"world");
    assert_eq!(v.read(&mm, fh, 100, 10, RW).unwrap(), b"");
    let direct = RW | libc::O_DIRECT;
    assert_eq!(v.write(&mm, fh, 1, &[0; 512], direct), Err(Errno::EINVAL));
    assert_eq!(v.read(&mm, fh, 0, 100, direct), Err(Errno::EINVAL));
    v.fsync(&mm, fh).unwrap();
    v.flush(&mm, fh).unwrap();
    v.release(&mm, fh).unwrap();
    assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"hello world");
    // Truncation by name, and through an open handle.
    let s = SetAttr {
        size: Some(5),
        ..SetAttr::default()
    };
    assert_eq!(v.setattr(&mm, attr.ino.0, &s, None).unwrap().size, 5);
    let fh = v.open(&mm, attr.ino.0, RW).unwrap();
    let s = SetAttr {
        size: Some(2),
        ..SetAttr::default()
    };
    assert_eq!(v.setattr(&mm, attr.ino.0, &s, Some(fh)).unwrap().size, 2);
    assert_eq!(v.read(&mm, fh, 0, 10, RW).unwrap(), b"he");
    v.release(&mm, fh).unwrap();
    // O_EXCL on an existing name.
    let again = v.create(&mm, FILES_INO, os("f"), 0o644, RW | libc::O_EXCL, me());
    assert_eq!(again.unwrap_err(), Errno::EEXIST);
    let (_, fh) = v
        .create(&mm, FILES_INO, os("f"), 0o644, RW | libc::O_TRUNC, me())
        .unwrap();
    assert_eq!(v.getattr(&mm, attr.ino.0, Some(fh)).unwrap().size, 0);
    v.release(&mm, fh).unwrap();
}

#[test]
fn ids_are_stable_shared_by_links_and_forgotten() {
    let (mm, v, _dir) = setup();
    let d = v.mkdir(&mm, FILES_INO, os("d"), 0o755, me()).unwrap().ino.0;
    let (f, fh) = v.create(&mm, d, os("f"), 0o600, RW, me()).unwrap();
    v.release(&mm, fh).unwrap();
    let l = v.link(&mm, f.ino.0, FILES_INO, os("link")).unwrap();
    assert_eq!(l.ino, f.ino, "a hard link is the same inode");
    assert_eq!(l.nlink, 2);
    // Renaming the directory keeps the file reachable by its id.
    v.rename(&mm, (FILES_INO, os("d")), (FILES_INO, os("e")), 0)
        .unwrap();
    assert_eq!(v.lookup(&mm, FILES_INO, os("e")).unwrap().ino.0, d);
    v.unlink(&mm, FILES_INO, os("link")).unwrap();
    assert_eq!(v.getattr(&mm, f.ino.0, None).unwrap().nlink, 1);
    let fresh = v.inode_count();
    for _ in 0..100 {
        let id = v.lookup(&mm, d, os("f")).unwrap().ino.0;
        assert_eq!(id, f.ino.0);
        v.forget(id, 1);
    }
    assert_eq!(v.inode_count(), fresh, "lookups and forgets balance");
    // Every reference the kernel was given, forgotten: only the root is left.
    v.forget(f.ino.0, 2);
    v.forget(d, 2);
    assert_eq!(v.inode_count(), 1);
    assert_eq!(v.getattr(&mm, d, None), Err(Errno::ESTALE));
}

#[test]
fn an_unlinked_open_file_keeps_its_bytes() {
    let (mm, v, _dir) = setup();
    let (f, fh) = v
        .create(&mm, FILES_INO, os("tmp"), 0o600, RW, me())
        .unwrap();
    v.write(&mm, fh, 0, b"still here", RW).unwrap();
    v.unlink(&mm, FILES_INO, os("tmp")).unwrap();
    assert_eq!(v.lookup(&mm, FILES_INO, os("tmp")), Err(Errno::ENOENT));
    assert_eq!(v.getattr(&mm, f.ino.0, Some(fh)).unwrap().size, 10);
    assert_eq!(v.getattr(&mm, f.ino.0, None).unwrap().nlink, 0);
    assert_eq!(v.read(&mm, fh, 0, 64, RW).unwrap(), b"still here");
    v.release(&mm, fh).unwrap();
}

#[test]
fn symlinks_are_stored_never_followed() {
    let (mm, v, dir) = setup();
    let esc = v.symlink(&mm, FILES_INO, os("esc"), b"/etc", me()).unwrap();
    assert_eq!(esc.kind, FileType::Symlink);
    assert_eq!(v.readlink(esc.ino.0).unwrap(), b"/etc");
    // Used as a directory, the link is not one.
    assert_eq!(
        v.lookup(&mm, esc.ino.0, os("passwd")).unwrap_err(),
        Errno::ENOTDIR
    );
    assert_eq!(v.opendir(esc.ino.0).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(v.open(&mm, esc.ino.0, RW).unwrap_err(), Errno::ELOOP);
    let chmod = SetAttr {
        mode: Some(0o600),
        ..SetAttr::default()
    };
    assert_eq!(
        v.setattr(&mm, esc.ino.0, &chmod, None).unwrap_err(),
        Errno::EOPNOTSUPP
    );
    let truncate = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    assert!(v.setattr(&mm, esc.ino.0, &truncate, None).is_err());
    assert!(std::fs::metadata("/etc/passwd").unwrap().len() > 0);
    // Names that are not one component never reach the host.
    for bad in ["..", ".", "a/b", ""] {
        assert_eq!(v.lookup(&mm, FILES_INO, os(bad)), Err(Errno::EINVAL));
        assert_eq!(
            v.mkdir(&mm, FILES_INO, os(bad), 0o755, me()).unwrap_err(),
            Errno::EINVAL
        );
    }
    let odd = OsStr::from_bytes(b"\x01\xff\n..");
    v.mkdir(&mm, FILES_INO, odd, 0o755, me()).unwrap();
    assert!(dir.join(odd).is_dir());
}

#[test]
fn rename_flags() {
    let (mm, v, dir) = setup();
    for n in ["a", "b"] {
        let (_, fh) = v.create(&mm, FILES_INO, os(n), 0o644, RW, me()).unwrap();
        v.write(&mm, fh, 0, n.as_bytes(), RW).unwrap();
        // The host file has the bytes once they are flushed (the cache holds
        // them until the lazy writer or a flush).
        v.fsync(&mm, fh).unwrap();
        v.release(&mm, fh).unwrap();
    }
    let (a, b) = ((FILES_INO, os("a")), (FILES_INO, os("b")));
    let noreplace = libc::RENAME_NOREPLACE;
    assert_eq!(v.rename(&mm, a, b, noreplace), Err(Errno::EEXIST));
    v.rename(&mm, a, b, libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"b");
    v.rename(&mm, a, b, 0).unwrap();
    assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"b");
    assert!(!dir.join("a").exists());
    assert_eq!(
        v.rename(&mm, b, a, 4),
        Err(Errno::EINVAL),
        "RENAME_WHITEOUT"
    );
    v.mkdir(&mm, FILES_INO, os("d"), 0o755, me()).unwrap();
    v.create(&mm, FILES_INO, os("x"), 0o644, RW, me()).unwrap();
    let d = v.lookup(&mm, FILES_INO, os("d")).unwrap().ino.0;
    v.mknod(&mm, d, os("inside"), libc::S_IFREG | 0o644, me())
        .unwrap();
    assert_eq!(v.rmdir(FILES_INO, os("d")), Err(Errno::ENOTEMPTY));
    let dev = v.mknod(&mm, d, os("dev"), libc::S_IFCHR | 0o644, me());
    assert_eq!(dev.unwrap_err(), Errno::EPERM, "no device nodes");
}

/// A listing read in small replies, resumed by cookie, names every entry
/// once; offset 0 starts over and sees what changed.
#[test]
fn readdir_resumes_by_cookie() {
    let (mm, v, _dir) = setup();
    for i in 0..500 {
        let name = format!("n{i:03}");
        v.mknod(&mm, FILES_INO, os(&name), libc::S_IFREG | 0o644, me())
            .unwrap();
    }
    let fh = v.opendir(FILES_INO).unwrap();
    let read_all = |v: &Volume| {
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let mut batch = 0;
            v.readdir(fh, offset, |ino, cookie, _, name| {
                if batch == 7 {
                    return true;
                }
                batch += 1;
                offset = cookie;
                seen.push((ino, name.to_owned()));
                false
            })
            .unwrap();
            if batch == 0 {
                return seen;
            }
        }
    };
    let seen = read_all(&v);
    assert_eq!(seen.len(), 502);
    let names: HashSet<_> = seen.iter().map(|(_, n)| n.clone()).collect();
    assert_eq!(names.len(), 502, "no name twice");
    let dot = seen.iter().find(|(_, n)| n == ".").unwrap();
    assert_eq!(dot.0, FILES_INO);
    let dotdot = seen.iter().find(|(_, n)| n == "..").unwrap();
    assert_eq!(dotdot.0, 1, "files/.. is the mount's root");
    let n7 = seen.iter().find(|(_, n)| n == "n007").unwrap().0;
    assert_eq!(v.lookup(&mm, FILES_INO, os("n007")).unwrap().ino.0, n7);
    v.unlink(&mm, FILES_INO, os("n007")).unwrap();
    assert_eq!(read_all(&v).len(), 501, "rewinddir sees the unlink");
    v.releasedir(fh);
    let st = v.statfs().unwrap();
    assert!(st.f_blocks > 0 && st.f_namemax >= 255);
}

/// A create with O_TRUNC of an existing file that a process maps fails
/// (EBUSY, STATUS_USER_MAPPED_FILE) and leaves no open behind: the kernel
/// never sees the handle, so nothing would ever release it.
#[test]
fn a_refused_truncating_create_leaves_no_open() {
    let (mm, v, dir) = setup();
    std::fs::write(dir.join("m"), vec![7u8; 64 << 10]).unwrap();
    let rw = crate::mm::base::protection::Protection::READWRITE;
    mm.create_section("m", 0, Some("m"), rw, false).unwrap();
    let p = mm.create_process("p").unwrap();
    mm.map_view(p, "m", 0, 0, 0, rw).unwrap();
    let trunc = RW | libc::O_TRUNC;
    let e = v.create(&mm, FILES_INO, os("m"), 0o644, trunc, me());
    assert_eq!(e.unwrap_err(), Errno::EBUSY);
    let opens: u64 = mm.cache_files().iter().map(|f| f.open_count).sum();
    assert_eq!(opens, 0, "the cache's open was closed again");
    assert_eq!(std::fs::metadata(dir.join("m")).unwrap().len(), 64 << 10);
}
