//! Commands of `pool/control`: `alloc paged|nonpaged SIZE TAG` (result: the
//! address), `free ADDRESS`, `special TAG|none`.

use super::args::{parse_number, parse_size};
use super::{Outcome, Words, no_options, unknown_verb};
use crate::mm::Mm;
use crate::mm::kernel::pool::PoolType;
use crate::mm_err;

const KNOWN: &str = "alloc paged|nonpaged SIZE TAG, free ADDRESS, special TAG|none, help";

fn number(what: &str, s: &str) -> Result<u64, crate::mm::MmError> {
    parse_number(s).map_err(|_| {
        mm_err!(
            INVALID_PARAMETER,
            "'{}' is not a {what} (decimal or 0x hex)",
            s.escape_default()
        )
    })
}

pub fn execute(mm: &Mm, w: &Words<'_>) -> Outcome {
    no_options(w)?;
    match (w.verb, w.args.as_slice()) {
        ("alloc", [ty, size, tag]) => {
            let ty = PoolType::parse(ty).ok_or_else(|| {
                mm_err!(
                    INVALID_PARAMETER,
                    "'{}' is not a pool type: paged or nonpaged",
                    ty.escape_default()
                )
            })?;
            let size = parse_size(size).map_err(|_| {
                mm_err!(
                    INVALID_PARAMETER,
                    "'{}' is not a size (decimal, 0x hex, K/M/G suffixes)",
                    size.escape_default()
                )
            })?;
            Ok(format!("{:#x}", mm.pool_alloc(ty, size, tag)?))
        }
        ("alloc", _) => Err(mm_err!(
            INVALID_PARAMETER,
            "usage: alloc paged|nonpaged SIZE TAG"
        )),
        ("free", [addr]) => {
            let addr = number("pool address", addr)?;
            mm.pool_free(addr)?;
            Ok(format!("{addr:#x} freed"))
        }
        ("free", _) => Err(mm_err!(INVALID_PARAMETER, "usage: free ADDRESS")),
        ("special", ["none"]) => {
            mm.pool_special(None)?;
            Ok("special pool off".to_string())
        }
        ("special", [tag]) => {
            mm.pool_special(Some(tag))?;
            Ok(format!("special pool for tag {tag}"))
        }
        ("special", _) => Err(mm_err!(INVALID_PARAMETER, "usage: special TAG|none")),
        ("help", _) => Ok(KNOWN.to_string()),
        _ => Err(unknown_verb(w, "pool/control", KNOWN)),
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{Target, execute as run};
    use crate::mm::Mm;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    fn cmd(m: &Mm, line: &str) -> Result<String, String> {
        run(m, Target::Pool, line.as_bytes())
            .unwrap()
            .map_err(|e| e.status.name().to_string())
    }

    #[test]
    fn alloc_free_special_and_their_errors() {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let a = cmd(&m, "alloc paged 100 Test").unwrap();
        assert!(a.starts_with("0xe1"), "{a}");
        assert_eq!(cmd(&m, &format!("free {a}")).unwrap(), format!("{a} freed"));
        let bad = "STATUS_INVALID_PARAMETER";
        assert_eq!(cmd(&m, "alloc paged 0 Test").unwrap_err(), bad);
        assert_eq!(cmd(&m, "alloc both 10 Test").unwrap_err(), bad);
        assert_eq!(cmd(&m, "alloc paged ten Test").unwrap_err(), bad);
        assert_eq!(cmd(&m, "alloc paged 10 Toolong").unwrap_err(), bad);
        assert_eq!(cmd(&m, "alloc paged 10").unwrap_err(), bad);
        assert_eq!(
            cmd(&m, "alloc nonpaged 1G Huge").unwrap_err(),
            "STATUS_INSUFFICIENT_RESOURCES"
        );
        assert_eq!(
            cmd(&m, &format!("free {a}")).unwrap_err(),
            "STATUS_MEMORY_NOT_ALLOCATED"
        );
        assert_eq!(
            cmd(&m, "special Abcd").unwrap(),
            "special pool for tag Abcd"
        );
        assert_eq!(cmd(&m, "special none").unwrap(), "special pool off");
        assert_eq!(cmd(&m, "special").unwrap_err(), bad);
        assert_eq!(cmd(&m, "frob").unwrap_err(), bad);
    }
}
