//! The executive pool: headers in simulated RAM, split and merge, big pages,
//! special pool, paged pool paging out and back, the error paths, and a
//! random sequence against a model of the live blocks.

use std::collections::BTreeMap;

use crate::mm::Mm;
use crate::mm::base::config::MmConfig;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pid};
use crate::mm::fault::FaultKind;
use crate::mm::kernel::pool::PoolType::{NonPaged, Paged};
use crate::mm::kernel::pool::header::Geometry;
use crate::mm::kernel::pool::{PoolType, SPECIAL_POOL_PATTERN};
use crate::mm::pfn::PageUse;
use crate::mm::testutil::XorShift;
use crate::mm::{NtStatus, WithStatus};

use super::{assert_verified, env_u64, meminfo};

const ARCHES: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];

fn machine(arch: Arch, ram: u64) -> Mm {
    Mm::new(MmConfig::for_tests(ram, arch)).unwrap()
}

/// The header in front of a small block, decoded from the simulated bytes.
fn header(mm: &Mm, addr: u64) -> crate::mm::kernel::pool::PoolHeader {
    let g = Geometry::new(mm.layout().arch());
    let mut raw = [0u8; 16];
    let at = addr - g.header;
    mm.read_kernel_memory(at, &mut raw[..g.header as usize])
        .unwrap();
    g.decode(&raw)
}

fn read(mm: &Mm, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    assert_eq!(mm.read_kernel_memory(addr, &mut buf), Ok(len));
    buf
}

/// Which pool state pages are used for (frames with that use, as usecounts).
fn frames_used_for(mm: &Mm, use_: PageUse) -> u64 {
    let st = mm.machine().pfn_lock();
    (0..st.db.pages())
        .filter(|&p| st.db.page_use(crate::mm::base::types::Pfn(p)) == use_)
        .filter(|&p| {
            st.db
                .location(crate::mm::base::types::Pfn(p))
                .is_some_and(|l| !l.is_list())
        })
        .count() as u64
}

#[test]
fn blocks_split_and_merge_with_headers_in_ram() {
    for arch in ARCHES {
        let mm = machine(arch, 16 << 20);
        let g = Geometry::new(arch);
        let commit = meminfo(&mm, "CommitCharge");
        let a = mm.pool_alloc(Paged, 100, "Abcd").unwrap();
        let b = mm.pool_alloc(Paged, 40, "Efgh").unwrap();
        assert_eq!(a % PAGE_SIZE, g.header, "the first block starts the page");
        assert_eq!(b, a + u64::from(g.units_for(100)) * g.unit, "{arch:?}");
        let ha = header(&mm, a);
        assert_eq!(
            (ha.previous_size, ha.block_size, ha.pool_type),
            (0, g.units_for(100), 2)
        );
        assert_eq!(ha.tag.0, *b"Abcd");
        let hb = header(&mm, b);
        assert_eq!(
            (hb.previous_size, hb.block_size),
            (g.units_for(100), g.units_for(40))
        );
        assert_eq!(meminfo(&mm, "PagedPoolPages"), 1);
        assert_eq!(meminfo(&mm, "CommitCharge"), commit + 1);
        assert_eq!(frames_used_for(&mm, PageUse::PagedPool), 1);
        assert_verified(&mm);
        mm.pool_free(a).unwrap();
        assert_eq!(header(&mm, a).pool_type, 0, "a free block reads PoolType 0");
        let c = mm.pool_alloc(Paged, 24, "Ijkl").unwrap();
        assert_eq!(c, a, "the freed block is reused (split)");
        assert_verified(&mm);
        mm.pool_free(b).unwrap();
        mm.pool_free(c).unwrap();
        assert_eq!(meminfo(&mm, "PagedPoolPages"), 0, "an empty page goes back");
        assert_eq!(meminfo(&mm, "CommitCharge"), commit);
        assert_eq!(frames_used_for(&mm, PageUse::PagedPool), 0);
        let used = mm.pool_used();
        let abcd = used.iter().find(|r| r.tag == "Abcd").unwrap();
        assert_eq!(
            (abcd.paged_allocs, abcd.paged_frees, abcd.paged_bytes),
            (1, 1, 0)
        );
        assert_verified(&mm);
    }
}

#[test]
fn nonpaged_pool_is_resident_and_in_no_working_set() {
    for arch in ARCHES {
        let mm = machine(arch, 16 << 20);
        let resident = meminfo(&mm, "ResidentAvailablePages");
        let a = mm.pool_alloc(NonPaged, 64, "Np").unwrap();
        mm.write_kernel_memory(a, b"resident").unwrap();
        assert_eq!(meminfo(&mm, "NonPagedPoolPages"), 1);
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident - 1);
        assert_eq!(frames_used_for(&mm, PageUse::NonPagedPool), 1);
        let range = mm
            .layout()
            .region_of(crate::mm::base::types::Va(a))
            .unwrap()
            .name;
        let want = if arch == Arch::X64 {
            "nonpaged-pool"
        } else {
            "nonpaged-pool-expansion"
        };
        assert_eq!(range, want);
        mm.empty_working_sets();
        mm.flush_modified();
        mm.empty_standby();
        assert_eq!(
            frames_used_for(&mm, PageUse::NonPagedPool),
            1,
            "never trimmed"
        );
        assert_eq!(read(&mm, a, 8), b"resident");
        assert_verified(&mm);
        mm.pool_free(a).unwrap();
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident);
        assert_eq!(frames_used_for(&mm, PageUse::NonPagedPool), 0);
        assert_verified(&mm);
    }
}

#[test]
fn paged_pool_pages_out_and_faults_back() {
    for arch in ARCHES {
        let mm = machine(arch, 4 << 20);
        let mut blocks = Vec::new();
        for i in 0..40u8 {
            let a = mm.pool_alloc(Paged, 1000, "Page").unwrap();
            mm.write_kernel_memory(a, &[i; 1000]).unwrap();
            blocks.push((a, i));
        }
        let written = mm
            .machine()
            .counters
            .pages_written_to_pagefile
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(mm.empty_working_sets() > 0);
        mm.flush_modified();
        mm.empty_standby();
        assert_eq!(
            frames_used_for(&mm, PageUse::PagedPool),
            0,
            "{arch:?}: all paged out"
        );
        let now = mm
            .machine()
            .counters
            .pages_written_to_pagefile
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(now >= written + 10, "{arch:?}: written {written} -> {now}");
        assert_verified(&mm);
        let hard = mm
            .machine()
            .counters
            .hard_faults
            .load(std::sync::atomic::Ordering::Relaxed);
        for &(a, i) in &blocks {
            assert_eq!(header(&mm, a).tag.0, *b"Page");
            assert_eq!(read(&mm, a, 1000), vec![i; 1000]);
        }
        let hard_after = mm
            .machine()
            .counters
            .hard_faults
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(hard_after > hard, "headers came back through hard faults");
        assert!(frames_used_for(&mm, PageUse::PagedPool) >= 10);
        assert_verified(&mm);
        // Freeing a paged-out page gives its slot back.
        mm.empty_working_sets();
        mm.flush_modified();
        for &(a, _) in &blocks {
            mm.pool_free(a).unwrap();
        }
        assert_eq!(meminfo(&mm, "PagedPoolPages"), 0);
        assert_verified(&mm);
    }
}

#[test]
fn big_allocations_take_whole_pages_without_a_header() {
    for arch in ARCHES {
        let mm = machine(arch, 16 << 20);
        let g = Geometry::new(arch);
        let a = mm.pool_alloc(NonPaged, g.buddy_max() + 1, "Big1").unwrap();
        assert_eq!(a % PAGE_SIZE, 0);
        let b = mm.pool_alloc(Paged, 3 * PAGE_SIZE + 1, "Big2").unwrap();
        assert_eq!(meminfo(&mm, "PagedPoolPages"), 4);
        assert_eq!(meminfo(&mm, "NonPagedPoolPages"), 1);
        let rows = mm.pool_allocations();
        assert!(
            rows.iter()
                .any(|r| r.address == b && r.state == "big" && r.tag == "Big2")
        );
        mm.write_kernel_memory(b + 3 * PAGE_SIZE, b"x").unwrap();
        assert_verified(&mm);
        let used = mm.pool_used();
        assert_eq!(
            used.iter().find(|r| r.tag == "Big2").unwrap().paged_bytes,
            4 * PAGE_SIZE
        );
        mm.pool_free(a).unwrap();
        mm.pool_free(b).unwrap();
        assert_eq!(
            meminfo(&mm, "PagedPoolPages") + meminfo(&mm, "NonPagedPoolPages"),
            0
        );
        assert_verified(&mm);
    }
}

#[test]
fn special_pool_catches_overruns() {
    for arch in ARCHES {
        let mm = machine(arch, 16 << 20);
        let g = Geometry::new(arch);
        mm.pool_special(Some("Spcl")).unwrap();
        for ty in PoolType::ALL {
            let a = mm.pool_alloc(ty, 100, "Spcl").unwrap();
            assert_eq!(a % PAGE_SIZE, PAGE_SIZE - 100u64.div_ceil(g.unit) * g.unit);
            let slack = read(&mm, a - 8, 8);
            assert_eq!(slack, vec![SPECIAL_POOL_PATTERN; 8]);
            mm.write_kernel_memory(a, &[1; 100]).unwrap();
            let page_end = a / PAGE_SIZE * PAGE_SIZE + PAGE_SIZE;
            let past = mm.write_kernel_memory(page_end, b"!").unwrap_err();
            assert_eq!(past.kind, FaultKind::NotCommitted, "the guard page");
            assert_verified(&mm);
            mm.pool_free(a).unwrap();
            // Corrupt the slack in front of the next one.
            let b = mm.pool_alloc(ty, 100, "Spcl").unwrap();
            let events = mm.events().subscribe();
            mm.write_kernel_memory(b - 1, b"!").unwrap();
            let e = mm.pool_free(b).unwrap_err();
            assert_eq!(e.status, NtStatus::DATA_ERROR);
            assert!(
                e.message
                    .contains("SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION"),
                "{e}"
            );
            let text = String::from_utf8(events.take(1 << 16)).unwrap();
            assert!(
                text.contains("pool.special-corruption bugcheck=0xc1"),
                "{text}"
            );
            assert_eq!(
                mm.pool_free(b).unwrap_err().status,
                NtStatus::MEMORY_NOT_ALLOCATED,
                "freed anyway"
            );
            assert_verified(&mm);
        }
        mm.pool_special(None).unwrap();
        let c = mm.pool_alloc(Paged, 100, "Spcl").unwrap();
        assert_eq!(c % PAGE_SIZE, g.header, "an ordinary block again");
        assert_eq!(meminfo(&mm, "PagedPoolPages"), 1);
        mm.pool_free(c).unwrap();
    }
}

/// What a user can see of the pool: every block, the tag table, meminfo.
fn pool_picture(mm: &Mm) -> String {
    let info: Vec<_> = mm
        .meminfo()
        .into_iter()
        .filter(|(k, _)| {
            k.contains("Pool") || *k == "CommitCharge" || *k == "ResidentAvailablePages"
        })
        .collect();
    format!(
        "{:?}\n{:?}\n{info:?}",
        mm.pool_allocations(),
        mm.pool_used()
    )
}

#[test]
fn bad_requests_fail_and_change_nothing() {
    let mm = machine(Arch::X86, 16 << 20);
    let keep = mm.pool_alloc(Paged, 64, "Keep").unwrap();
    let before = pool_picture(&mm);
    let e = |r: crate::mm::MmResult<u64>| r.unwrap_err().status;
    assert_eq!(
        e(mm.pool_alloc(Paged, 0, "Zero")),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        e(mm.pool_alloc(Paged, 1 << 40, "Huge")),
        NtStatus::INSUFFICIENT_RESOURCES
    );
    assert_eq!(
        e(mm.pool_alloc(Paged, 8, "Tooo long")),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(e(mm.pool_alloc(Paged, 8, "")), NtStatus::INVALID_PARAMETER);
    assert_eq!(
        mm.pool_free(keep + 8).unwrap_err().status,
        NtStatus::MEMORY_NOT_ALLOCATED
    );
    assert_eq!(
        mm.pool_free(0x1234).unwrap_err().status,
        NtStatus::MEMORY_NOT_ALLOCATED
    );
    assert!(mm.pool_special(Some("bad tag")).is_err());
    assert_eq!(pool_picture(&mm), before);
    mm.pool_free(keep).unwrap();
    assert_eq!(
        mm.pool_free(keep).unwrap_err().status,
        NtStatus::MEMORY_NOT_ALLOCATED,
        "double free"
    );
    assert_verified(&mm);
    let _ = WithStatus::success(());
}

#[test]
fn exhaustion_fails_with_insufficient_resources_and_changes_nothing() {
    for arch in ARCHES {
        // 8 MB of RAM: 1 MB + 4 × 400 KB of non-paged pool.
        let mm = machine(arch, 8 << 20);
        let mut held = Vec::new();
        let failure = loop {
            match mm.pool_alloc(NonPaged, 64 << 10, "Fill") {
                Ok(a) => held.push(a),
                Err(e) => break e,
            }
            assert!(held.len() < 1000, "non-paged pool never ran out");
        };
        assert_eq!(
            failure.status,
            NtStatus::INSUFFICIENT_RESOURCES,
            "{failure}"
        );
        let before = pool_picture(&mm);
        assert!(mm.pool_alloc(NonPaged, 64 << 10, "Fill").is_err());
        assert_eq!(pool_picture(&mm), before);
        assert_verified(&mm);
        for a in held {
            mm.pool_free(a).unwrap();
        }
        assert_eq!(meminfo(&mm, "NonPagedPoolPages"), 0);
        assert_verified(&mm);
    }
}

/// Random allocations and frees of both types, small, big and special, with
/// the paged pool trimmed and written out between steps; each live block's
/// bytes and header are checked against the model, and verify runs after
/// every step. `MMFS_SEED` replays another seed.
#[test]
fn random_pool_sequences_match_the_model() {
    let seed = env_u64("MMFS_SEED").unwrap_or(0x9001);
    for arch in ARCHES {
        let mm = machine(arch, 2 << 20);
        let g = Geometry::new(arch);
        let mut rng = XorShift(seed);
        // address -> (type, size, fill byte)
        let mut model: BTreeMap<u64, (PoolType, u64, u8)> = BTreeMap::new();
        for step in 0..300u64 {
            let pick = rng.below(100);
            if pick < 55 || model.is_empty() {
                let ty = if rng.below(2) == 0 { Paged } else { NonPaged };
                let size = match rng.below(10) {
                    0 => 1 + rng.below(3 * PAGE_SIZE),
                    1 => g.buddy_max() - rng.below(3),
                    _ => 1 + rng.below(300),
                };
                if rng.below(12) == 0 {
                    mm.pool_special(Some("Rnd")).unwrap();
                }
                let tag = ["Rnd", "Aa", "Bbbb"][rng.below(3) as usize];
                let a = mm.pool_alloc(ty, size, tag).unwrap();
                mm.pool_special(None).unwrap();
                let fill = (step % 251) as u8;
                mm.write_kernel_memory(a, &vec![fill; size as usize])
                    .unwrap();
                for (&b, &(_, bsize, _)) in model.range(..a + size).rev().take(1) {
                    assert!(b + bsize <= a, "seed {seed}: {a:#x} overlaps {b:#x}");
                }
                model.insert(a, (ty, size, fill));
            } else if pick < 90 {
                let i = rng.below(model.len() as u64) as usize;
                let (&a, _) = model.iter().nth(i).unwrap();
                mm.pool_free(a).unwrap();
                model.remove(&a);
            } else {
                mm.empty_working_sets();
                mm.flush_modified();
                if rng.below(2) == 0 {
                    mm.empty_standby();
                }
            }
            for (&a, &(ty, size, fill)) in &model {
                if size <= g.buddy_max()
                    && a % PAGE_SIZE == g.header
                    && mm
                        .pool_allocations()
                        .iter()
                        .any(|r| r.address == a && r.state == "allocated")
                {
                    assert_eq!(header(&mm, a).pool_type, ty.header_value());
                }
                assert_eq!(
                    read(&mm, a, size as usize),
                    vec![fill; size as usize],
                    "seed {seed} step {step} {arch:?} block {a:#x}"
                );
            }
            let r = mm.verify();
            assert!(
                r.ok(),
                "seed {seed} step {step} {arch:?}:\n{}",
                r.violations.join("\n")
            );
        }
        let live: usize = mm
            .pool_allocations()
            .iter()
            .filter(|r| r.state != "free")
            .count();
        assert_eq!(live, model.len());
        let _ = Pid::SYSTEM;
    }
}

#[test]
fn headers_overwritten_through_kernel_mem_never_crash_the_allocator() {
    // A driver's stray writes over pool headers: the allocator trusts no
    // header its own lists do not confirm, so allocations and frees go on
    // (or fail with a status), and nothing panics.
    for arch in [Arch::X86, Arch::X64] {
        let mm = machine(arch, 4 << 20);
        let mut rng = XorShift(0x5eed_0000 + arch as u64);
        let mut live: Vec<u64> = Vec::new();
        let (mut allocated, mut scribbled) = (0, 0);
        for step in 0..2000 {
            match rng.below(4) {
                0 | 1 => {
                    let ty = if rng.below(2) == 0 { Paged } else { NonPaged };
                    if let Ok(a) = mm.pool_alloc(ty, 1 + rng.below(600), "Junk") {
                        live.push(a);
                        allocated += 1;
                    }
                }
                2 if !live.is_empty() => {
                    let a = live.swap_remove(rng.below(live.len() as u64) as usize);
                    // A corrupted neighbour may make the free fail; it never panics.
                    let _ = mm.pool_free(a);
                }
                _ if !live.is_empty() => {
                    let a = live[rng.below(live.len() as u64) as usize];
                    let at = a.wrapping_sub(rng.below(64));
                    let junk = rng.next().to_le_bytes();
                    if mm
                        .write_kernel_memory(at, &junk[..1 + rng.below(8) as usize])
                        .is_ok()
                    {
                        scribbled += 1;
                    }
                }
                _ => {}
            }
            if step % 500 == 0 {
                // Verify may report the corruption; it must not panic either.
                let _ = mm.verify();
            }
        }
        assert!(
            allocated > 500 && scribbled > 200,
            "{arch:?}: {allocated} {scribbled}"
        );
        for a in live {
            let _ = mm.pool_free(a);
        }
        let _ = mm.verify();
    }
}
