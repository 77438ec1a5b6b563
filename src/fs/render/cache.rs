//! `cache/views` and `cache/files`: the cache manager's views and files, as
//! the core reports them. A file name is one column: a space, a backslash or a
//! control character in it is written as an octal escape (`\040`), as
//! /proc/mounts does.

use std::fmt::Write;

use crate::mm::Mm;

/// `name` as one column of a table.
fn column(name: &str) -> String {
    if name.is_empty() {
        return "-".to_string();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c == ' ' || c == '\\' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\{b:03o}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `cache/views`: `# index base file file_offset active dirty_pages`.
pub fn views(mm: &Mm) -> String {
    let mut out = String::from("# index base file file_offset active dirty_pages\n");
    for v in mm.cache_views() {
        let _ = writeln!(
            out,
            "{} {:#x} {} {:#x} {} {}",
            v.index,
            v.base,
            column(&v.file),
            v.file_offset,
            v.active,
            v.dirty_pages
        );
    }
    out
}

/// `cache/files`: `# file size cached_pages dirty_pages views mapped_views
/// read_ahead`.
pub fn files(mm: &Mm) -> String {
    let mut out =
        String::from("# file size cached_pages dirty_pages views mapped_views read_ahead\n");
    for f in mm.cache_files() {
        let _ = writeln!(
            out,
            "{} {} {} {} {} {} {}",
            column(&f.file),
            f.size,
            f.cached_pages,
            f.dirty_pages,
            f.views,
            f.mapped_views,
            f.read_ahead
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::column;

    #[test]
    fn a_name_is_one_column() {
        assert_eq!(column("a b"), "a\\040b");
        assert_eq!(column("x\\y\n"), "x\\134y\\012");
        assert_eq!(column("plain/é"), "plain/é");
        assert_eq!(column(""), "-");
    }
}
