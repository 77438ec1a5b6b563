//! Random 4 KiB I/O for `tools/bench.sh`: OPS `pread`s or `pwrite`s of one page each
//! at page-aligned offsets inside `[BASE, BASE + SIZE)` of FILE, then the elapsed
//! seconds on stdout. The offsets come from a seeded xorshift, so mmfs and the
//! nullfs baseline see the same sequence.
//!
//!     cargo run --release --example randio -- FILE BASE SIZE OPS read|write [SEED]
//!
//! BASE and SIZE take K, M, G suffixes or 0x hex. Any short or failed transfer is
//! an error (exit 1): the timing only means something if every request was served.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::process::exit;
use std::time::Instant;

use mmfs::mm::testutil::XorShift;

const PAGE: u64 = 4096;
const DEFAULT_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

fn number(s: &str) -> u64 {
    mmfs::cmd::args::parse_size(s).unwrap_or_else(|e| {
        eprintln!("randio: {s}: {e}");
        exit(2)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: randio FILE BASE SIZE OPS read|write [SEED]");
        exit(2);
    }
    let (base, size, ops) = (number(&args[2]), number(&args[3]), number(&args[4]));
    let write = match args[5].as_str() {
        "read" => false,
        "write" => true,
        other => {
            eprintln!("randio: mode must be read or write, not {other}");
            exit(2)
        }
    };
    let seed = args.get(6).map(String::as_str).map_or(DEFAULT_SEED, number);
    let pages = size / PAGE;
    if base % PAGE != 0 || pages == 0 {
        eprintln!("randio: BASE must be page-aligned and SIZE at least one page");
        exit(2);
    }
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .open(&args[1])
        .unwrap_or_else(|e| {
            eprintln!("randio: {}: {e}", args[1]);
            exit(1)
        });
    let mut rng = XorShift(seed);
    let mut buf = vec![0x5au8; PAGE as usize];
    let start = Instant::now();
    for i in 0..ops {
        let at = base + (rng.next() % pages) * PAGE;
        let result = if write {
            buf[0] = i as u8;
            file.write_at(&buf, at)
        } else {
            file.read_at(&mut buf, at)
        };
        match result {
            Ok(n) if n == PAGE as usize => {}
            Ok(n) => {
                eprintln!("randio: short transfer at {at:#x}: {n} bytes");
                exit(1)
            }
            Err(e) => {
                eprintln!("randio: {} at {at:#x}: {e}", args[5]);
                exit(1)
            }
        }
    }
    println!("{:.6}", start.elapsed().as_secs_f64());
}
