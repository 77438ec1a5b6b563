//! The body lives in the library (`mmfs::fuzzing::control`) so plain `cargo test` runs
//! it over seeded random inputs too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mmfs::fuzzing::control::control_commands(data));
