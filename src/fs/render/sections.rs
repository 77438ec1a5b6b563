//! `sections/<name>/`: the section object, its prototype PTEs and its views, as
//! the core reports them (states arrive named; no PTE bits are decoded here).

use std::fmt::Write;

use super::{KeyValue, hex, pfn_width, pte_width, push_dec, push_hex, push_left, va_width};
use crate::cmd::SectionKey;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::{Mm, MmResult};

/// `info`: the section object, then its control area's counters under NT's
/// names.
pub fn info(mm: &Mm, key: SectionKey) -> MmResult<String> {
    let i = mm.section_info(key.name())?;
    let s = &i.section;
    let none = || "none".to_string();
    let mut kv = KeyValue::new();
    kv.put("Name", &s.name)
        .put("Size", format!("{:#x}", s.size))
        .put("Pages", s.size.div_ceil(PAGE_SIZE))
        .put("Protection", s.protection.name())
        .put("Backing", i.backing)
        .put("File", s.file.clone().unwrap_or_else(none))
        .put(
            "HostPath",
            i.host_path.map_or_else(none, |p| p.display().to_string()),
        )
        .put("ControlArea", i.control_area)
        .put("SizeOfSegment", format!("{:#x}", i.size_of_segment))
        .put("TotalNumberOfPtes", i.total_ptes)
        .put("NumberOfSubsections", i.subsections)
        .put("NumberOfCommittedPages", i.committed_pages)
        .put("NumberOfSectionReferences", i.section_references)
        .put("NumberOfPfnReferences", i.pfn_references)
        .put("NumberOfMappedViews", i.mapped_views)
        .put("NumberOfUserReferences", i.user_references)
        .put("WritableUserReferences", i.writable_user_references)
        .put("ModifiedWriteCount", i.modified_write_count)
        .put("ResidentPages", i.resident_pages)
        .put("ModifiedPages", i.modified_pages)
        .put("Flags", i.flags.join(" "));
    Ok(kv.0)
}

/// Decimal digits of `v` (at least one).
fn dec_digits(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Hex digits of `v` (at least one).
fn hex_digits(v: u64) -> usize {
    (64 - v.leading_zeros()).div_ceil(4).max(1) as usize
}

/// The longest state name `prototype-ptes` shows (`modified-no-write`).
const STATE_WIDTH: usize = 17;

/// `prototype-ptes`: `# index offset pte state pfn address share`, one
/// fixed-width row per page of the section.
pub fn prototype_ptes(mm: &Mm, key: SectionKey) -> MmResult<String> {
    let rows = mm.section_prototype_ptes(key.name())?;
    let last = rows.last().map_or(0, |r| r.index);
    let last_offset = rows.last().map_or(0, |r| r.offset);
    let iw = dec_digits(last).max(5);
    let ow = hex_digits(last_offset).max(8);
    let (pw, tw, vw) = (pfn_width(mm), pte_width(mm), va_width(mm));
    let mut out = String::with_capacity((rows.len() + 1) * (iw + ow + tw + pw + vw + 40));
    out.push_str("# index offset pte state pfn address share\n");
    for r in rows {
        push_dec(&mut out, r.index, iw);
        out.push(' ');
        push_hex(&mut out, r.offset, ow);
        out.push(' ');
        push_hex(&mut out, r.pte, tw);
        out.push(' ');
        push_left(&mut out, r.state, STATE_WIDTH);
        out.push(' ');
        match r.pfn {
            Some(p) => push_hex(&mut out, p.0 as u64, pw),
            None => push_left(&mut out, "-", pw + 2),
        }
        out.push(' ');
        push_hex(&mut out, r.address, vw);
        out.push(' ');
        push_dec(&mut out, r.share as u64, 5);
        out.push('\n');
    }
    Ok(out)
}

/// `views`: `# process base size offset protection pid`; size in pages (SPEC
/// §2), offset in bytes into the section.
pub fn views(mm: &Mm, key: SectionKey) -> MmResult<String> {
    let vw = va_width(mm);
    let mut out = String::from("# process base size offset protection pid\n");
    for v in mm.section_views(key.name())? {
        let _ = writeln!(
            out,
            "{:<16} {} {:>8} {} {:<18} {:>6}",
            v.process,
            hex(v.base, vw),
            v.size.div_ceil(PAGE_SIZE),
            hex(v.offset, 8),
            v.protection.name(),
            v.pid
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::protection::Protection;
    use crate::mm::base::types::Arch;

    fn columns(line: &str) -> Vec<&str> {
        line.split_ascii_whitespace().collect()
    }

    #[test]
    fn a_new_section_renders() {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        m.create_section("shm", 0x11000, None, Protection::READWRITE, false)
            .unwrap();
        let key = SectionKey::of(&m, "shm").unwrap();

        let info = info(&m, key).unwrap();
        assert!(info.lines().any(|l| l == "Name: shm"), "{info}");
        assert!(info.lines().any(|l| l == "Size: 0x11000"), "{info}");
        assert!(info.lines().all(|l| l.contains(": ")), "{info}");

        let text = prototype_ptes(&m, key).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("# index offset pte state pfn address share")
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 17, "one row per page:\n{text}");
        let width = rows[0].len();
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.len(), width, "fixed width:\n{text}");
            let c = columns(row);
            assert_eq!(c.len(), 7, "{row}");
            assert_eq!(c[0], i.to_string());
            assert_eq!(c[1], format!("{:#010x}", i as u64 * PAGE_SIZE));
            assert_eq!(c[3], "demand-zero");
            assert_eq!(c[4], "-");
            assert!(c[5].starts_with("0x"), "{row}");
            assert_eq!(c[6], "0");
        }

        assert_eq!(
            views(&m, key).unwrap(),
            "# process base size offset protection pid\n"
        );
    }

    #[test]
    fn a_deleted_section_does_not_render() {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        m.create_section("shm", 0x1000, None, Protection::READWRITE, false)
            .unwrap();
        let key = SectionKey::of(&m, "shm").unwrap();
        m.delete_section("shm").unwrap();
        assert!(info(&m, key).is_err());
        assert!(prototype_ptes(&m, key).is_err());
        assert!(views(&m, key).is_err());
    }

    #[test]
    fn digits() {
        assert_eq!(dec_digits(0), 1);
        assert_eq!(dec_digits(9), 1);
        assert_eq!(dec_digits(10), 2);
        assert_eq!(hex_digits(0), 1);
        assert_eq!(hex_digits(0xfff), 3);
        assert_eq!(hex_digits(0x1000), 4);
    }
}
