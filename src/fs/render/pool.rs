//! `pool/allocations`, `pool/used` and `pool/<ADDRESS>`, from the core's
//! pool snapshots.

use std::fmt::Write;

use crate::mm::{Mm, MmResult};

/// `pool/allocations`: `# address size type tag state`.
pub fn allocations(mm: &Mm) -> String {
    let mut out = String::from("# address size type tag state\n");
    for r in mm.pool_allocations() {
        let tag = if r.tag.is_empty() { "-" } else { &r.tag };
        let _ = writeln!(
            out,
            "{:#x} {} {} {} {}",
            r.address,
            r.size,
            r.ty.name(),
            tag.replace(' ', "_"),
            r.state
        );
    }
    out
}

/// `pool/used`: `# tag paged_allocs paged_frees paged_bytes nonpaged_allocs
/// nonpaged_frees nonpaged_bytes`.
pub fn used(mm: &Mm) -> String {
    let mut out = String::from(
        "# tag paged_allocs paged_frees paged_bytes nonpaged_allocs nonpaged_frees nonpaged_bytes\n",
    );
    for r in mm.pool_used() {
        let _ = writeln!(
            out,
            "{} {} {} {} {} {} {}",
            r.tag.replace(' ', "_"),
            r.paged_allocs,
            r.paged_frees,
            r.paged_bytes,
            r.nonpaged_allocs,
            r.nonpaged_frees,
            r.nonpaged_bytes
        );
    }
    out
}

/// `pool/<ADDRESS>`: key/value lines about the page, then for a page of
/// blocks in memory a table of its headers (`!pool ADDRESS`).
pub fn page(mm: &Mm, addr: u64) -> MmResult<String> {
    let v = mm.pool_page(addr)?;
    let mut out = format!(
        "Page: {:#x}\nType: {}\nKind: {}\nResident: {}\n",
        v.page,
        v.ty.name(),
        v.kind,
        if v.resident { "yes" } else { "no" }
    );
    if let Some((a, size, tag)) = &v.allocation {
        let _ = writeln!(out, "Allocation: {a:#x} {size} {}", tag.replace(' ', "_"));
    }
    if v.kind == "blocks" && v.resident {
        out.push_str("# header previous_size block_size pool_type tag state\n");
        for (at, prev, size, ty, tag) in &v.headers {
            let state = if *ty == 0 { "free" } else { "allocated" };
            let _ = writeln!(
                out,
                "{at:#x} {prev} {size} {ty} {} {state}",
                tag.replace(' ', "_")
            );
        }
    }
    Ok(out)
}
