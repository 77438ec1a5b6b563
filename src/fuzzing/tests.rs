//! The fuzz bodies over seeded random inputs, in plain `cargo test`: random bytes,
//! and mutations of valid commands and paths (tokens swapped, dropped, cut short,
//! numbers made huge, negative or overflowing). `MMFS_SEED=N` replays another seed.

use super::control::control_commands;
use super::mem::mem_access;
use super::paths::fs_paths;
use crate::mm::testutil::XorShift;

fn seed() -> u64 {
    std::env::var("MMFS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f022)
}

/// Valid commands from SPEC §5, §7, §8 and the README, for every control file
/// (each body writes every line to every control file, so all are tried everywhere).
const COMMANDS: &[&str] = &[
    "alloc 0 1M reserve,commit readwrite",
    "alloc 0x500000 64K reserve,commit readwrite",
    "alloc 0 64K reserve,commit,top-down execute-readwrite+guard",
    "alloc 0 64K reserve,write-watch PAGE_READWRITE",
    "alloc 0x10000 4K commit readwrite",
    "free 0x10000 4K decommit",
    "free 0x30000 0 release",
    "protect 0x10000 4K readonly",
    "protect 0x60000 8K readwrite+nocache",
    "lock 0x10000 8K",
    "unlock 0x10000 8K",
    "ws-limits 1M 4M",
    "ws-limits 200K 400K hard",
    "trim",
    "map shm 0 0 0 readwrite",
    "map file 0 4K 4K writecopy",
    "unmap 0x100000",
    "flush 0x200000 0",
    "reset-write-watch 0x10000 4K",
    "fork child",
    "outswap",
    "inswap",
    "awe-alloc 4",
    "help",
    "tick",
    "tick 20",
    "tick 0.25",
    "run modified-page-writer",
    "run zero-page-thread",
    "empty-working-sets",
    "empty-standby",
    "flush-modified",
    "bad-page 0x10",
    "inject pagefile-write eio 2",
    "inject mapped-read eio 1",
    "create shm2 64K",
    "create nums 0 file=data.bin",
    "create ro 0x3000 prot=readonly",
    "create extra.sys 4M 8M",
    "extend 128K",
    "extend 16K",
    "no-write",
    "allow-write",
    "probe-and-lock app 0x10000 8K write",
    "probe-and-lock 8 0x10000 4K read",
    "allocate-pages 3",
    "map 1",
    "unmap 1",
    "unlock 1",
    "free 1",
    "alloc paged 100 Fuzz",
    "alloc nonpaged 5000 Big",
    "special Fuzz",
    "special none",
    "free 0xe1000008",
];

/// Numbers a hostile user might type.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0x10",
    "0x",
    "0x8000000000000000",
    "0xffffffffffffffff",
    "0xffffffffffffffffff",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999G",
    "17179869184G",
    "16777216T",
    "1T",
    "4096K",
    "1.5",
    "1e9",
    "0x7ffeffff",
    "0x7fff0000",
    "4095",
    "_",
    "0x_",
];

/// One random token: a number, a known word, or garbage bytes.
fn token(rng: &mut XorShift) -> Vec<u8> {
    match rng.below(4) {
        0 => NUMBERS[rng.below(NUMBERS.len() as u64) as usize]
            .as_bytes()
            .to_vec(),
        1 => {
            let line = COMMANDS[rng.below(COMMANDS.len() as u64) as usize];
            let words: Vec<&str> = line.split(' ').collect();
            words[rng.below(words.len() as u64) as usize]
                .as_bytes()
                .to_vec()
        }
        2 => format!("{:#x}", rng.next() >> rng.below(64)).into_bytes(),
        _ => random_bytes(rng, 12),
    }
}

/// Up to `max` bytes, weighted towards what parsers trip on.
fn random_bytes(rng: &mut XorShift, max: u64) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n)
        .map(|_| match rng.below(8) {
            0 => b'\n',
            1 => b' ',
            2 => 0,
            3 => b"=,+#.-_x0\t\r"[rng.below(11) as usize],
            4 => 0x80 | rng.below(0x80) as u8,
            _ => rng.next() as u8,
        })
        .collect()
}

/// A valid command, mutated a few times.
fn mutated_command(rng: &mut XorShift) -> Vec<u8> {
    let line = COMMANDS[rng.below(COMMANDS.len() as u64) as usize];
    let mut words: Vec<Vec<u8>> = line.split(' ').map(|w| w.as_bytes().to_vec()).collect();
    for _ in 0..rng.below(4) {
        let i = rng.below(words.len() as u64) as usize;
        match rng.below(8) {
            0 => words[i] = token(rng),
            1 if words.len() > 1 => {
                let j = rng.below(words.len() as u64) as usize;
                words.swap(i, j);
            }
            2 if words.len() > 1 => {
                words.remove(i);
            }
            3 => words.insert(i, token(rng)),
            4 => {
                let cut = rng.below(words[i].len() as u64 + 1) as usize;
                words[i].truncate(cut);
            }
            5 => words[i].make_ascii_uppercase(),
            6 => words.push(format!("k{}=v", rng.below(3)).into_bytes()),
            _ => {
                let at = rng.below(words[i].len() as u64 + 1) as usize;
                words[i].insert(at, rng.next() as u8);
            }
        }
    }
    let mut out = words.join(&b' ');
    if rng.below(8) == 0 {
        let cut = rng.below(out.len() as u64 + 1) as usize;
        out.truncate(cut);
    }
    out
}

/// Several mutated commands, one write, maybe an arch comment first and no
/// final newline.
fn mutated_script(rng: &mut XorShift) -> Vec<u8> {
    let mut out = match rng.below(4) {
        0 => b"#x64\n".to_vec(),
        1 => b"#pae\n".to_vec(),
        _ => Vec::new(),
    };
    for _ in 0..1 + rng.below(6) {
        out.extend(mutated_command(rng));
        out.push(b'\n');
    }
    if rng.below(3) == 0 {
        out.pop();
    }
    out
}

#[test]
fn random_bytes_to_every_control_file() {
    let mut rng = XorShift(seed());
    for _ in 0..1500 {
        control_commands(&random_bytes(&mut rng, 300));
    }
    // Lines too long to buffer, with and without their newline.
    let mut long = vec![b'a'; crate::fs::control::MAX_LINE + 10];
    control_commands(&long);
    long.push(b'\n');
    long.extend(b"tick\n");
    control_commands(&long);
}

#[test]
fn mutated_commands_to_every_control_file() {
    let mut rng = XorShift(seed() ^ 1);
    for _ in 0..2000 {
        control_commands(&mutated_script(&mut rng));
    }
}

/// Lookup-only names and near misses, for paths that leave the listed tree.
const NAMES: &[&str] = &[
    "0x10000",
    "0x100000",
    "0x7ffeffff",
    "0x80000000",
    "0x3",
    "0xff",
    "08",
    "+8",
    "System",
    "README",
    "..",
    ".",
    "",
];

/// A path that mostly follows names the directories list, with detours.
fn random_path(rng: &mut XorShift) -> Vec<u8> {
    use crate::fs::node::{self, Dir, Node};
    let mm = &super::paths::fixture().mm;
    let mut dir = Some(Dir::Root);
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for _ in 0..rng.below(8) {
        let listed = dir.map(|d| node::list(mm, d)).unwrap_or_default();
        // pfn/<PFN> and pte/<VA> resolve any number in range.
        let numbered = matches!(dir, Some(Dir::Pfn | Dir::PteDir(_)));
        let pick = if numbered && rng.below(2) == 0 {
            2
        } else {
            rng.below(7)
        };
        let (name, next) = match pick {
            0 => (token(rng), None),
            2 => {
                let bits = rng.below(33);
                let n = rng.below(1 << bits);
                (format!("{n:#x}").into_bytes(), None)
            }
            1 => (
                NAMES[rng.below(NAMES.len() as u64) as usize]
                    .as_bytes()
                    .to_vec(),
                None,
            ),
            _ if !listed.is_empty() => {
                let (name, found) = &listed[rng.below(listed.len() as u64) as usize];
                let next = match found {
                    Node::Dir(d) => Some(*d),
                    _ => None,
                };
                (name.as_bytes().to_vec(), next)
            }
            _ => (random_bytes(rng, 8), None),
        };
        parts.push(name);
        dir = next;
    }
    parts.join(&b'/')
}

#[test]
fn random_paths_walk_and_render() {
    let mut rng = XorShift(seed() ^ 2);
    for _ in 0..3000 {
        fs_paths(&random_path(&mut rng));
    }
    for _ in 0..500 {
        fs_paths(&random_bytes(&mut rng, 64));
    }
    // The lookup-only files at any number, in and out of range.
    for i in 0..1000 {
        let bits = rng.below(65);
        let n = rng.next() >> (64 - bits).min(63);
        let path = match i % 3 {
            0 => format!("processes/app/pte/{n:#x}"),
            1 => format!("pids/4/pte/{n}"),
            _ => format!("pfn/{n:#x}"),
        };
        fs_paths(path.as_bytes());
    }
}

#[test]
fn random_memory_programs_match_the_model() {
    let mut rng = XorShift(seed() ^ 3);
    for _ in 0..100 {
        let n = rng.below(400);
        let program: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        mem_access(&program);
    }
}

/// Every argument of every command replaced by every edge number in turn (one
/// input per arch, command and position, a line per number).
#[test]
fn edge_numbers_in_every_argument() {
    let mut inputs = 0;
    for (arch, line) in ["", "#pae\n", "#x64\n"]
        .iter()
        .flat_map(|a| COMMANDS.iter().map(move |c| (a, c)))
    {
        let words: Vec<&str> = line.split(' ').collect();
        for at in 1..words.len() {
            let mut script = arch.as_bytes().to_vec();
            for number in NUMBERS
                .iter()
                .chain(&["0xfffffffffffff000", "0x7fff0000", "4G"])
            {
                let mut w = words.clone();
                w[at] = number;
                script.extend(w.join(" ").into_bytes());
                script.push(b'\n');
            }
            control_commands(&script);
            inputs += 1;
        }
    }
    assert!(inputs > 180, "{inputs}");
}
