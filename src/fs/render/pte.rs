//! `processes/<name>/pte/<VA>`: the `!pte` view of one address, as the core
//! reports it (levels, states and flags arrive decoded; the words and the
//! explanations are written here).

use super::{KeyValue, hex, pfn_width, pte_width, va_width};
use crate::mm::base::types::{Arch, Pid};
use crate::mm::inspect::{
    EmptyPte, EmptyReason, PagedOutTable, PteDetail, PteFlags, SharedEntry, VadDecides,
};
use crate::mm::{Mm, MmResult};

/// `Pxe`, `Ppe`, `Pde` or `Pte`: a level's key prefix.
fn level_key(name: &str) -> &'static str {
    match name {
        "PXE" => "Pxe",
        "PPE" => "Ppe",
        "PDE" => "Pde",
        _ => "Pte",
    }
}

/// A valid PTE's flags as letters, `-` where clear: W(rite) U(ser) A(ccessed)
/// D(irty) C(opy-on-write) X (no-execute). The `Flags` key; scripts read it,
/// so it keeps this meaning (`WinDbgFlags` is the debugger's form).
fn valid_flags(f: &PteFlags) -> String {
    [
        (f.write, 'W'),
        (f.owner, 'U'),
        (f.accessed, 'A'),
        (f.dirty, 'D'),
        (f.copy_on_write, 'C'),
        (f.no_execute, 'X'),
    ]
    .iter()
    .map(|&(on, c)| if on { c } else { '-' })
    .collect()
}

/// A valid entry's flags as WinDbg's `!pte` prints them after the PFN: eleven
/// letters, from the left C (copy-on-write, bit 9), G (global, bit 8), L
/// (large page, bit 7), D (dirty, bit 6), A (accessed, bit 5), N (cache
/// disabled, PCD, bit 4), T (write-through, PWT, bit 3), U or K (owner: user
/// or kernel, bit 2), W or R (writable or read-only: the hardware bit 1 or
/// the multiprocessor kernels' software write bit 11), E or - (executable:
/// no NX bit 63; always E on x86 without PAE, which has no NX), V (valid).
/// A clear flag is `-` (except U/K and W/R).
///
/// Letters and order from the Debugging Tools for Windows documentation of
/// `!pte` (MicrosoftDocs/windows-driver-docs,
/// `windows-driver-docs-pr/debugger/-pte.md`: the status-bit table 0x200 C,
/// 0x100 G, 0x80 L, 0x40 D, 0x20 A, 0x10 N, 0x8 T, 0x4 U/K, 0x2 W/R, 0x1 V, and
/// E for executable), laid out as real x64 WinDbg sessions print them, for
/// example `pfn 1857f ---DA--UWEV` and `pfn 174a ----A--UREV` for a user
/// page table and a read-only code page, `-G-DA--UW-V` for a global
/// non-executable page (C first, E just before V). The documentation's own
/// x86 example, `G-DA--KWV`, is the older nine-letter form without C and E.
pub fn windbg_flags(f: &PteFlags) -> String {
    let f = *f;
    let bit = |on: bool, c: char| if on { c } else { '-' };
    [
        bit(f.copy_on_write, 'C'),
        bit(f.global, 'G'),
        bit(f.large_page, 'L'),
        bit(f.dirty, 'D'),
        bit(f.accessed, 'A'),
        bit(f.cache_disable, 'N'),
        bit(f.write_through, 'T'),
        if f.owner { 'U' } else { 'K' },
        if f.write || f.software_write {
            'W'
        } else {
            'R'
        },
        bit(!f.no_execute, 'E'),
        'V',
    ]
    .iter()
    .collect()
}

/// Why `State: none`, and what a touch does.
fn empty_explanation(e: &EmptyPte) -> String {
    let why = match e.reason {
        EmptyReason::NoPageTable { invalid_entry } => format!(
            "no page table maps this address yet: its {invalid_entry} is not valid \
             (page tables are made by the first touch that needs one)"
        ),
        EmptyReason::ZeroPte => {
            "the PTE is zero: nothing is recorded for this page yet".to_string()
        }
        EmptyReason::ZeroPteTablePagedOut => "the PTE its paged-out page table holds is zero: \
             nothing is recorded for this page yet"
            .to_string(),
    };
    let outcome = match e.vad_decides {
        VadDecides::NotAllocated => "no VAD covers it, so a touch is an access violation",
        VadDecides::Reserved => {
            "its VAD is reserved, not committed, so a touch is an access violation"
        }
        VadDecides::DemandZero => {
            "its VAD is committed, so the first touch gets a demand-zero page \
             (if the protection allows the access)"
        }
        VadDecides::View => {
            "its VAD is a view, so a touch finds the page through the section's \
             prototype PTE (PrototypePte)"
        }
    };
    format!("{why}; the VAD decides: {outcome}")
}

/// The paging levels of the running arch, and what is missing.
fn paging_levels(arch: Arch) -> &'static str {
    match arch {
        Arch::X86 => "PDE PTE (x86 without PAE: two levels; there is no PPE or PXE)",
        Arch::Pae => {
            "PPE PDE PTE (PAE: three levels; the PPE is an entry of the 4-entry page \
             directory pointer table; there is no PXE)"
        }
        Arch::X64 => "PXE PPE PDE PTE (x64: four levels)",
    }
}

/// Why a level's entry has no self-map address.
fn no_address_explanation(arch: Arch) -> &'static str {
    match arch {
        Arch::Pae => {
            "PAE's page directory pointer table (4 entries, pointed to by CR3) is in \
             the process object, not a page of the self-map, so its entry has no \
             virtual address; the value is read from it directly"
        }
        _ => "this level's entries are not mapped by the self-map",
    }
}

/// `pte/<VA>`. The keys up to `Vad` are the original view; everything after
/// is appended (scripts rely on the earlier keys).
pub fn pte_entry(mm: &Mm, pid: Pid, va: u64) -> MmResult<String> {
    let d = mm.pte_detail(pid, va)?;
    let (vw, tw) = (va_width(mm), pte_width(mm));
    let mut kv = KeyValue::new();
    kv.put("VirtualAddress", hex(d.va, vw));
    for l in &d.levels {
        let name = level_key(l.name);
        kv.put(
            &format!("{name}Address"),
            l.address.map_or("none".to_string(), |a| hex(a, vw)),
        );
        kv.put(&format!("{name}Value"), hex(l.raw, tw));
    }
    if let Some(shared) = d.shared_system_entry {
        kv.put(
            "SharedSystemEntry",
            match shared {
                SharedEntry::Owner => "owner (the System process's own tables)",
                SharedEntry::Copied => "copied from the System process",
                SharedEntry::NotYet => {
                    "not copied yet: the walk is the System process's, copied at the first touch"
                }
            },
        );
    }
    kv.put("State", d.state);
    if let Some(p) = d.pfn {
        kv.put("Pfn", hex(p.0 as u64, pfn_width(mm)));
    }
    if let Some((file, slot)) = d.pagefile {
        kv.put("PagingFile", file)
            .put("PagingFileOffset", hex(slot as u64 * 4096, 8));
    }
    kv.put(
        "Protection",
        d.protection.map_or("none".to_string(), |p| p.name()),
    );
    if let Some(f) = &d.valid_flags {
        kv.put("Flags", valid_flags(f));
    }
    if let Some((address, state)) = d.prototype {
        kv.put("PrototypePte", hex(address, vw))
            .put("PrototypeState", state);
    }
    match &d.vad {
        Some(v) => kv.put(
            "Vad",
            format_args!(
                "{}-{} {} {}",
                hex(v.start, vw),
                hex(v.end, vw),
                v.type_name,
                v.protection.name()
            ),
        ),
        None => kv.put("Vad", "none"),
    };
    appended_keys(mm, &d, &mut kv);
    Ok(kv.0)
}

/// The keys added after the original view: the address split, the physical
/// address, WinDbg's flags for every valid level, and the explanations.
fn appended_keys(mm: &Mm, d: &PteDetail, kv: &mut KeyValue) {
    let arch = mm.config().arch;
    kv.put("PagingLevels", paging_levels(arch));
    for (name, index) in &d.indexes {
        kv.put(&format!("{}Index", level_key(name)), hex(*index, 3));
    }
    kv.put("ByteOffset", hex(d.byte_offset, 3));
    if let Some(pa) = d.physical_address {
        kv.put("PhysicalAddress", hex(pa, 8));
    }
    if let Some(f) = &d.valid_flags {
        kv.put("WinDbgFlags", windbg_flags(f));
    }
    for l in d.levels.iter().filter(|l| l.name != "PTE") {
        if let Some(f) = &l.flags {
            kv.put(
                &format!("{}WinDbgFlags", level_key(l.name)),
                windbg_flags(f),
            );
        }
    }
    for l in d.levels.iter().filter(|l| l.address.is_none()) {
        kv.put(
            &format!("{}AddressExplanation", level_key(l.name)),
            no_address_explanation(arch),
        );
    }
    if let Some(e) = &d.empty {
        kv.put("StateExplanation", empty_explanation(e));
    }
    if let Some(t) = d.table_paged_out {
        kv.put("PageTable", paged_out_table(mm, t));
    }
    if d.large_page {
        kv.put("LargePage", "yes").put(
            "LargePageExplanation",
            "the PDE maps a large page (MEM_LARGE_PAGES) with no page table below it; \
             the frame is the PDE's first frame plus this page's index in the large page",
        );
    }
}

/// `PageTable:` for a paged-out page table (the PTE shown is the one it holds).
fn paged_out_table(mm: &Mm, t: PagedOutTable) -> String {
    match t {
        PagedOutTable::Transition { pfn } => format!(
            "paged out: its frame {} is on a list (the PDE is a transition PTE); \
             a touch brings it back by a soft fault",
            hex(pfn.0 as u64, pfn_width(mm))
        ),
        PagedOutTable::PagingFile { file, slot } => format!(
            "paged out: in paging file {file} at offset {} (the PDE is a paging-file PTE); \
             a touch reads it back by a hard fault",
            hex(slot as u64 * 4096, 8)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::protection::Protection;
    use crate::mm::vad::AllocRequest;

    fn keys(text: &str) -> Vec<&str> {
        text.lines().map(|l| l.split(':').next().unwrap()).collect()
    }

    fn value<'a>(text: &'a str, key: &str) -> &'a str {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
    }

    /// The original keys come first, in their order; the new ones follow.
    #[test]
    fn pte_file_appends_its_new_keys() {
        for arch in [Arch::X86, Arch::Pae, Arch::X64] {
            let mm = Mm::new(MmConfig::for_tests(16 << 20, arch)).unwrap();
            let pid = mm.create_process("app").unwrap();
            let mut r = AllocRequest::new(0x10000, 0x10000, Protection::READWRITE);
            (r.reserve, r.commit) = (true, true);
            mm.allocate(pid, &r).unwrap();
            mm.write_memory(pid, 0x10123, b"x").unwrap();
            let text = pte_entry(&mm, pid, 0x10123).unwrap();
            let k = keys(&text);
            let vad = k.iter().position(|&k| k == "Vad").unwrap();
            let levels = match arch {
                Arch::X86 => vec!["Pde", "Pte"],
                Arch::Pae => vec!["Ppe", "Pde", "Pte"],
                Arch::X64 => vec!["Pxe", "Ppe", "Pde", "Pte"],
            };
            let mut original = vec!["VirtualAddress".to_string()];
            for l in &levels {
                original.push(format!("{l}Address"));
                original.push(format!("{l}Value"));
            }
            for key in ["State", "Pfn", "Protection", "Flags", "Vad"] {
                original.push(key.to_string());
            }
            assert_eq!(k[..=vad], original, "{arch:?}:\n{text}");
            let mut appended = vec!["PagingLevels".to_string()];
            appended.extend(levels.iter().map(|l| format!("{l}Index")));
            appended.extend(["ByteOffset", "PhysicalAddress", "WinDbgFlags"].map(String::from));
            appended.extend(
                levels[..levels.len() - 1]
                    .iter()
                    .map(|l| format!("{l}WinDbgFlags")),
            );
            if arch == Arch::Pae {
                appended.push("PpeAddressExplanation".to_string());
            }
            assert_eq!(k[vad + 1..], appended, "{arch:?}:\n{text}");
            assert_eq!(value(&text, "PteIndex"), "0x010");
            assert_eq!(value(&text, "ByteOffset"), "0x123");
            let pfn = u64::from_str_radix(&value(&text, "Pfn")[2..], 16).unwrap();
            assert_eq!(value(&text, "PhysicalAddress"), hex(pfn * 4096 + 0x123, 8));
            let e = if arch == Arch::X86 { 'E' } else { '-' };
            assert_eq!(value(&text, "WinDbgFlags"), format!("---DA--UW{e}V"));
            assert_eq!(value(&text, "Flags").len(), 6, "Flags keeps its form");
            // State none: one more line says why.
            let none = pte_entry(&mm, pid, 0x11000).unwrap();
            assert_eq!(value(&none, "State"), "none");
            assert!(value(&none, "StateExplanation").contains("demand-zero"));
            assert_eq!(keys(&none).last(), Some(&"StateExplanation"));
        }
    }

    fn flags() -> PteFlags {
        PteFlags {
            write: false,
            owner: false,
            accessed: false,
            dirty: false,
            copy_on_write: false,
            no_execute: false,
            software_write: false,
            write_through: false,
            cache_disable: false,
            large_page: false,
            global: false,
        }
    }

    /// The letters WinDbg prints for the entries of real x64 sessions.
    #[test]
    fn windbg_letters_match_real_output() {
        // A user page table (0x...867): valid, write, user, accessed, dirty.
        let table = PteFlags {
            write: true,
            owner: true,
            accessed: true,
            dirty: true,
            ..flags()
        };
        assert_eq!(windbg_flags(&table), "---DA--UWEV");
        // A read-only code page (0x...025).
        let code = PteFlags {
            owner: true,
            accessed: true,
            ..flags()
        };
        assert_eq!(windbg_flags(&code), "----A--UREV");
        // A global, non-executable kernel data page.
        let data = PteFlags {
            global: true,
            dirty: true,
            accessed: true,
            write: true,
            no_execute: true,
            ..flags()
        };
        assert_eq!(windbg_flags(&data), "-G-DA--KW-V");
        // Every flag set: the order, left to right.
        let all = PteFlags {
            write: true,
            owner: true,
            accessed: true,
            dirty: true,
            copy_on_write: true,
            no_execute: false,
            software_write: true,
            write_through: true,
            cache_disable: true,
            large_page: true,
            global: true,
        };
        assert_eq!(windbg_flags(&all), "CGLDANTUWEV");
        // The MP kernels' software write bit alone still shows W.
        let sw = PteFlags {
            software_write: true,
            ..flags()
        };
        assert_eq!(windbg_flags(&sw), "-------KWEV");
    }

    #[test]
    fn flags_key_keeps_its_meaning() {
        let cow = PteFlags {
            owner: true,
            accessed: true,
            copy_on_write: true,
            ..flags()
        };
        assert_eq!(valid_flags(&cow), "-UA-C-");
    }

    #[test]
    fn explanations_name_the_reason_and_the_outcome() {
        let e = EmptyPte {
            reason: EmptyReason::NoPageTable {
                invalid_entry: "PDE",
            },
            vad_decides: VadDecides::DemandZero,
        };
        let text = empty_explanation(&e);
        assert!(text.contains("its PDE is not valid"), "{text}");
        assert!(text.contains("demand-zero"), "{text}");
        let e = EmptyPte {
            reason: EmptyReason::ZeroPte,
            vad_decides: VadDecides::NotAllocated,
        };
        let text = empty_explanation(&e);
        assert!(text.starts_with("the PTE is zero"), "{text}");
        assert!(text.contains("access violation"), "{text}");
        assert!(paging_levels(Arch::X86).contains("no PPE or PXE"));
        assert!(no_address_explanation(Arch::Pae).contains("not a page of the self-map"));
    }
}
