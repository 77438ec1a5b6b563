//! Commands of `pagefiles/control`.

use super::args::parse_size;
use super::{Outcome, Words, no_options, unknown_verb};
use crate::mm::Mm;
use crate::mm_err;

const KNOWN: &str = "create NAME MIN MAX, help";

pub fn execute(mm: &Mm, w: &Words<'_>) -> Outcome {
    no_options(w)?;
    match w.verb {
        // NtCreatePagingFile: the file appears in the state directory at MIN bytes.
        "create" => match w.args.as_slice() {
            [name, min, max] => {
                let size = |s: &str| {
                    parse_size(s).map_err(|e| {
                        mm_err!(INVALID_PARAMETER, "size '{}': {e}", s.escape_default())
                    })
                };
                let (min, max) = (size(min)?, size(max)?);
                mm.create_pagefile(name, min, max)?;
                Ok(name.to_string())
            }
            _ => Err(mm_err!(INVALID_PARAMETER, "usage: create NAME MIN MAX")),
        },
        "help" => Ok(KNOWN.to_string()),
        _ => Err(unknown_verb(w, "pagefiles/control", KNOWN)),
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{Target, execute as run};
    use crate::mm::Mm;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    #[test]
    fn create_and_its_errors() {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let ok = run(&m, Target::Pagefiles, b"create extra.sys 4M 8M")
            .unwrap()
            .unwrap();
        assert_eq!(ok, "extra.sys");
        assert_eq!(m.pagefiles().len(), 2);
        for (bad, status) in [
            (
                &b"create extra.sys 4M 8M"[..],
                "STATUS_OBJECT_NAME_COLLISION",
            ),
            (b"create x 8M 4M", "STATUS_INVALID_PARAMETER"),
            (b"create x 4M", "STATUS_INVALID_PARAMETER"),
            (b"create ../x 4M 8M", "STATUS_OBJECT_NAME_INVALID"),
            (b"create x 4Q 8M", "STATUS_INVALID_PARAMETER"),
            (b"create README 4M 8M", "STATUS_OBJECT_NAME_INVALID"),
            (b"make x", "STATUS_INVALID_PARAMETER"),
        ] {
            let e = run(&m, Target::Pagefiles, bad).unwrap().unwrap_err();
            assert_eq!(e.status.name(), status, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(m.pagefiles().len(), 2);
    }
}
