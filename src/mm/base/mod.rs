//! Layer 0, the base: what every other part of the core speaks in. Numbers
//! with their own types (addresses, frames, pids), NT status codes, page
//! protections, the configuration, the simulated clock, the counters, the
//! event trace and the system threads' wake-up events. Nothing here knows of
//! page tables, frames in use or processes.

// First: `mm_err!` is used by the modules below (textual macro scope).
#[macro_use]
pub mod status;
pub mod clock;
pub mod config;
pub mod counters;
pub mod events;
pub mod protection;
pub mod token;
pub mod types;
pub mod wakeups;
