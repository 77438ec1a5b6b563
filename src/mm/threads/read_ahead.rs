//! The read-ahead thread (NT's CcPerformReadAhead, queued by copy reads to a
//! system worker thread): brings in what the read history said will be read
//! next (`cache/read_ahead.rs`). It runs when a copy read wakes it.

use crate::mm::cache::read_ahead::perform;

use super::System;

/// One pass over the queued requests. Returns the pages brought in.
pub(super) fn pass(sys: System<'_>) -> u64 {
    perform(sys.m, sys.cache)
}
