//! The `fs_paths` target: the input is a path. It is split on `/` and walked from
//! the root with [`node::lookup`] as the kernel would walk it (`.` stays, `..`
//! goes up, `pids/<pid>` links are followed), and every generated file reached
//! is rendered with the function `open` uses. The directory the walk ends in is
//! listed, every listed name must resolve to the same node, and its generated
//! files are rendered too.

use std::sync::OnceLock;

use super::Fixture;
use crate::fs::node::{self, Dir, File, FileClass, Node};
use crate::fs::render;
use crate::mm::base::types::Arch;
use crate::mm::{Mm, NtStatus};

/// Links followed before giving up, as the kernel's ELOOP limit would.
const MAX_LINKS: usize = 8;

/// Walking and rendering change nothing, so every input shares one machine
/// (with pages in every state: written, trimmed, paged out, shared).
pub(super) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let f = Fixture::new(Arch::X86);
        let mm = &f.mm;
        let fill = |va: u64, len: usize, byte: u8| {
            mm.write_memory(f.app, va, &vec![byte; len])
                .expect("fixture write");
        };
        fill(super::PRIVATE_BASE, 0x8000, 0x5a);
        fill(super::SHM_BASE, 0x3000, 0xa5);
        let mut buf = [0u8; 16];
        mm.read_memory(f.app, super::FILE_VIEW_BASE, &mut buf)
            .expect("fixture read");
        mm.trim(f.app).expect("fixture trim");
        mm.flush_modified();
        fill(super::PRIVATE_BASE + 0x2000, 0x1000, 0x33);
        // A static is never dropped, so its state directory would outlive every
        // run. The machine holds its files open and opens none later (walking
        // and rendering do no I/O), so the directory goes now.
        let _ = std::fs::remove_dir_all(&mm.config().state_dir);
        f
    })
}

pub fn fs_paths(data: &[u8]) {
    let f = fixture();
    walk(&f.mm, data);
}

/// Walks `path` from the root; see the module comment.
pub fn walk(mm: &Mm, path: &[u8]) {
    // Components still to walk, the next one last.
    let mut todo: Vec<Vec<u8>> = path
        .split(|&b| b == b'/')
        .rev()
        .map(<[u8]>::to_vec)
        .collect();
    let mut links = 0;
    let mut dir = Dir::Root;
    while let Some(component) = todo.pop() {
        // The kernel hands FUSE names as bytes; mmfs answers ENOENT for any
        // name that is not UTF-8.
        let Ok(name) = std::str::from_utf8(&component) else {
            return;
        };
        match name {
            "" | "." => continue,
            ".." => {
                dir = node::parent(dir);
                continue;
            }
            _ => {}
        }
        match node::lookup(mm, dir, name) {
            None => return,
            Some(Node::Dir(d)) => {
                assert_eq!(node::parent(d), dir, "{name} is not a child of {dir:?}");
                dir = d;
            }
            // The volume is the host's directory tree (fs/volume), not this one.
            Some(Node::Volume) => return,
            Some(Node::File(file)) => {
                render_file(mm, file);
                // A further component is ENOTDIR.
                return;
            }
            Some(link @ Node::PidLink(_)) => {
                if links == MAX_LINKS {
                    return;
                }
                links += 1;
                let target = node::readlink(mm, link)
                    .unwrap_or_else(|| panic!("pids/{name} resolves but has no target"));
                // Relative to the link's directory, `pids/`.
                todo.extend(
                    target
                        .as_bytes()
                        .split(|&b| b == b'/')
                        .rev()
                        .map(<[u8]>::to_vec),
                );
            }
        }
    }
    for (name, found) in node::list(mm, dir) {
        assert_eq!(
            node::lookup(mm, dir, &name),
            Some(found),
            "{dir:?}/{name} is listed but does not resolve to itself"
        );
        if let Node::File(file) = found {
            render_file(mm, file);
        }
    }
}

/// Renders a file as `open` would; an error must be a real status.
fn render_file(mm: &Mm, file: File) {
    if file.class() != FileClass::Generated {
        return;
    }
    match render::render(mm, file) {
        // Text ends its last line; pfn/map.png is the one binary file.
        Ok(bytes) => assert!(
            bytes.is_empty() || bytes.ends_with(b"\n") || file == File::PfnMap,
            "{file:?} does not end its last line"
        ),
        Err(e) => {
            assert_ne!(e.status, NtStatus::SUCCESS, "{file:?}: {}", e.message);
            let _ = crate::fs::errno::errno_for(e.status);
        }
    }
}
