//! Commands of `cache/control`: `hint PATH sequential|random|normal`,
//! `flush [PATH]`, `purge PATH` (PATH as in the `--files` volume).

use super::{Outcome, Words, no_options, unknown_verb};
use crate::mm::Mm;
use crate::mm::api::Hint;
use crate::mm_err;

const KNOWN: &str = "hint PATH sequential|random|normal, flush [PATH], purge PATH, help";

pub fn execute(mm: &Mm, w: &Words<'_>) -> Outcome {
    no_options(w)?;
    match (w.verb, w.args.as_slice()) {
        ("hint", [path, how]) => {
            let hint = Hint::parse(how).ok_or_else(|| {
                mm_err!(
                    INVALID_PARAMETER,
                    "'{}' is not a hint: sequential, random or normal",
                    how.escape_default()
                )
            })?;
            mm.cache_hint_path(path, hint)?;
            Ok(format!("{path} {}", hint.name()))
        }
        ("hint", _) => Err(mm_err!(
            INVALID_PARAMETER,
            "usage: hint PATH sequential|random|normal"
        )),
        ("flush", []) => Ok(format!("{} pages written", mm.cache_flush_path(None)?)),
        ("flush", [path]) => Ok(format!(
            "{} pages written",
            mm.cache_flush_path(Some(path))?
        )),
        ("flush", _) => Err(mm_err!(INVALID_PARAMETER, "usage: flush [PATH]")),
        ("purge", [path]) => Ok(format!("{} pages purged", mm.cache_purge_path(path)?)),
        ("purge", _) => Err(mm_err!(INVALID_PARAMETER, "usage: purge PATH")),
        ("help", _) => Ok(KNOWN.to_string()),
        _ => Err(unknown_verb(w, "cache/control", KNOWN)),
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;

    use crate::cmd::{Target, execute as run};
    use crate::mm::Mm;
    use crate::mm::api::WriteMode;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    fn cmd(m: &Mm, line: &str) -> Result<String, String> {
        run(m, Target::Cache, line.as_bytes())
            .unwrap()
            .map_err(|e| e.status.name().to_string())
    }

    #[test]
    fn hint_flush_purge_and_their_errors() {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let dir = m.config().files_dir.clone();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("log"))
            .unwrap();
        let f = m.cache_open(file, "log").unwrap();
        m.cache_write(&f, 0, &[7u8; 10000], WriteMode::Buffered)
            .unwrap();
        assert_eq!(cmd(&m, "hint /log sequential").unwrap(), "/log sequential");
        assert_eq!(m.cache_files()[0].read_ahead, "sequential");
        assert_eq!(cmd(&m, "flush log").unwrap(), "3 pages written");
        assert_eq!(std::fs::read(dir.join("log")).unwrap(), vec![7u8; 10000]);
        assert_eq!(cmd(&m, "flush").unwrap(), "0 pages written");
        assert_eq!(cmd(&m, "purge log").unwrap(), "3 pages purged");
        assert_eq!(m.cache_files()[0].cached_pages, 0);
        let mut back = vec![0u8; 10000];
        m.cache_read(&f, 0, &mut back).unwrap();
        assert_eq!(back, vec![7u8; 10000], "read back from the file");
        for (bad, status) in [
            ("hint log fast", "STATUS_INVALID_PARAMETER"),
            ("hint log", "STATUS_INVALID_PARAMETER"),
            ("flush nothere", "STATUS_OBJECT_NAME_NOT_FOUND"),
            ("purge", "STATUS_INVALID_PARAMETER"),
            ("purge a b", "STATUS_INVALID_PARAMETER"),
            ("frob", "STATUS_INVALID_PARAMETER"),
            ("flush x=1", "STATUS_INVALID_PARAMETER"),
        ] {
            assert_eq!(cmd(&m, bad).unwrap_err(), status, "{bad}");
        }
        m.cache_close(f).unwrap();
        assert!(m.verify().ok());
    }
}
