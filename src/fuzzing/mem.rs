//! The `mem_access` target: the input is a program of reads and writes of `mem`
//! at any offset and size, mixed with trims, system threads, outswaps, forks and
//! terminations, run against a model of the bytes each process should see.
//!
//! SPEC §7: a transfer stops at the first page that cannot be touched and
//! returns the bytes done; with none done it fails, EFAULT for memory that is
//! not committed (or beyond user space), EACCES where the protection forbids
//! the access. Committed read/write memory reads back what was last written,
//! whatever paging happened in between; a forked child's private writes stay
//! its own, and the shared section's are seen by every process.

use super::{
    FILE_SIZE, FILE_VIEW_BASE, Fixture, GUARD_BASE, PRIVATE_BASE, PRIVATE_SIZE, READONLY_BASE,
    READONLY_SIZE, SHM_BASE, SHM_SIZE,
};
use crate::cmd::{self, Target};
use crate::fs::errno::errno_for_fault;
use crate::mm::Mm;
use crate::mm::base::types::Arch;
use crate::mm::base::types::Pid;
use fuser::Errno;

/// Operations run per input at most (keeps each input quick).
const MAX_OPS: usize = 256;
/// The largest transfer tried (FUSE sends at most 128 KiB; the core takes any size).
const MAX_LEN: u64 = 1 << 20;
/// Processes alive at once: `app` and up to three forked children.
const MAX_PROCESSES: usize = 4;

/// The input, read as numbers; past its end every number is 0.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in out.iter_mut() {
            *b = self.data.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
        }
        out
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.bytes())
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// A process and the bytes its private region should hold.
struct Proc {
    pid: Pid,
    private: Vec<u8>,
}

/// What a transfer starting at an address should do.
#[derive(Debug)]
enum Expect<'a> {
    /// Committed read/write, modelled: the bytes up to the region's end.
    Modelled(&'a mut [u8]),
    /// Committed read-only with known contents.
    ReadOnly(Vec<u8>),
    /// Guard pages: the first touch fails, later ones work; not modelled.
    Guard,
    /// Reserved, free or above user space.
    NotCommitted,
}

struct Run<'a> {
    f: &'a Fixture,
    procs: Vec<Proc>,
    shm: Vec<u8>,
    forks: u32,
}

pub fn mem_access(data: &[u8]) {
    let arch = match data.first().map(|b| b % 3) {
        Some(1) => Arch::Pae,
        Some(2) => Arch::X64,
        _ => Arch::X86,
    };
    let f = Fixture::new(arch);
    let mut run = Run {
        procs: vec![Proc {
            pid: f.app,
            private: vec![0; PRIVATE_SIZE as usize],
        }],
        shm: vec![0; SHM_SIZE as usize],
        forks: 0,
        f: &f,
    };
    let mut input = Input {
        data: data.get(1..).unwrap_or_default(),
        pos: 0,
    };
    for step in 0..MAX_OPS {
        if input.done() {
            break;
        }
        run.step(&mut input, step);
    }
    f.assert_verified("the memory accesses");
    run.check_everything();
}

impl Run<'_> {
    fn mm(&self) -> &Mm {
        &self.f.mm
    }

    fn step(&mut self, input: &mut Input<'_>, step: usize) {
        let op = input.u8();
        let who = input.u8() as usize % self.procs.len();
        let pid = self.procs[who].pid;
        match op % 10 {
            0..=2 => {
                let (va, len) = self.address(input);
                self.read(who, va, len, step);
            }
            3..=5 => {
                let (va, len) = self.address(input);
                let fill = input.u8();
                self.write(who, va, len, fill, step);
            }
            6 => {
                self.mm().trim(pid).expect("trim a live process");
            }
            7 => {
                const LINES: [&str; 7] = [
                    "run modified-page-writer",
                    "empty-standby",
                    "flush-modified",
                    "tick 1",
                    "empty-working-sets",
                    "run zero-page-thread",
                    "tick 30",
                ];
                let line = LINES[input.u8() as usize % LINES.len()];
                if let Some(Err(e)) = cmd::execute(self.mm(), Target::System, line.as_bytes()) {
                    panic!("'{line}' failed: {}", e.message);
                }
            }
            8 => {
                if input.u8().is_multiple_of(2) {
                    let _ = self.mm().outswap(pid);
                } else {
                    self.mm().inswap(pid).expect("inswap a live process");
                }
            }
            _ => {
                if input.u8().is_multiple_of(2) {
                    self.fork(who);
                } else if who != 0 {
                    let p = self.procs.remove(who);
                    self.mm()
                        .terminate_process(p.pid)
                        .expect("terminate a child");
                }
            }
        }
    }

    /// An offset near one of the fixture's regions (or anywhere), and a length.
    fn address(&self, input: &mut Input<'_>) -> (u64, u64) {
        let highest = self.mm().highest_user_address();
        let anchors = [
            0,
            PRIVATE_BASE,
            PRIVATE_BASE + PRIVATE_SIZE,
            READONLY_BASE,
            GUARD_BASE,
            SHM_BASE,
            FILE_VIEW_BASE,
            highest.wrapping_sub(0xfff),
            1 << 63,
            u64::MAX - 0xfff,
        ];
        let how = input.u8();
        let va = if how as usize % (anchors.len() + 1) == anchors.len() {
            input.u64()
        } else {
            let delta = input.u16() as i16 as i64;
            let scale = if how & 0x80 != 0 { 16 } else { 1 };
            anchors[how as usize % (anchors.len() + 1)].wrapping_add((delta * scale) as u64)
        };
        let len = if how & 0x40 != 0 {
            input.u32() as u64 % (MAX_LEN + 1)
        } else {
            input.u16() as u64
        };
        (va, len)
    }

    fn expect(&mut self, who: usize, va: u64) -> Expect<'_> {
        let within = |base: u64, size: u64| va.checked_sub(base).filter(|&o| o < size);
        if let Some(o) = within(PRIVATE_BASE, PRIVATE_SIZE) {
            return Expect::Modelled(&mut self.procs[who].private[o as usize..]);
        }
        if let Some(o) = within(SHM_BASE, SHM_SIZE) {
            return Expect::Modelled(&mut self.shm[o as usize..]);
        }
        if let Some(o) = within(READONLY_BASE, READONLY_SIZE) {
            return Expect::ReadOnly(vec![0; (READONLY_SIZE - o) as usize]);
        }
        if let Some(o) = within(FILE_VIEW_BASE, FILE_SIZE) {
            return Expect::ReadOnly((o..FILE_SIZE).map(|i| (i % 251) as u8).collect());
        }
        if within(GUARD_BASE, 0x10000).is_some() {
            return Expect::Guard;
        }
        Expect::NotCommitted
    }

    fn read(&mut self, who: usize, va: u64, len: u64, step: usize) {
        let pid = self.procs[who].pid;
        let mut buf = vec![0u8; len as usize];
        let got = self.mm().read_memory(pid, va, &mut buf);
        let what = format!("step {step}: read {va:#x}+{len:#x} in pid {pid}");
        if len == 0 {
            assert_eq!(got.ok(), Some(0), "{what}");
            return;
        }
        match (self.expect(who, va), got) {
            (Expect::Modelled(want), Ok(n)) => {
                let n_want = want.len().min(len as usize);
                assert_eq!(n, n_want, "{what}: bytes done");
                assert!(buf[..n] == want[..n], "{what}: the bytes differ");
            }
            (Expect::ReadOnly(want), Ok(n)) => {
                assert_eq!(n, want.len().min(len as usize), "{what}: bytes done");
                assert!(buf[..n] == want[..n], "{what}: the bytes differ");
            }
            (Expect::Guard, Ok(n)) => assert!(n <= len as usize, "{what}"),
            (Expect::Guard | Expect::NotCommitted, Err(fault)) => {
                assert_eq!(errno_for_fault(&fault), Errno::EFAULT, "{what}: {fault:?}")
            }
            (e, got) => panic!("{what}: expected {}, got {got:?}", describe(&e)),
        }
    }

    fn write(&mut self, who: usize, va: u64, len: u64, fill: u8, step: usize) {
        let pid = self.procs[who].pid;
        // A pattern that differs from byte to byte and from write to write.
        let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add((i / 7) as u8)).collect();
        let got = self.mm().write_memory(pid, va, &data);
        let what = format!("step {step}: write {va:#x}+{len:#x} in pid {pid}");
        if len == 0 {
            assert_eq!(got.ok(), Some(0), "{what}");
            return;
        }
        match (self.expect(who, va), got) {
            (Expect::Modelled(model), Ok(n)) => {
                assert_eq!(n, model.len().min(len as usize), "{what}: bytes done");
                model[..n].copy_from_slice(&data[..n]);
            }
            (Expect::ReadOnly(_), Err(fault)) => {
                assert_eq!(errno_for_fault(&fault), Errno::EACCES, "{what}: {fault:?}")
            }
            (Expect::Guard, Ok(n)) => assert!(n <= len as usize, "{what}"),
            (Expect::Guard | Expect::NotCommitted, Err(fault)) => {
                assert_eq!(errno_for_fault(&fault), Errno::EFAULT, "{what}: {fault:?}")
            }
            (e, got) => panic!("{what}: expected {}, got {got:?}", describe(&e)),
        }
    }

    /// `fork`: the child starts with the parent's private bytes and shares `shm`.
    fn fork(&mut self, who: usize) {
        if self.procs.len() == MAX_PROCESSES {
            return;
        }
        self.forks += 1;
        let name = format!("child{}", self.forks);
        let parent = &self.procs[who];
        let pid = match self.mm().fork_process(parent.pid, &name) {
            Ok(pid) => pid,
            // 1 MB of RAM holds System's and three processes' working-set
            // minimums and kernel stacks: a fourth is refused, as NT would.
            Err(e) if e.status == crate::mm::NtStatus::INSUFFICIENT_RESOURCES => return,
            Err(e) => panic!("fork of pid {}: {}", parent.pid, e.message),
        };
        let private = parent.private.clone();
        self.procs.push(Proc { pid, private });
    }

    /// Every modelled byte of every process, read back at the end.
    fn check_everything(&self) {
        for p in &self.procs {
            let mut buf = vec![0u8; PRIVATE_SIZE as usize];
            let n = self.mm().read_memory(p.pid, PRIVATE_BASE, &mut buf);
            assert_eq!(n.ok(), Some(buf.len()), "pid {}: private region", p.pid);
            assert!(buf == p.private, "pid {}: the private bytes differ", p.pid);
            let mut buf = vec![0u8; SHM_SIZE as usize];
            let n = self.mm().read_memory(p.pid, SHM_BASE, &mut buf);
            assert_eq!(n.ok(), Some(buf.len()), "pid {}: shm view", p.pid);
            assert!(buf == self.shm, "pid {}: the shared bytes differ", p.pid);
        }
    }
}

fn describe(e: &Expect<'_>) -> &'static str {
    match e {
        Expect::Modelled(_) => "the modelled bytes",
        Expect::ReadOnly(_) => "read-only bytes (writes: EACCES)",
        Expect::Guard => "a guard-page result",
        Expect::NotCommitted => "EFAULT",
    }
}
