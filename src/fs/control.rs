//! Control files: line buffering, running commands, and remembering outcomes.
//!
//! SPEC §3: several lines in one write run in order and stop at the first failure;
//! a partial line waits for its newline (or for the file to be closed); reading
//! gives the outcome of the last command, and a descriptor that wrote a command
//! reads its own command's outcome.

use crate::cmd::{self, Caller, Outcome, Target};
use crate::mm::{Mm, MmError};
use crate::mm_err;

/// The longest command line accepted; longer input is refused rather than buffered.
pub const MAX_LINE: usize = 64 * 1024;

/// What one open descriptor of a control file holds.
pub struct ControlHandle {
    pub target: Target,
    /// Bytes of a line whose newline has not arrived yet.
    pending: Vec<u8>,
    /// The process that wrote `pending`. A close by that process ends the line;
    /// a close by another (a child that inherited the descriptor and exits) does not.
    pending_writer: Option<u32>,
    /// The rendered outcome of the last command written on this descriptor.
    pub own_outcome: Option<String>,
    /// Where the next read continues in the outcome text. Kernel offsets are not
    /// used: after a write the descriptor's offset points past the command, yet the
    /// writer must read its outcome from the start (SPEC §3).
    pub read_cursor: u64,
    /// Who wrote the last bytes: the commands (a partial line run at close
    /// too) run with their privileges. Kernel mode until a write.
    pub writer_caller: Caller,
}

impl ControlHandle {
    pub fn new(target: Target) -> ControlHandle {
        ControlHandle {
            target,
            pending: Vec::new(),
            pending_writer: None,
            own_outcome: None,
            read_cursor: 0,
            writer_caller: Caller::KERNEL,
        }
    }

    /// [`Self::take_lines`] written by `caller`, whose privileges the lines
    /// (and a partial tail, when it runs) are checked against.
    pub fn take_lines_as(
        &mut self,
        data: &[u8],
        writer: u32,
        caller: Caller,
    ) -> Result<Vec<Vec<u8>>, MmError> {
        self.writer_caller = caller;
        self.take_lines(data, writer)
    }

    /// Takes the complete lines out of `pending + data`, keeping any partial tail.
    /// A line longer than [`MAX_LINE`] is refused and the buffer emptied.
    pub fn take_lines(&mut self, data: &[u8], writer: u32) -> Result<Vec<Vec<u8>>, MmError> {
        self.pending_writer = Some(writer);
        self.read_cursor = 0;
        let mut lines = Vec::new();
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.pending);
            line.extend_from_slice(&rest[..pos]);
            lines.push(line);
            rest = &rest[pos + 1..];
        }
        if self.pending.len() + rest.len() > MAX_LINE || lines.iter().any(|l| l.len() > MAX_LINE) {
            self.pending.clear();
            return Err(mm_err!(
                INVALID_PARAMETER,
                "a command line is longer than {MAX_LINE} bytes"
            ));
        }
        self.pending.extend_from_slice(rest);
        Ok(lines)
    }

    /// Takes the partial line left when `closer` closes a descriptor of this open
    /// file (`None`: the last close), if that close ends it.
    pub fn take_pending(&mut self, closer: Option<u32>) -> Option<Vec<u8>> {
        if self.pending.is_empty() {
            return None;
        }
        if closer.is_some() && closer != self.pending_writer {
            return None;
        }
        self.pending_writer = None;
        Some(std::mem::take(&mut self.pending))
    }
}

/// Where a read of the outcome starts: offset 0 rewinds (a new `cat`, a `pread`
/// at 0); otherwise reading continues from the descriptor's own cursor.
pub fn read_start(h: &mut ControlHandle, offset: u64, size: u32, text_len: u64) -> u64 {
    let start = if offset == 0 { 0 } else { h.read_cursor };
    h.read_cursor = (start + size as u64).min(text_len);
    start
}

/// Runs lines in order, stopping at the first failure. Returns the outcome that
/// decides the reply (the failure, or the last command's success) or `None` if
/// every line was blank.
pub fn run_lines(mm: &Mm, target: Target, lines: &[Vec<u8>]) -> Option<Outcome> {
    run_lines_as(mm, target, lines, &Caller::KERNEL)
}

/// [`run_lines`] for `caller` (a user-mode caller's privileges).
pub fn run_lines_as(
    mm: &Mm,
    target: Target,
    lines: &[Vec<u8>],
    caller: &Caller,
) -> Option<Outcome> {
    let mut last = None;
    for line in lines {
        if let Some(outcome) = cmd::execute_as(mm, target, line, caller) {
            let failed = outcome.is_err();
            last = Some(outcome);
            if failed {
                break;
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    #[test]
    fn lines_are_buffered_to_the_newline() {
        let mut h = ControlHandle::new(Target::System);
        assert!(h.take_lines(b"tick", 7).unwrap().is_empty());
        assert!(h.take_lines(b" 2", 7).unwrap().is_empty());
        assert_eq!(
            h.take_lines(b"\nhelp\nti", 7).unwrap(),
            vec![b"tick 2".to_vec(), b"help".to_vec()]
        );
        // A child closing an inherited descriptor does not end the writer's line.
        assert_eq!(h.take_pending(Some(8)), None);
        assert_eq!(h.take_pending(Some(7)), Some(b"ti".to_vec()));
        assert_eq!(h.take_pending(None), None);
        h.take_lines(b"x", 9).unwrap();
        assert_eq!(h.take_pending(None), Some(b"x".to_vec()));
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut h = ControlHandle::new(Target::System);
        let big = vec![b'a'; MAX_LINE + 1];
        assert!(h.take_lines(&big, 1).is_err());
        assert_eq!(h.take_pending(None), None);
        let mut with_nl = big.clone();
        with_nl.push(b'\n');
        assert!(h.take_lines(&with_nl, 1).is_err());
    }

    /// Only a control file opened for writing asks the kernel for a FLUSH at
    /// each close (FOPEN_NOFLUSH otherwise, issue 18): its partial line runs when
    /// its writer closes, so that descriptor must still see the close.
    #[test]
    fn only_control_files_opened_for_writing_are_flushed() {
        use crate::fs::access::{READ, WRITE, Who};
        use crate::fs::inode::ROOT_INO;
        use crate::fs::{MmFs, ReadFrom};
        let mm = std::sync::Arc::new(Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap());
        let fs = MmFs::new(std::sync::Arc::clone(&mm)).unwrap();
        let root = Who { uid: 0, gid: 0 };
        let (system, _) = fs.lookup(ROOT_INO, "system", root).unwrap();
        let (control, _) = fs.lookup(system, "control", root).unwrap();
        let (counters, _) = fs.lookup(system, "counters", root).unwrap();
        assert!(!fs.open(control, READ, root).unwrap().flush);
        assert!(!fs.open(counters, READ, root).unwrap().flush);
        let (procs, _) = fs.lookup(ROOT_INO, "processes", root).unwrap();
        let (app, _) = fs.mkdir(procs, "app", root).unwrap();
        let (mem, _) = fs.lookup(app, "mem", root).unwrap();
        assert!(!fs.open(mem, READ | WRITE, root).unwrap().flush);
        for want in [WRITE, READ | WRITE] {
            let o = fs.open(control, want, root).unwrap();
            assert!(o.flush);
            fs.write(o.fh, 0, b"tick 1", 7, root).unwrap();
            let before = mm.clock().now_ms();
            fs.flush(o.fh, Some(7)).unwrap();
            assert_eq!(
                mm.clock().now_ms(),
                before + 1000,
                "the partial line ran at close"
            );
            let Ok(ReadFrom::Bytes(text)) = fs.read(o.fh, 0, 100) else {
                panic!("no outcome")
            };
            assert!(text.starts_with(b"ok time_ms="));
            fs.release(o.fh).unwrap();
        }
    }

    #[test]
    fn lines_stop_at_the_first_failure() {
        let mm = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let lines = vec![b"tick 1".to_vec(), b"frob".to_vec(), b"tick 1".to_vec()];
        assert!(run_lines(&mm, Target::System, &lines).unwrap().is_err());
        assert_eq!(mm.clock().now_ms(), 1000);
        assert!(run_lines(&mm, Target::System, &[b"".to_vec()]).is_none());
    }
}
