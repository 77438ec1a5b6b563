//! The process token (its owner, SPEC §9): stored at creation, inherited by a
//! fork's child, none for the System process.

use super::machine;
use crate::mm::base::token::Token;
use crate::mm::base::types::{Arch, Pid};

#[test]
fn a_process_runs_as_its_creator_and_its_fork_child_too() {
    let m = machine(Arch::X86);
    let user = Token {
        uid: 1000,
        gid: 100,
    };
    let pid = m.create_process_as("app", Some(user)).unwrap();
    assert_eq!(m.process_token(pid), Some(user));
    // NtCreateProcess: the child's token is a copy of its parent's.
    let child = m.fork_process(pid, "child").unwrap();
    assert_eq!(m.process_token(child), Some(user));
    // The machine's own: System, and a kernel-mode caller's process.
    assert_eq!(m.process_token(Pid::SYSTEM), None);
    let k = m.create_process("kernel-made").unwrap();
    assert_eq!(m.process_token(k), None);
    assert_eq!(m.process_token(Pid(0x1000)), None);
    // A refused creation records nothing.
    assert!(m.create_process_as("app", Some(user)).is_err());
    m.terminate_process(child).unwrap();
    assert_eq!(m.process_token(child), None);
}
