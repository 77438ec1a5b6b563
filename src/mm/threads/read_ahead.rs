//! The read-ahead thread (NT's CcPerformReadAhead, queued by copy reads to a
//! system worker thread): brings in what the read history said will be read
//! next (`cache/read_ahead.rs`). It runs when a copy read wakes it; with the
//! auto clock the file system's thread that answered the read may run the
//! pass first (`Mm::serve_read_ahead`), as NT's worker runs on the first
//! processor free.

use crate::mm::base::types::Pid;
use crate::mm::cache::read_ahead::perform;

use super::System;

/// One pass over the queued requests. Returns the pages brought in.
pub(super) fn pass(sys: System<'_>) -> u64 {
    match sys.processes.get(Pid::SYSTEM) {
        Ok(system) => perform(sys.m, sys.cache, &system),
        Err(_) => 0,
    }
}
