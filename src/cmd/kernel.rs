//! Commands of `kernel/mdls/control`: `probe-and-lock PROCESS ADDR SIZE
//! read|write` (MmProbeAndLockPages; PROCESS by name or pid),
//! `allocate-pages PAGES` (MmAllocatePagesForMdl), `map MDL`
//! (MmMapLockedPagesSpecifyCache), `unmap MDL`, `unlock MDL` (MmUnlockPages),
//! `free MDL`. Results: `MDL-ID`, or for `map` the mapped system address.

use super::args::{parse_number, parse_size};
use super::{Outcome, Words, no_options, unknown_verb};
use crate::mm::base::types::Pid;
use crate::mm::{Mm, MmError};
use crate::mm_err;

const KNOWN: &str = "probe-and-lock PROCESS ADDR SIZE read|write, allocate-pages PAGES, map MDL, unmap MDL, unlock MDL, free MDL, help";

/// A process by name, or by pid when the word is a number no process is named.
fn process(mm: &Mm, word: &str) -> Result<Pid, MmError> {
    if let Some(pid) = mm.pid_of(word) {
        return Ok(pid);
    }
    match parse_number(word).ok().and_then(|n| u32::try_from(n).ok()) {
        Some(n) if mm.process_name(Pid(n)).is_some() => Ok(Pid(n)),
        _ => Err(mm_err!(
            OBJECT_NAME_NOT_FOUND,
            "no process is named or numbered '{}'",
            word.escape_default()
        )),
    }
}

fn mdl_id(word: &str) -> Result<u32, MmError> {
    parse_number(word)
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            mm_err!(
                INVALID_PARAMETER,
                "'{}' is not an MDL number",
                word.escape_default()
            )
        })
}

fn access(word: &str) -> Result<bool, MmError> {
    match word {
        "read" => Ok(false),
        "write" => Ok(true),
        _ => Err(mm_err!(
            INVALID_PARAMETER,
            "'{}' is not an access: read or write",
            word.escape_default()
        )),
    }
}

pub fn execute(mm: &Mm, w: &Words<'_>) -> Outcome {
    no_options(w)?;
    let number =
        |s: &str, what: &str| parse_size(s).map_err(|e| mm_err!(INVALID_PARAMETER, "{what}: {e}"));
    match (w.verb, w.args.as_slice()) {
        ("probe-and-lock", [p, addr, size, how]) => {
            let pid = process(mm, p)?;
            let address =
                parse_number(addr).map_err(|e| mm_err!(INVALID_PARAMETER, "address: {e}"))?;
            let id = mm.mdl_probe_and_lock(pid, address, number(size, "size")?, access(how)?)?;
            Ok(id.to_string())
        }
        ("probe-and-lock", _) => Err(mm_err!(
            INVALID_PARAMETER,
            "usage: probe-and-lock PROCESS ADDR SIZE read|write"
        )),
        ("allocate-pages", [n]) => Ok(mm.mdl_allocate_pages(number(n, "pages")?)?.to_string()),
        ("allocate-pages", _) => Err(mm_err!(INVALID_PARAMETER, "usage: allocate-pages PAGES")),
        ("map", [id]) => Ok(format!("{:#x}", mm.mdl_map(mdl_id(id)?)?.0)),
        ("unmap", [id]) => mm.mdl_unmap(mdl_id(id)?).map(|_| String::new()),
        ("unlock", [id]) => mm.mdl_unlock(mdl_id(id)?).map(|_| String::new()),
        ("free", [id]) => mm.mdl_free(mdl_id(id)?).map(|_| String::new()),
        ("map" | "unmap" | "unlock" | "free", _) => {
            Err(mm_err!(INVALID_PARAMETER, "usage: {} MDL", w.verb))
        }
        ("help", _) => Ok(KNOWN.to_string()),
        _ => Err(unknown_verb(w, "kernel/mdls/control", KNOWN)),
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{Target, execute as run};
    use crate::mm::Mm;
    use crate::mm::NtStatus;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    fn exec(mm: &Mm, line: &str) -> Result<String, (NtStatus, String)> {
        run(mm, Target::Mdls, line.as_bytes())
            .unwrap()
            .map_err(|e| (e.status, e.message))
    }

    #[test]
    fn commands_drive_mdls_and_refuse_bad_words() {
        let mm = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let pid = mm.create_process("app").unwrap();
        let p = run(
            &mm,
            Target::Process(pid),
            b"alloc 0 64K reserve,commit readwrite",
        )
        .unwrap()
        .unwrap();
        let base = p.split_whitespace().next().unwrap().to_string();
        let id = exec(&mm, &format!("probe-and-lock app {base} 8K write")).unwrap();
        assert_eq!(id, "1");
        let by_pid = exec(&mm, &format!("probe-and-lock {} {base} 4K read", pid.0)).unwrap();
        assert_eq!(by_pid, "2");
        let va = exec(&mm, "map 1").unwrap();
        assert!(va.starts_with("0xe8"), "{va}");
        assert_eq!(exec(&mm, "unmap 1"), Ok(String::new()));
        assert_eq!(exec(&mm, "unlock 1"), Ok(String::new()));
        assert_eq!(exec(&mm, "free 1"), Ok(String::new()));
        assert_eq!(exec(&mm, "allocate-pages 2"), Ok("3".to_string()));
        for bad in [
            "probe-and-lock nobody 0x10000 4K read",
            "probe-and-lock app 0x10000 4K sideways",
            "probe-and-lock app",
            "map x",
            "map 99",
            "free",
            "allocate-pages lots",
            "frobnicate",
            "map 1 k=v",
        ] {
            assert!(exec(&mm, bad).is_err(), "{bad}");
        }
        assert_eq!(
            exec(&mm, "map 99").unwrap_err().0,
            NtStatus::OBJECT_NAME_NOT_FOUND
        );
        assert!(exec(&mm, "help").unwrap().contains("probe-and-lock"));
        assert_eq!(
            mm.terminate_process(pid).unwrap_err().status,
            NtStatus::CANNOT_DELETE
        );
    }
}
