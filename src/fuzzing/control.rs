//! The `control_commands` target: the input is a sequence of lines written to
//! every control file of a fresh [`Fixture`], the way the filesystem would
//! receive them (line buffering and the 64 KiB line limit included).
//!
//! A first line `#pae` or `#x64` picks the machine's arch (it is a comment, so
//! the control files ignore it); anything else runs on x86. An input whose
//! length is odd is written by an unprivileged user (SPEC §9): a command that
//! needs SeLockMemoryPrivilege must then fail.

use super::{Fixture, check_outcome};
use crate::cmd::{self, Caller, Privileges, Target};
use crate::fs::control::{ControlHandle, MAX_LINE};
use crate::mm::base::types::Arch;

/// The arch a leading comment asks for.
pub fn arch_of(data: &[u8]) -> Arch {
    if data.starts_with(b"#x64") {
        Arch::X64
    } else if data.starts_with(b"#pae") {
        Arch::Pae
    } else {
        Arch::X86
    }
}

pub fn control_commands(data: &[u8]) {
    let f = Fixture::new(arch_of(data));
    let caller = if data.len() % 2 == 1 {
        Caller {
            uid: 1000,
            gid: 1000,
            privileges: Privileges::NONE,
        }
    } else {
        Caller::KERNEL
    };
    for target in f.targets() {
        write_to(&f, target, data, &caller);
    }
    f.assert_verified("the commands");
}

/// One descriptor of `target`'s control file: the input arrives in writes that
/// end after each NUL byte (so one input holds several writes, and lines cross
/// them), and every complete line runs, then the partial one at close. Unlike a real write, a failing line does not
/// stop the rest: the fuzzer should reach the lines after it.
fn write_to(f: &Fixture, target: Target, data: &[u8], caller: &Caller) {
    let mut handle = ControlHandle::new(target);
    for chunk in data.split_inclusive(|&b| b == 0) {
        match handle.take_lines(chunk, 1) {
            Ok(lines) => {
                for line in lines {
                    assert!(line.len() <= MAX_LINE, "an over-long line was accepted");
                    run(f, target, &line, caller);
                }
            }
            Err(e) => check_outcome(chunk, &Err(e)),
        }
    }
    if let Some(rest) = handle.take_pending(None) {
        run(f, target, &rest, caller);
    }
}

fn run(f: &Fixture, target: Target, line: &[u8], caller: &Caller) {
    if let Some(outcome) = cmd::execute_as(&f.mm, target, line, caller) {
        check_outcome(line, &outcome);
        let verb = std::str::from_utf8(line)
            .ok()
            .and_then(|l| l.split_ascii_whitespace().next());
        let privileged = matches!(verb, Some("lock" | "unlock" | "awe-alloc"));
        assert!(
            !(privileged
                && matches!(target, Target::Process(_))
                && outcome.is_ok()
                && !caller.privileges.lock_memory),
            "{:?} ran without SeLockMemoryPrivilege",
            String::from_utf8_lossy(line)
        );
    }
}
