//! The read-ahead thread (NT's CcPerformReadAhead, queued by copy reads to a
//! system worker thread): brings in what the read history said will be read
//! next (`cache/read_ahead.rs`). It runs when a copy read wakes it, and only
//! on this thread, as NT queues it to a system worker thread: never on the
//! thread that asked. Tried otherwise (2026-12-04, docs/PERFORMANCE.md): the
//! file system's thread ran the pass itself after answering the read when
//! the system threads had not started it yet; on two cores, cold 1 MiB reads
//! were 10 to 17% slower than with the pass left to this thread, and 98%
//! rather than 87% of a cold `cat` was read ahead with both cores busy.

use crate::mm::base::types::Pid;
use crate::mm::cache::read_ahead::perform;

use super::System;

/// One pass over the queued requests. Returns the pages brought in.
pub(super) fn pass(sys: System<'_>) -> u64 {
    let system = sys.processes.get(Pid::SYSTEM).ok();
    perform(sys.m, sys.cache, system.as_deref())
}
