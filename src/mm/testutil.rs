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
