//! NT's 5-bit page protection (MM_PROTECTION), as kept in invalid PTEs, VADs and WSLEs.
//!
//! Codes and the Win32 mapping follow the Windows Research Kernel (Server 2003 SP1):
//! the low 3 bits pick the base protection, 0x08 adds NOCACHE, 0x10 adds GUARD.
//! Two combinations with base 0 have their own meaning: 0x10 alone is MM_DECOMMIT and
//! 0x18 is MM_NOACCESS (what PAGE_NOACCESS becomes).

use std::fmt;

use crate::mm::base::status::MmResult;

/// An MM_PROTECTION value; only the low 5 bits are ever set.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Protection(u8);

/// Win32 `PAGE_*` flag values (winnt.h).
pub mod win32 {
    pub const PAGE_NOACCESS: u32 = 0x01;
    pub const PAGE_READONLY: u32 = 0x02;
    pub const PAGE_READWRITE: u32 = 0x04;
    pub const PAGE_WRITECOPY: u32 = 0x08;
    pub const PAGE_EXECUTE: u32 = 0x10;
    pub const PAGE_EXECUTE_READ: u32 = 0x20;
    pub const PAGE_EXECUTE_READWRITE: u32 = 0x40;
    pub const PAGE_EXECUTE_WRITECOPY: u32 = 0x80;
    pub const PAGE_GUARD: u32 = 0x100;
    pub const PAGE_NOCACHE: u32 = 0x200;
    /// Every base protection bit.
    pub const BASE_MASK: u32 = 0xFF;
    /// Every bit NtAllocateVirtualMemory understands here.
    pub const VALID_MASK: u32 = BASE_MASK | PAGE_GUARD | PAGE_NOCACHE;
}

use win32::*;

/// Base protections in MM code order (index = code), with their command-language and
/// Win32 names and Win32 flag. Code 0 has no Win32 equivalent.
const BASES: [(&str, &str, u32); 8] = [
    ("zero-access", "", 0),
    ("readonly", "PAGE_READONLY", PAGE_READONLY),
    ("execute", "PAGE_EXECUTE", PAGE_EXECUTE),
    ("execute-read", "PAGE_EXECUTE_READ", PAGE_EXECUTE_READ),
    ("readwrite", "PAGE_READWRITE", PAGE_READWRITE),
    ("writecopy", "PAGE_WRITECOPY", PAGE_WRITECOPY),
    (
        "execute-readwrite",
        "PAGE_EXECUTE_READWRITE",
        PAGE_EXECUTE_READWRITE,
    ),
    (
        "execute-writecopy",
        "PAGE_EXECUTE_WRITECOPY",
        PAGE_EXECUTE_WRITECOPY,
    ),
];

impl Protection {
    pub const ZERO_ACCESS: Protection = Protection(0);
    pub const READONLY: Protection = Protection(1);
    pub const EXECUTE: Protection = Protection(2);
    pub const EXECUTE_READ: Protection = Protection(3);
    pub const READWRITE: Protection = Protection(4);
    pub const WRITECOPY: Protection = Protection(5);
    pub const EXECUTE_READWRITE: Protection = Protection(6);
    pub const EXECUTE_WRITECOPY: Protection = Protection(7);
    /// Modifier bit: caching disabled (MM_NOCACHE).
    pub const NOCACHE_BIT: u8 = 0x08;
    /// Modifier bit: one-shot guard page (MM_GUARD_PAGE).
    pub const GUARD_BIT: u8 = 0x10;
    /// MM_NOCACHE on its own.
    pub const NOCACHE: Protection = Protection(Self::NOCACHE_BIT);
    /// MM_GUARD_PAGE on its own, which is the same value as MM_DECOMMIT.
    pub const GUARD: Protection = Protection(Self::GUARD_BIT);
    /// MM_DECOMMIT: the page was committed once and is now decommitted.
    pub const DECOMMIT: Protection = Protection(0x10);
    /// MM_NOACCESS: what PAGE_NOACCESS becomes.
    pub const NOACCESS: Protection = Protection(0x18);

    /// Any byte, keeping only the 5 bits NT stores.
    pub const fn from_raw(raw: u8) -> Protection {
        Protection(raw & 0x1F)
    }

    pub const fn raw(self) -> u8 {
        self.0
    }

    /// The base protection (low 3 bits), without NOCACHE/GUARD.
    pub const fn base(self) -> Protection {
        Protection(self.0 & 7)
    }

    pub const fn is_guard(self) -> bool {
        self.0 & Self::GUARD_BIT != 0 && self.0 & 7 != 0
    }

    pub const fn is_nocache(self) -> bool {
        self.0 & Self::NOCACHE_BIT != 0 && self.0 & 7 != 0
    }

    pub const fn is_noaccess(self) -> bool {
        self.0 == Self::NOACCESS.0
    }

    pub const fn is_decommit(self) -> bool {
        self.0 == Self::DECOMMIT.0
    }

    /// Readable. These predicates describe the base protection only: a guard page must be
    /// caught with [`is_guard`](Self::is_guard) first. PAGE_EXECUTE counts: NT's access check (the WRK MmReadWrite table) lets
    /// execute-only pages be read, since pre-NX x86 hardware cannot tell the two apart.
    pub const fn allows_read(self) -> bool {
        self.0 & 7 != 0
    }

    /// Writable, directly or by copy-on-write.
    pub const fn allows_write(self) -> bool {
        self.0 & 7 >= 4
    }

    pub const fn allows_execute(self) -> bool {
        matches!(self.0 & 7, 2 | 3 | 6 | 7)
    }

    pub const fn is_copy_on_write(self) -> bool {
        matches!(self.0 & 7, 5 | 7)
    }

    /// The same protection with the GUARD modifier set or cleared. Base 0 is left alone:
    /// there 0x10 means decommitted, not guarded.
    pub const fn with_guard(self, guard: bool) -> Protection {
        if self.0 & 7 == 0 {
            self
        } else if guard {
            Protection(self.0 | Self::GUARD_BIT)
        } else {
            Protection(self.0 & !Self::GUARD_BIT)
        }
    }

    /// Converts Win32 `PAGE_*` flags the way NtAllocateVirtualMemory / NtProtectVirtualMemory
    /// validate them (MiMakeProtectionMask in the WRK).
    pub fn from_win32(page_flags: u32) -> MmResult<Protection> {
        let unknown = page_flags & !VALID_MASK;
        if unknown != 0 {
            return Err(mm_err!(
                INVALID_PAGE_PROTECTION,
                "page protection {page_flags:#x} has bits {unknown:#x} that are not PAGE_* flags"
            ));
        }
        let base = page_flags & BASE_MASK;
        if base.count_ones() != 1 {
            return Err(mm_err!(
                INVALID_PAGE_PROTECTION,
                "page protection {page_flags:#x} must contain exactly one base protection \
                 (PAGE_NOACCESS, PAGE_READONLY, ...), it has {}",
                base.count_ones()
            ));
        }
        let guard = page_flags & PAGE_GUARD != 0;
        let nocache = page_flags & PAGE_NOCACHE != 0;
        if base == PAGE_NOACCESS {
            if guard {
                return Err(mm_err!(
                    INVALID_PAGE_PROTECTION,
                    "PAGE_GUARD cannot be combined with PAGE_NOACCESS"
                ));
            }
            if nocache {
                return Err(mm_err!(
                    INVALID_PAGE_PROTECTION,
                    "PAGE_NOCACHE cannot be combined with PAGE_NOACCESS"
                ));
            }
            return Ok(Protection::NOACCESS);
        }
        if guard && nocache {
            return Err(mm_err!(
                INVALID_PAGE_PROTECTION,
                "PAGE_GUARD cannot be combined with PAGE_NOCACHE"
            ));
        }
        let code = BASES
            .iter()
            .position(|&(_, _, flag)| flag == base)
            .unwrap_or(0) as u8;
        let mut raw = code;
        if guard {
            raw |= Self::GUARD_BIT;
        }
        if nocache {
            raw |= Self::NOCACHE_BIT;
        }
        Ok(Protection(raw))
    }

    /// The Win32 flags for this protection. Values Win32 cannot express (zero-access,
    /// decommit, base 0 with NOCACHE) give 0.
    pub fn to_win32(self) -> u32 {
        if self.is_noaccess() {
            return PAGE_NOACCESS;
        }
        let base = BASES[(self.0 & 7) as usize].2;
        if base == 0 {
            return 0;
        }
        let mut flags = base;
        if self.is_guard() {
            flags |= PAGE_GUARD;
        }
        if self.is_nocache() {
            flags |= PAGE_NOCACHE;
        }
        flags
    }

    /// Parses the command language's protection syntax: a base name (`readwrite`,
    /// `execute-read`, `PAGE_READWRITE`, ...) or a number (`0x04`), optionally joined with
    /// `+` or `|` to `guard` / `nocache` (or `PAGE_GUARD` / `PAGE_NOCACHE`), any case.
    pub fn parse(s: &str) -> MmResult<Protection> {
        let bad = |why: String| {
            mm_err!(
                INVALID_PAGE_PROTECTION,
                "'{s}' is not a page protection: {why}"
            )
        };
        let mut flags = 0u32;
        for token in s.split(['+', '|']) {
            let token = token.trim();
            if token.is_empty() {
                return Err(bad("it has an empty part".into()));
            }
            let bits = token_flags(token).ok_or_else(|| bad(format!("unknown word '{token}'")))?;
            if flags & bits != 0 {
                return Err(bad(format!("'{token}' repeats a flag already given")));
            }
            flags |= bits;
        }
        Protection::from_win32(flags).map_err(|e| bad(e.message))
    }

    /// The canonical command-language spelling, e.g. `readwrite+guard`, `noaccess`,
    /// `decommit`. `parse(name())` gives the value back whenever Win32 can express it.
    pub fn name(self) -> String {
        self.name_parts().concat()
    }

    /// `name` in three pieces to append one after another, no allocation
    /// (a streamed `ptes` listing names a protection per row): the base,
    /// then `+guard` and `+nocache` or empty strings.
    pub fn name_parts(self) -> [&'static str; 3] {
        if self.is_noaccess() {
            return ["noaccess", "", ""];
        }
        if self.is_decommit() {
            return ["decommit", "", ""];
        }
        [
            BASES[(self.0 & 7) as usize].0,
            if self.0 & Self::GUARD_BIT != 0 {
                "+guard"
            } else {
                ""
            },
            if self.0 & Self::NOCACHE_BIT != 0 {
                "+nocache"
            } else {
                ""
            },
        ]
    }

    /// The copy-on-write form of a protection: what a fork's clone block
    /// grants (READWRITE → WRITECOPY), guard and no-cache kept.
    pub fn copy_on_write_form(self) -> Protection {
        let base = match self.base() {
            Protection::READWRITE => Protection::WRITECOPY,
            Protection::EXECUTE_READWRITE => Protection::EXECUTE_WRITECOPY,
            other => other,
        };
        Protection::from_raw(
            base.raw() | (self.raw() & (Protection::GUARD_BIT | Protection::NOCACHE_BIT)),
        )
    }

    /// The writable form a copy-on-write page gets once copied (WRITECOPY →
    /// READWRITE), no-cache kept.
    pub fn written_form(self) -> Protection {
        let base = match self.base() {
            Protection::WRITECOPY => Protection::READWRITE,
            Protection::EXECUTE_WRITECOPY => Protection::EXECUTE_READWRITE,
            other => other,
        };
        Protection::from_raw(base.raw() | (self.raw() & Protection::NOCACHE_BIT))
    }

    /// Whether a view with this protection may be mapped from a section created
    /// with `section` (NT's MiIsProtectionCompatible): shared write needs a
    /// writable section, execute an executable one; copy-on-write and read-only
    /// views only need read access, and no-access views are always allowed.
    pub fn compatible_with_section(self, section: Protection) -> bool {
        let v = self.base();
        if v.is_noaccess() {
            return true;
        }
        let s = section.base();
        let shared_write = v.allows_write() && !v.is_copy_on_write();
        let section_shared_write = s.allows_write() && !s.is_copy_on_write();
        (!shared_write || section_shared_write)
            && (!v.allows_execute() || s.allows_execute())
            && (!v.allows_read() || s.allows_read())
    }
}

/// Win32 flags named by one token of the command language.
fn token_flags(token: &str) -> Option<u32> {
    let lower = token.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).ok();
    }
    if lower.bytes().all(|b| b.is_ascii_digit()) {
        return lower.parse().ok();
    }
    let word = lower
        .strip_prefix("page_")
        .or_else(|| lower.strip_prefix("page-"))
        .unwrap_or(&lower)
        .replace('_', "-");
    match word.as_str() {
        "noaccess" => Some(PAGE_NOACCESS),
        "guard" => Some(PAGE_GUARD),
        "nocache" => Some(PAGE_NOCACHE),
        _ => BASES
            .iter()
            .skip(1)
            .find(|&&(name, _, _)| name == word)
            .map(|&(_, _, flag)| flag),
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::status::NtStatus;

    #[test]
    fn win32_to_mm_follows_nt() {
        let cases = [
            (PAGE_NOACCESS, 0x18),
            (PAGE_READONLY, 1),
            (PAGE_EXECUTE, 2),
            (PAGE_EXECUTE_READ, 3),
            (PAGE_READWRITE, 4),
            (PAGE_WRITECOPY, 5),
            (PAGE_EXECUTE_READWRITE, 6),
            (PAGE_EXECUTE_WRITECOPY, 7),
            (PAGE_READWRITE | PAGE_GUARD, 0x14),
            (PAGE_READONLY | PAGE_NOCACHE, 0x09),
        ];
        for (flags, raw) in cases {
            let p = Protection::from_win32(flags).unwrap();
            assert_eq!(p.raw(), raw, "flags {flags:#x}");
            assert_eq!(p.to_win32(), flags);
        }
    }

    #[test]
    fn invalid_win32_combinations_are_rejected() {
        let bad = [
            0,
            PAGE_GUARD,
            PAGE_READONLY | PAGE_READWRITE,
            PAGE_NOACCESS | PAGE_GUARD,
            PAGE_NOACCESS | PAGE_NOCACHE,
            PAGE_READWRITE | PAGE_GUARD | PAGE_NOCACHE,
            PAGE_READWRITE | 0x400,
            0x8000_0000,
        ];
        for flags in bad {
            let e = Protection::from_win32(flags).unwrap_err();
            assert_eq!(e.status, NtStatus::INVALID_PAGE_PROTECTION);
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn every_win32_flag_combination_round_trips_or_fails_cleanly() {
        for flags in 0..0x400u32 {
            if let Ok(p) = Protection::from_win32(flags) {
                assert_eq!(p.to_win32(), flags);
                assert_eq!(Protection::parse(&p.name()).unwrap(), p);
                assert_eq!(Protection::parse(&format!("{flags:#x}")).unwrap(), p);
            }
        }
    }

    #[test]
    fn parse_accepts_the_command_language() {
        let rw = Protection::READWRITE;
        let rwg = rw.with_guard(true);
        assert_eq!(Protection::parse("readwrite").unwrap(), rw);
        assert_eq!(Protection::parse("ReadWrite").unwrap(), rw);
        assert_eq!(Protection::parse("PAGE_READWRITE").unwrap(), rw);
        assert_eq!(Protection::parse("0x04").unwrap(), rw);
        assert_eq!(Protection::parse("4").unwrap(), rw);
        assert_eq!(Protection::parse("readwrite+guard").unwrap(), rwg);
        assert_eq!(Protection::parse("guard+readwrite").unwrap(), rwg);
        assert_eq!(Protection::parse("PAGE_READWRITE+PAGE_GUARD").unwrap(), rwg);
        assert_eq!(Protection::parse("PAGE_READWRITE|PAGE_GUARD").unwrap(), rwg);
        assert_eq!(Protection::parse("0x104").unwrap(), rwg);
        assert_eq!(
            Protection::parse("nocache+execute-read").unwrap().raw(),
            0x0B
        );
        assert_eq!(
            Protection::parse("PAGE_EXECUTE_WRITECOPY").unwrap(),
            Protection::EXECUTE_WRITECOPY
        );
        assert_eq!(Protection::parse("noaccess").unwrap(), Protection::NOACCESS);
    }

    #[test]
    fn parse_errors_name_the_input() {
        for s in [
            "",
            "bogus",
            "readwrite+",
            "guard",
            "readwrite+guard+guard",
            "readwrite+readonly",
            "noaccess+guard",
            "readwrite+guard+nocache",
            "0xzz",
            "zero-access",
            "decommit",
        ] {
            let e = Protection::parse(s).unwrap_err();
            assert_eq!(e.status, NtStatus::INVALID_PAGE_PROTECTION, "{s}");
            assert!(e.message.contains(&format!("'{s}'")), "{}", e.message);
        }
    }

    #[test]
    fn names() {
        assert_eq!(Protection::NOACCESS.name(), "noaccess");
        assert_eq!(Protection::DECOMMIT.name(), "decommit");
        assert_eq!(Protection::ZERO_ACCESS.name(), "zero-access");
        assert_eq!(
            Protection::READWRITE.with_guard(true).name(),
            "readwrite+guard"
        );
        assert_eq!(Protection::from_raw(0x0C).name(), "readwrite+nocache");
        assert_eq!(
            Protection::from_raw(0x1C).to_string(),
            "readwrite+guard+nocache"
        );
    }

    #[test]
    fn predicates() {
        let p = |r| Protection::from_raw(r);
        assert!(p(1).allows_read() && !p(1).allows_write() && !p(1).allows_execute());
        assert!(p(2).allows_execute() && p(2).allows_read() && !p(2).allows_write());
        assert!(p(4).allows_write() && !p(4).is_copy_on_write());
        assert!(p(5).allows_write() && p(5).is_copy_on_write() && !p(5).allows_execute());
        assert!(p(6).allows_write() && p(6).allows_execute());
        assert!(p(7).is_copy_on_write() && p(7).allows_execute());
        for none in [0, 0x08, 0x10, 0x18] {
            let q = p(none);
            assert!(!q.allows_read() && !q.allows_write() && !q.allows_execute());
            assert!(!q.is_guard() && !q.is_nocache());
        }
        assert!(p(0x18).is_noaccess() && !p(0x10).is_noaccess());
        assert!(p(0x10).is_decommit() && !p(0x14).is_decommit());
        assert!(p(0x14).is_guard() && p(0x14).base() == Protection::READWRITE);
        assert!(p(0x0C).is_nocache());
        assert_eq!(p(0x14).with_guard(false), Protection::READWRITE);
        assert_eq!(
            Protection::ZERO_ACCESS.with_guard(true),
            Protection::ZERO_ACCESS
        );
        assert_eq!(Protection::from_raw(0xFF).raw(), 0x1F);
    }
}
