//! `kernel/sysptes` and `kernel/mdls/<id>`: the system PTE pool and one MDL,
//! as the core reports them.

use std::fmt::Write;

use super::{KeyValue, va_width};
use crate::mm::kernel::mdl::MDL_FLAG_NAMES;
use crate::mm::{Mm, MmResult};

/// `kernel/sysptes`: the counters, then `# address pages owner`.
pub fn sysptes(mm: &Mm) -> String {
    let info = mm.system_ptes();
    let mut kv = KeyValue::new();
    kv.put("TotalPtes", info.total)
        .put("FreePtes", info.free)
        .put("LargestFreeRun", info.largest_free_run)
        .put("Failures", info.failures);
    let mut out = kv.0;
    out.push_str("# address pages owner\n");
    let w = va_width(mm);
    for r in info.runs {
        // An owner is "kernel stack NAME" or "mdl N": one column, so the
        // spaces of the name become underscores.
        let owner = r
            .owner
            .replace(|c: char| c.is_whitespace() || c.is_control(), "_");
        let _ = writeln!(
            out,
            "{:#0width$x} {} {owner}",
            r.address.0,
            r.pages,
            width = w + 2
        );
    }
    out
}

/// `kernel/mdls/<id>`: the MDL's header, then its PFN array.
pub fn mdl(mm: &Mm, id: u32) -> MmResult<String> {
    let d = mm
        .mdl(id)
        .ok_or_else(|| crate::mm_err!(OBJECT_NAME_NOT_FOUND, "there is no MDL {id}"))?;
    let names: Vec<&str> = MDL_FLAG_NAMES
        .iter()
        .filter(|(bit, _)| d.flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    let flags = if names.is_empty() {
        format!("{:#06x}", d.flags)
    } else {
        format!("{:#06x} {}", d.flags, names.join("|"))
    };
    let mut kv = KeyValue::new();
    kv.put("MdlFlags", flags)
        .put("StartVa", format!("{:#x}", d.start_va.0))
        .put("ByteOffset", format!("{:#x}", d.byte_offset))
        .put("ByteCount", format!("{:#x}", d.byte_count))
        .put(
            "Process",
            d.process.map_or("none".to_string(), |p| p.0.to_string()),
        )
        .put(
            "MappedSystemVa",
            d.mapped_system_va()
                .map_or("none".to_string(), |v| format!("{:#x}", v.0)),
        );
    let mut out = kv.0;
    out.push_str("# index pfn\n");
    for (i, pfn) in d.pfns.iter().enumerate() {
        let _ = writeln!(out, "{i} {:#x}", pfn.0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    #[test]
    fn sysptes_and_an_mdl_render_as_key_values_then_a_table() {
        let mm = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        mm.create_process("app").unwrap();
        let text = sysptes(&mm);
        assert!(text.starts_with("TotalPtes: 7000\nFreePtes: 6996\nLargestFreeRun: 6996\nFailures: 0\n# address pages owner\n"), "{text}");
        assert!(text.ends_with("0xe8000000 4 kernel_stack_app\n"), "{text}");
        let id = mm.mdl_allocate_pages(2).unwrap();
        let va = mm.mdl_map(id).unwrap();
        let text = mdl(&mm, id).unwrap();
        assert!(
            text.starts_with(
                "MdlFlags: 0x4003 MDL_MAPPED_TO_SYSTEM_VA|MDL_PAGES_LOCKED|MDL_PAGES_ALLOCATED\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!("MappedSystemVa: {:#x}\nProcess: none\n", va.0))
                || text.contains(&format!("Process: none\nMappedSystemVa: {:#x}\n", va.0)),
            "{text}"
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .count(),
            2
        );
        assert!(mdl(&mm, 99).is_err());
    }
}
