//! `processes/<name>/write-watch`: GetWriteWatch over every write-watch region.

use std::fmt::Write;

use super::{hex, va_width};
use crate::mm::base::types::Pid;
use crate::mm::inspect::WriteWatchRow;
use crate::mm::{Mm, MmResult};

pub const HEADER: &str = "# region va\n";

/// One row per page written since its region's last reset, in address order.
pub fn write_watch(mm: &Mm, pid: Pid) -> MmResult<String> {
    Ok(table(&mm.write_watch(pid)?, va_width(mm)))
}

fn table(rows: &[WriteWatchRow], vw: usize) -> String {
    let mut out = String::from(HEADER);
    for r in rows {
        let _ = writeln!(out, "{} {}", hex(r.region, vw), hex(r.va, vw));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_region_then_page_in_fixed_width_hex() {
        let rows = [
            WriteWatchRow {
                region: 0x10000,
                va: 0x10000,
            },
            WriteWatchRow {
                region: 0x10000,
                va: 0x13000,
            },
        ];
        assert_eq!(
            table(&rows, 8),
            "# region va\n0x00010000 0x00010000\n0x00010000 0x00013000\n"
        );
        assert_eq!(table(&[], 16), HEADER);
    }
}
