//! `processes/<name>/clones`: the fork clone blocks the process's PTEs refer to.

use std::fmt::Write;

use super::{hex, pfn_width, va_width};
use crate::mm::base::types::Pid;
use crate::mm::inspect::CloneRow;
use crate::mm::{Mm, MmResult};

pub const HEADER: &str = "# va block_address clone_ca index refs state pfn pte\n";

/// One row per PTE of the process that refers to a clone block, in address
/// order; `pfn` is `-` when the block's page is not in memory.
pub fn clones(mm: &Mm, pid: Pid) -> MmResult<String> {
    Ok(table(&mm.clones(pid)?, va_width(mm), pfn_width(mm)))
}

fn table(rows: &[CloneRow], vw: usize, pw: usize) -> String {
    let mut out = String::from(HEADER);
    for r in rows {
        let pfn = r.pfn.map_or("-".to_string(), |p| hex(p.0 as u64, pw));
        let _ = writeln!(
            out,
            "{} {} {:>5} {:>6} {:>4} {:<17} {:<w$} {}",
            hex(r.va, vw),
            hex(r.block_address, vw),
            r.clone_area,
            r.index,
            r.refs,
            r.state,
            pfn,
            r.pte_state,
            w = pw + 2
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::types::Pfn;

    #[test]
    fn rows_line_up_under_a_header() {
        let row = |va, pfn: Option<u32>, pte_state| CloneRow {
            va,
            block_address: 0xe100_0040,
            clone_area: 3,
            index: 0,
            refs: 2,
            state: if pfn.is_some() { "valid" } else { "pagefile" },
            pfn: pfn.map(Pfn),
            pte_state,
        };
        let text = table(
            &[
                row(0x50_0000, Some(0x1a3), "valid"),
                row(0x50_1000, None, "prototype"),
            ],
            8,
            5,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER.trim_end());
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "0x00500000",
                "0xe1000040",
                "3",
                "0",
                "2",
                "valid",
                "0x001a3",
                "valid"
            ]
        );
        assert_eq!(lines[2].split_whitespace().nth(6), Some("-"));
        assert_eq!(lines[2].split_whitespace().nth(7), Some("prototype"));
        // The columns line up (only the last one's width varies).
        assert_eq!(lines[1].find(" valid"), lines[2].find(" pagefile"));
    }
}
