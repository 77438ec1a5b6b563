//! Commands of `sections/control` (NtCreateSection) and `sections/<name>/control`
//! (NtExtendSection and the modified-write switch).

use super::args::parse_size;
use super::{Outcome, Words, no_options, unknown_verb};
use crate::mm::base::protection::Protection;
use crate::mm::section::MAX_SECTION_NAME;
use crate::mm::segment::ControlAreaId;
use crate::mm::{Mm, MmError};
use crate::mm_err;

const SECTIONS_KNOWN: &str = "create NAME SIZE [file=PATH] [prot=PROT] [image], help";
const SECTION_KNOWN: &str = "extend SIZE, no-write, allow-write, help";
const CREATE_USAGE: &str = "usage: create NAME SIZE [file=PATH] [prot=PROT] [image]";

/// Names `sections/` already uses for its own files: a section called so would
/// be hidden behind them.
const RESERVED: [&str; 2] = ["README", "control"];

/// A section as the tree names it: its name, kept inline so the key is `Copy`
/// (names are at most [`MAX_SECTION_NAME`] bytes), and its control area, which
/// tells a section from a later one created under the same name (control area
/// ids are never reused), so a stale directory or control file goes ENOENT
/// instead of reaching the new section.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SectionKey {
    len: u8,
    name: [u8; MAX_SECTION_NAME],
    pub control_area: ControlAreaId,
}

impl SectionKey {
    /// A key for `name`; `None` if the name is too long to be a section's.
    pub fn new(name: &str, control_area: ControlAreaId) -> Option<SectionKey> {
        let bytes = name.as_bytes();
        if bytes.len() > MAX_SECTION_NAME {
            return None;
        }
        let mut key = SectionKey {
            len: bytes.len() as u8,
            name: [0; MAX_SECTION_NAME],
            control_area,
        };
        key.name[..bytes.len()].copy_from_slice(bytes);
        Some(key)
    }

    /// The key of the live section called `name`.
    pub fn of(mm: &Mm, name: &str) -> Option<SectionKey> {
        mm.section(name)
            .and_then(|s| SectionKey::new(name, s.control_area))
    }

    pub fn name(&self) -> &str {
        // Built from a &str in `new`, so always valid UTF-8.
        std::str::from_utf8(&self.name[..self.len as usize]).unwrap_or("")
    }

    /// Whether the section this key names still exists under its name.
    pub fn is_live(&self, mm: &Mm) -> bool {
        mm.section(self.name())
            .is_some_and(|s| s.control_area == self.control_area)
    }
}

impl std::fmt::Debug for SectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SectionKey({:?}, ca {})", self.name(), self.control_area)
    }
}

/// `sections/control`.
pub fn execute(mm: &Mm, w: &Words<'_>) -> Outcome {
    match w.verb {
        "create" => create(mm, w),
        "help" => {
            no_options(w)?;
            Ok(SECTIONS_KNOWN.to_string())
        }
        _ => Err(unknown_verb(w, "sections/control", SECTIONS_KNOWN)),
    }
}

/// `create NAME SIZE [file=PATH] [prot=PROT] [image]` — NtCreateSection. The
/// result is the name and the section's size in bytes (with `file=` and SIZE 0,
/// the file's size).
fn create(mm: &Mm, w: &Words<'_>) -> Outcome {
    let (name, size, flags) = match w.args.as_slice() {
        [name, size, flags @ ..] => (*name, *size, flags),
        _ => return Err(mm_err!(INVALID_PARAMETER, "{CREATE_USAGE}")),
    };
    let mut image = false;
    for flag in flags {
        match *flag {
            "image" | "sec_image" | "SEC_IMAGE" if !image => image = true,
            other => {
                return Err(mm_err!(
                    INVALID_PARAMETER,
                    "unexpected '{}'; {CREATE_USAGE}",
                    other.escape_default()
                ));
            }
        }
    }
    let (mut file, mut prot) = (None, None);
    for &(key, value) in &w.options {
        let slot = match key {
            "file" => &mut file,
            "prot" => &mut prot,
            _ => {
                return Err(mm_err!(
                    INVALID_PARAMETER,
                    "create takes file= and prot=, not '{}='",
                    key.escape_default()
                ));
            }
        };
        if slot.replace(value).is_some() {
            return Err(mm_err!(INVALID_PARAMETER, "{key}= is given twice"));
        }
    }
    if RESERVED.contains(&name) {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "'{name}' is the name of a file in sections/; choose another section name"
        ));
    }
    let size = parse_size(size).map_err(|e| mm_err!(INVALID_PARAMETER, "size: {e}"))?;
    let protection = match prot {
        Some(p) => Protection::parse(p)?,
        None => Protection::READWRITE,
    };
    let size = mm.create_section(name, size, file, protection, image)?;
    Ok(format!("{name} {size:#x}"))
}

/// `sections/<name>/control`.
pub fn execute_section(mm: &Mm, key: SectionKey, w: &Words<'_>) -> Outcome {
    no_options(w)?;
    let name = key.name();
    let live = || -> Result<(), MmError> {
        if key.is_live(mm) {
            Ok(())
        } else {
            Err(mm_err!(
                OBJECT_NAME_NOT_FOUND,
                "section {name} was deleted (this control file belongs to it)"
            ))
        }
    };
    match w.verb {
        // NtExtendSection: the result is the size in force afterwards.
        "extend" => match w.args.as_slice() {
            [s] => {
                let size = parse_size(s).map_err(|e| mm_err!(INVALID_PARAMETER, "size: {e}"))?;
                live()?;
                Ok(format!("{:#x}", mm.extend_section(name, size)?))
            }
            _ => Err(mm_err!(INVALID_PARAMETER, "usage: extend SIZE")),
        },
        // MmDisableModifiedWriteOfSection and its reverse: the result is the
        // number of pages moved between the modified-no-write and modified lists.
        "no-write" | "allow-write" => {
            if !w.args.is_empty() {
                return Err(mm_err!(
                    INVALID_PARAMETER,
                    "usage: {} (no arguments)",
                    w.verb
                ));
            }
            live()?;
            let pages = mm.set_section_modified_write(name, w.verb == "allow-write")?;
            Ok(pages.to_string())
        }
        "help" => Ok(SECTION_KNOWN.to_string()),
        _ => Err(unknown_verb(w, "sections/<name>/control", SECTION_KNOWN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Target, execute as run};
    use crate::mm::NtStatus;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    fn mm() -> Mm {
        Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap()
    }

    fn err(m: &Mm, target: Target, line: &str) -> MmError {
        run(m, target, line.as_bytes()).unwrap().expect_err(line)
    }

    #[test]
    fn keys_hold_the_name_inline() {
        let k = SectionKey::new("shared.1", ControlAreaId(7)).unwrap();
        assert_eq!(k.name(), "shared.1");
        assert_eq!(k.control_area, ControlAreaId(7));
        assert_ne!(k, SectionKey::new("shared.1", ControlAreaId(8)).unwrap());
        let longest = "x".repeat(MAX_SECTION_NAME);
        assert_eq!(
            SectionKey::new(&longest, ControlAreaId(1)).unwrap().name(),
            longest
        );
        assert!(SectionKey::new(&format!("{longest}x"), ControlAreaId(1)).is_none());
    }

    #[test]
    fn create_with_defaults_and_options() {
        let m = mm();
        let ok = run(&m, Target::Sections, b"create shm 64K")
            .unwrap()
            .unwrap();
        assert_eq!(ok, "shm 0x10000");
        let s = m.section("shm").unwrap();
        assert_eq!(s.protection, Protection::READWRITE);
        assert_eq!(s.file, None);
        let ok = run(&m, Target::Sections, b"create ro 0x3000 prot=readonly")
            .unwrap()
            .unwrap();
        assert_eq!(ok, "ro 0x3000");
        assert_eq!(m.section("ro").unwrap().protection, Protection::READONLY);
        assert_eq!(m.section_names(), vec!["ro".to_string(), "shm".to_string()]);
    }

    #[test]
    fn bad_create_arguments_change_nothing() {
        let m = mm();
        run(&m, Target::Sections, b"create taken 4K")
            .unwrap()
            .unwrap();
        for (line, status, says) in [
            (
                "create",
                "STATUS_INVALID_PARAMETER",
                "usage: create NAME SIZE",
            ),
            (
                "create x",
                "STATUS_INVALID_PARAMETER",
                "usage: create NAME SIZE",
            ),
            (
                "create x 4Q",
                "STATUS_INVALID_PARAMETER",
                "size: '4Q' is not a size",
            ),
            ("create x -1", "STATUS_INVALID_PARAMETER", "size:"),
            (
                "create x 4K sideways",
                "STATUS_INVALID_PARAMETER",
                "unexpected 'sideways'",
            ),
            (
                "create x 4K image image",
                "STATUS_INVALID_PARAMETER",
                "unexpected 'image'",
            ),
            (
                "create x 4K colour=red",
                "STATUS_INVALID_PARAMETER",
                "not 'colour='",
            ),
            (
                "create x 4K prot=readonly prot=readwrite",
                "STATUS_INVALID_PARAMETER",
                "prot= is given twice",
            ),
            (
                "create x 4K prot=sparkly",
                "STATUS_INVALID_PAGE_PROTECTION",
                "",
            ),
            (
                "create x 4K prot=noaccess",
                "STATUS_INVALID_PAGE_PROTECTION",
                "",
            ),
            ("create x 0", "STATUS_INVALID_PARAMETER", "size above 0"),
            (
                "create x 4K image",
                "STATUS_INVALID_IMAGE_FORMAT",
                "SEC_IMAGE",
            ),
            ("create taken 4K", "STATUS_OBJECT_NAME_COLLISION", "taken"),
            (
                "create README 4K",
                "STATUS_OBJECT_NAME_INVALID",
                "file in sections/",
            ),
            (
                "create control 4K",
                "STATUS_OBJECT_NAME_INVALID",
                "file in sections/",
            ),
            ("create ../x 4K", "STATUS_OBJECT_NAME_INVALID", ""),
            (
                "create x 4K file=../etc/passwd",
                "STATUS_OBJECT_NAME_INVALID",
                "",
            ),
            (
                "create x 4K file=no-such-file.mmfs-test",
                "STATUS_OBJECT_NAME_NOT_FOUND",
                "no-such-file",
            ),
            (
                "make x 4K",
                "STATUS_INVALID_PARAMETER",
                "unknown command 'make'",
            ),
            ("help x=1", "STATUS_INVALID_PARAMETER", "takes no option"),
        ] {
            let e = err(&m, Target::Sections, line);
            assert_eq!(e.status.name(), status, "{line}: {}", e.message);
            assert!(e.message.contains(says), "{line}: {}", e.message);
        }
        assert_eq!(m.section_names(), vec!["taken".to_string()]);
    }

    #[test]
    fn section_control() {
        let m = mm();
        run(&m, Target::Sections, b"create shm 64K")
            .unwrap()
            .unwrap();
        let key = SectionKey::of(&m, "shm").unwrap();
        let t = Target::Section(key);
        let e = err(&m, t, "extend 128K");
        assert_eq!(e.status, NtStatus::SECTION_NOT_EXTENDED, "{}", e.message);
        assert!(e.message.contains("paging file"), "{}", e.message);
        assert_eq!(run(&m, t, b"no-write").unwrap().unwrap(), "0");
        assert_eq!(run(&m, t, b"allow-write").unwrap().unwrap(), "0");
        assert!(
            run(&m, t, b"help")
                .unwrap()
                .unwrap()
                .contains("extend SIZE")
        );
        for line in [
            "extend",
            "extend 1 2",
            "extend x",
            "no-write 1",
            "extend 4K a=b",
        ] {
            assert_eq!(
                err(&m, t, line).status,
                NtStatus::INVALID_PARAMETER,
                "{line}"
            );
        }
        let e = err(&m, t, "shrink 4K");
        assert!(
            e.message.contains("unknown command 'shrink'"),
            "{}",
            e.message
        );
        assert_eq!(m.section("shm").unwrap().size, 0x10000);

        // A control file outlives its section: it must not reach a new one of
        // the same name.
        m.delete_section("shm").unwrap();
        run(&m, Target::Sections, b"create shm 4K")
            .unwrap()
            .unwrap();
        assert!(!key.is_live(&m));
        let e = err(&m, t, "no-write");
        assert_eq!(e.status, NtStatus::OBJECT_NAME_NOT_FOUND, "{}", e.message);
        assert!(SectionKey::of(&m, "shm").unwrap().is_live(&m));
    }

    /// Found by the fuzzing tests: on x64, whose paged pool range is 128 GB,
    /// `create big 15T file=f` asked the host for 32 GB of prototype PTEs at once
    /// and the daemon aborted; `extend 1T` took half a minute and 2 GB. Paged pool
    /// is now sized from RAM as NT sizes it, so such sizes fail with
    /// STATUS_INSUFFICIENT_RESOURCES, and the file keeps its length.
    #[test]
    fn huge_file_sections_fail_instead_of_exhausting_the_host() {
        let files = tempfile::tempdir().unwrap();
        let mut config = MmConfig::for_tests(16 << 20, Arch::X64);
        config.files_dir = files.path().to_path_buf();
        let m = Mm::new(config).unwrap();
        let f = files.path().join("f");
        std::fs::write(&f, b"abc").unwrap();
        for line in ["create big 15T file=f", "create big 1T file=f"] {
            let e = err(&m, Target::Sections, line);
            assert_eq!(
                e.status,
                NtStatus::INSUFFICIENT_RESOURCES,
                "{line}: {}",
                e.message
            );
            assert!(e.message.contains("paged pool"), "{}", e.message);
            assert_eq!(
                std::fs::metadata(&f).unwrap().len(),
                3,
                "{line} grew the file"
            );
        }
        assert!(m.section_names().is_empty());
        // Within the pool (11.6 MB of it on 16 MB of RAM), a big section still works.
        let ok = run(&m, Target::Sections, b"create big 4G file=f")
            .unwrap()
            .unwrap();
        assert_eq!(ok, "big 0x100000000");
        let t = Target::Section(SectionKey::of(&m, "big").unwrap());
        for line in ["extend 15T", "extend 1T"] {
            let e = err(&m, t, line);
            assert_eq!(
                e.status,
                NtStatus::INSUFFICIENT_RESOURCES,
                "{line}: {}",
                e.message
            );
            assert_eq!(std::fs::metadata(&f).unwrap().len(), 4 << 30, "{line}");
        }
        assert_eq!(m.section("big").unwrap().size, 4 << 30);
        let report = m.verify();
        assert!(report.ok(), "{}", report.violations.join("\n"));
    }

    /// A file-backed section over a file in the --files volume grows with `extend`.
    #[test]
    fn file_backed_sections_extend() {
        let files = tempfile::tempdir().unwrap();
        let mut config = MmConfig::for_tests(16 << 20, Arch::X86);
        config.files_dir = files.path().to_path_buf();
        let m = Mm::new(config).unwrap();
        let dir = files.path();
        std::fs::write(dir.join("data.bin"), vec![7u8; 8192]).unwrap();
        let ok = run(&m, Target::Sections, b"create f 0 file=data.bin")
            .unwrap()
            .unwrap();
        assert_eq!(ok, "f 0x2000");
        let t = Target::Section(SectionKey::of(&m, "f").unwrap());
        assert_eq!(run(&m, t, b"extend 16K").unwrap().unwrap(), "0x4000");
        assert_eq!(run(&m, t, b"extend 4K").unwrap().unwrap(), "0x4000");
        assert_eq!(
            std::fs::metadata(dir.join("data.bin")).unwrap().len(),
            0x4000
        );
    }
}
