//! The body lives in the library (`mmfs::fuzzing::mem`) so plain `cargo test` runs
//! it over seeded random inputs too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mmfs::fuzzing::mem::mem_access(data));
