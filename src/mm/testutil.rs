//! Helpers shared by the core's tests (and the benchmark examples).

/// Marsaglia's xorshift64: deterministic and dependency-free, so a failing random
/// test replays from the seed it prints.
pub struct XorShift(pub u64);

impl XorShift {
    // Not `Iterator::next`: the stream never ends, so no `Option`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        // Zero is xorshift's one fixed point: a zero seed would repeat 0 forever.
        let mut x = if self.0 == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            self.0
        };
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// NtAllocateVirtualMemory of `size` read-write bytes at `at` (0: the system
/// chooses), reserved and, if `commit`, committed; the base. Panics on
/// failure: for tests that set a machine up.
pub fn reserve(
    mm: &crate::mm::Mm,
    pid: crate::mm::base::types::Pid,
    at: u64,
    size: u64,
    commit: bool,
) -> u64 {
    let mut r = crate::mm::vad::AllocRequest::new(
        at,
        size,
        crate::mm::base::protection::Protection::READWRITE,
    );
    r.reserve = true;
    r.commit = commit;
    mm.allocate(pid, &r).unwrap().0.0
}

/// Writes one byte into each of `pages` pages from `va` (a demand-zero fault,
/// or a dirty bit, per page).
pub fn dirty_pages(mm: &crate::mm::Mm, pid: crate::mm::base::types::Pid, va: u64, pages: u64) {
    for i in 0..pages {
        mm.write_memory(pid, va + i * crate::mm::base::types::PAGE_SIZE, &[0x5a])
            .unwrap();
    }
}
