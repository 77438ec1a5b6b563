//! The virtual address space layout of each simulated architecture, for the
//! `system/layout` table (`# start end region`).
//!
//! x86 follows the Windows Research Kernel (Server 2003 SP1) `mi386.h` and the seed
//! slides' table; x64 follows WRK `miamd.h`, with the fixed self-map at PML4 index 0x1ED
//! used until Windows 10 1511. Real NT sizes several of these regions at boot from the
//! amount of RAM and registry values; the boundaries here are the WRK defaults.

use super::pte::{Level, PteFormat};
use crate::mm::base::types::{ALLOCATION_GRANULARITY, Arch, Va};

/// One named range of virtual addresses, `end` inclusive.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub name: &'static str,
}

impl Region {
    pub fn contains(&self, va: u64) -> bool {
        (self.start..=self.end).contains(&va)
    }

    pub fn size(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// Region names, so callers can look regions up without repeating strings.
pub mod names {
    pub const NULL_GUARD: &str = "null-guard";
    pub const USER_SPACE: &str = "user-space";
    pub const USER_GUARD: &str = "user-guard";
    pub const SYSTEM_CODE: &str = "system-code-initial-nonpaged-pool";
    pub const SESSION_SPACE: &str = "session-space";
    pub const OVERFLOW: &str = "system-ptes-and-cache-overflow";
    pub const PAGE_TABLES: &str = "self-mapped-page-tables";
    pub const HYPERSPACE: &str = "hyperspace";
    pub const UNUSED: &str = "unused-no-access";
    pub const SHARED_USER_DATA: &str = "shared-user-data";
    pub const SYSTEM_WORKING_SET_LIST: &str = "system-working-set-list";
    pub const SYSTEM_CACHE: &str = "system-cache";
    pub const PAGED_POOL: &str = "paged-pool";
    pub const SYSTEM_PTES: &str = "system-ptes";
    pub const NON_PAGED_POOL_EXPANSION: &str = "nonpaged-pool-expansion";
    pub const NON_PAGED_POOL: &str = "nonpaged-pool";
    pub const CRASH_DUMP: &str = "crash-dump";
    pub const HAL_RESERVED: &str = "hal-reserved";
    pub const HAL: &str = "hal";
}

use names::*;

/// The first 64 KB is never allocatable, so NULL-pointer dereferences always fault.
pub const MM_LOWEST_USER_ADDRESS: u64 = 0x1_0000;

/// The address space of one simulated machine.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Layout {
    arch: Arch,
    three_gb: bool,
    highest_user_address: u64,
    system_range_start: u64,
    regions: Vec<Region>,
    /// The paged pool region, looked at on every fault in system space
    /// (`is_paged_pool`), so kept apart from the list it is in.
    paged_pool: Option<Region>,
}

impl Layout {
    /// `three_gb` is the boot.ini /3GB switch; it only exists on 32-bit x86 (with or
    /// without PAE) and is ignored on x64.
    pub fn new(arch: Arch, three_gb: bool) -> Layout {
        let three_gb = three_gb && arch != Arch::X64;
        let (highest_user_address, system_range_start, system) = match (arch, three_gb) {
            (Arch::X64, _) => (0x7FF_FFFE_FFFF, 0xFFFF_0800_0000_0000, x64_system()),
            (_, false) => (0x7FFE_FFFF, 0x8000_0000, x86_system(arch == Arch::Pae)),
            (_, true) => (0xBFFE_FFFF, 0xC000_0000, x86_3gb_system(arch == Arch::Pae)),
        };
        let user_probe = highest_user_address + 1;
        let mut regions = vec![
            region(0, MM_LOWEST_USER_ADDRESS - 1, NULL_GUARD),
            region(MM_LOWEST_USER_ADDRESS, highest_user_address, USER_SPACE),
            region(
                user_probe,
                user_probe + ALLOCATION_GRANULARITY - 1,
                USER_GUARD,
            ),
        ];
        regions.extend(system);
        let paged_pool = regions.iter().find(|r| r.name == PAGED_POOL).copied();
        Layout {
            arch,
            three_gb,
            highest_user_address,
            system_range_start,
            regions,
            paged_pool,
        }
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }

    pub fn three_gb(&self) -> bool {
        self.three_gb
    }

    /// Sorted by address and non-overlapping. On x86 they cover all 4 GB; on x64 the
    /// ranges not listed (the non-canonical hole, unused system space) are unusable.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    pub fn region_of(&self, va: Va) -> Option<&Region> {
        self.regions.iter().find(|r| r.contains(va.0))
    }

    pub fn region_named(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// MM_LOWEST_USER_ADDRESS: 0x10000 on every architecture.
    pub fn lowest_user_address(&self) -> u64 {
        MM_LOWEST_USER_ADDRESS
    }

    /// MM_HIGHEST_USER_ADDRESS: 0x7FFEFFFF (0xBFFEFFFF with /3GB) on x86 and PAE,
    /// 0x7FF'FFFEFFFF (8 TB minus 64 KB) on x64.
    pub fn highest_user_address(&self) -> u64 {
        self.highest_user_address
    }

    /// MM_HIGHEST_VAD_ADDRESS: the highest address a VAD may cover, 64 KB below
    /// the highest user address (0x7FFDFFFF on x86). NtAllocateVirtualMemory
    /// refuses a base above it and top-down placement starts there; the 64 KB
    /// above hold the shared user data page (KUSER_SHARED_DATA at 0x7FFE0000).
    pub fn highest_vad_address(&self) -> u64 {
        self.highest_user_address - ALLOCATION_GRANULARITY
    }

    /// MM_USER_PROBE_ADDRESS: the start of the 64 KB no-access area above user space.
    /// Probing user buffers against it means a buffer can never reach system space.
    pub fn user_probe_address(&self) -> u64 {
        self.highest_user_address + 1
    }

    /// MmSystemRangeStart. On x64 this is WRK's 0xFFFF0800'00000000, which lies in the
    /// non-canonical hole; the first usable system address is the page-table self-map.
    pub fn system_range_start(&self) -> u64 {
        self.system_range_start
    }

    pub fn is_user_address(&self, va: Va) -> bool {
        (MM_LOWEST_USER_ADDRESS..=self.highest_user_address).contains(&va.0)
    }

    /// The self-map base for `level` (PTE_BASE, PDE_BASE, PPE_BASE, PXE_BASE), if the
    /// architecture maps that level.
    pub fn self_map_base(&self, level: Level) -> Option<u64> {
        PteFormat::new(self.arch)
            .entry_va(Va(0), level)
            .map(|v| v.0)
    }

    pub fn pte_base(&self) -> u64 {
        self.self_map_base(Level::Pte).unwrap_or_default()
    }

    pub fn pde_base(&self) -> u64 {
        self.self_map_base(Level::Pde).unwrap_or_default()
    }

    /// Start of the per-process hyperspace (working set list, mapping PTEs).
    pub fn hyper_space(&self) -> u64 {
        self.start_of(HYPERSPACE)
    }

    pub fn system_working_set_list(&self) -> u64 {
        self.start_of(SYSTEM_WORKING_SET_LIST)
    }

    pub fn system_cache_start(&self) -> u64 {
        self.start_of(SYSTEM_CACHE)
    }

    /// The size of the system cache range in bytes.
    pub fn system_cache_bytes(&self) -> u64 {
        self.region_named(SYSTEM_CACHE).map_or(0, |r| r.size())
    }

    /// Whether `va` lies in the paged pool region.
    pub fn is_paged_pool(&self, va: u64) -> bool {
        self.paged_pool.is_some_and(|r| r.contains(va))
    }

    /// MmPagedPoolStart, which x86 also uses as MmProtopte_Base.
    pub fn paged_pool_start(&self) -> u64 {
        self.start_of(PAGED_POOL)
    }

    /// Where the paged pool sized at boot ends (exclusive), for a machine of
    /// `physical_pages`. With no registry size (MmSizeOfPagedPoolInBytes 0), WRK
    /// makes paged pool twice the maximum nonpaged pool, which is 1 MB plus 400 KB
    /// for every MB of RAM above 4 MB (MmDefaultMaximumNonPagedPool,
    /// MmMaxAdditionNonPagedPoolPerMb), and never larger than its address range.
    /// Prototype PTEs live there, so this bounds the file-backed sections a
    /// machine can hold — and the host memory they take (on x64 the range alone
    /// is 128 GB).
    pub fn paged_pool_end(&self, physical_pages: u64) -> u64 {
        let Some(r) = self.region_named(PAGED_POOL) else {
            return 0;
        };
        let nonpaged_max = (1 << 20) + physical_pages.saturating_sub(1024) / 256 * (400 << 10);
        r.start + nonpaged_max.saturating_mul(2).min(r.size())
    }

    fn start_of(&self, name: &str) -> u64 {
        self.region_named(name).map_or(0, |r| r.start)
    }
}

const fn region(start: u64, end: u64, name: &'static str) -> Region {
    Region { start, end, name }
}

/// The regions above 0xC0000000 that both 32-bit layouts share. PAE page tables take
/// 8 MB (8-byte entries), so PAE hyperspace starts at 0xC0800000 and is 4 MB, leaving no
/// unused gap before the system working set list (WRK `_X86PAE_` values).
fn x86_upper(pae: bool, system_cache_end: u64) -> Vec<Region> {
    let mut v = if pae {
        vec![
            region(0xC000_0000, 0xC07F_FFFF, PAGE_TABLES),
            region(0xC080_0000, 0xC0BF_FFFF, HYPERSPACE),
        ]
    } else {
        vec![
            region(0xC000_0000, 0xC03F_FFFF, PAGE_TABLES),
            region(0xC040_0000, 0xC07F_FFFF, HYPERSPACE),
            region(0xC080_0000, 0xC0BF_FFFF, UNUSED),
        ]
    };
    v.extend([
        region(0xC0C0_0000, 0xC0FF_FFFF, SYSTEM_WORKING_SET_LIST),
        region(0xC100_0000, system_cache_end, SYSTEM_CACHE),
    ]);
    v
}

/// From 0xE1000000 up. System PTEs end where WRK's MM_LOWEST_NONPAGED_SYSTEM_START puts
/// non-paged pool expansion (0xEB000000), which runs up to the crash dump area.
fn x86_pools() -> [Region; 5] {
    [
        region(0xE100_0000, 0xE7FF_FFFF, PAGED_POOL),
        region(0xE800_0000, 0xEAFF_FFFF, SYSTEM_PTES),
        region(0xEB00_0000, 0xFFBD_FFFF, NON_PAGED_POOL_EXPANSION),
        region(0xFFBE_0000, 0xFFBF_FFFF, CRASH_DUMP),
        region(0xFFC0_0000, 0xFFFF_FFFF, HAL),
    ]
}

/// The seed slides' table: system code from 0x80000000, session space at 0xA0000000,
/// overflow at 0xA4000000, page tables at 0xC0000000, ... HAL at 0xFFC00000.
fn x86_system(pae: bool) -> Vec<Region> {
    let mut v = vec![
        region(0x8000_0000, 0x9FFF_FFFF, SYSTEM_CODE),
        region(0xA000_0000, 0xA3FF_FFFF, SESSION_SPACE),
        region(0xA400_0000, 0xBFFF_FFFF, OVERFLOW),
    ];
    v.extend(x86_upper(pae, 0xE0FF_FFFF));
    v.extend(x86_pools());
    v
}

/// /3GB gives 0x80000000–0xBFFFFFFF to user space, so system space has 1 GB. Per the
/// seed slides the system cache is the main loser; the overflow area disappears.
///
/// Simplification: Server 2003 relocates the boot images and sizes the cache, session
/// space and system PTEs at boot. Here the cache gives up its top 80 MB to a 64 MB
/// session space and a 16 MB area for the kernel, HAL and initial non-paged pool, so
/// every other region (notably paged pool, hence MmProtopte_Base) stays where it is
/// without /3GB.
fn x86_3gb_system(pae: bool) -> Vec<Region> {
    let mut v = x86_upper(pae, 0xDBFF_FFFF);
    v.extend([
        region(0xDC00_0000, 0xDFFF_FFFF, SESSION_SPACE),
        region(0xE000_0000, 0xE0FF_FFFF, SYSTEM_CODE),
    ]);
    v.extend(x86_pools());
    v
}

/// WRK `miamd.h`. The loader's mappings (kernel, HAL, boot drivers, initial non-paged
/// pool) are at MM_KSEG0_BASE; the shared user data page is KI_USER_SHARED_DATA; the
/// last 2 GB are reserved for the HAL, whose own mappings use the top 4 MB.
fn x64_system() -> Vec<Region> {
    vec![
        region(0xFFFF_F680_0000_0000, 0xFFFF_F6FF_FFFF_FFFF, PAGE_TABLES),
        region(0xFFFF_F700_0000_0000, 0xFFFF_F77F_FFFF_FFFF, HYPERSPACE),
        region(
            0xFFFF_F780_0000_0000,
            0xFFFF_F780_0000_0FFF,
            SHARED_USER_DATA,
        ),
        region(
            0xFFFF_F780_0000_1000,
            0xFFFF_F7FF_FFFF_FFFF,
            SYSTEM_WORKING_SET_LIST,
        ),
        region(0xFFFF_F800_0000_0000, 0xFFFF_F8FF_FFFF_FFFF, SYSTEM_CODE),
        region(0xFFFF_F900_0000_0000, 0xFFFF_F97F_FFFF_FFFF, SESSION_SPACE),
        region(0xFFFF_F980_0000_0000, 0xFFFF_FA7F_FFFF_FFFF, SYSTEM_CACHE),
        region(0xFFFF_FA80_0000_0000, 0xFFFF_FA9F_FFFF_FFFF, PAGED_POOL),
        region(0xFFFF_FAA0_0000_0000, 0xFFFF_FABF_FFFF_FFFF, SYSTEM_PTES),
        region(0xFFFF_FAC0_0000_0000, 0xFFFF_FADF_FFFF_FFFF, NON_PAGED_POOL),
        region(0xFFFF_FFFF_8000_0000, 0xFFFF_FFFF_FFBF_FFFF, HAL_RESERVED),
        region(0xFFFF_FFFF_FFC0_0000, 0xFFFF_FFFF_FFFF_FFFF, HAL),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Layout> {
        let mut v = Vec::new();
        for arch in [Arch::X86, Arch::Pae, Arch::X64] {
            for three_gb in [false, true] {
                v.push(Layout::new(arch, three_gb));
            }
        }
        v
    }

    #[test]
    fn regions_are_sorted_and_disjoint() {
        for l in all() {
            let r = l.regions();
            assert!(r.iter().all(|x| x.start <= x.end), "{l:?}");
            for w in r.windows(2) {
                assert!(w[0].end < w[1].start, "{:?} overlaps {:?}", w[0], w[1]);
            }
            assert_eq!(r[0].start, 0);
            let top = if l.arch() == Arch::X64 {
                u64::MAX
            } else {
                0xFFFF_FFFF
            };
            assert_eq!(r.last().unwrap().end, top);
        }
    }

    #[test]
    fn x86_layouts_cover_all_4_gb() {
        for l in all().into_iter().filter(|l| l.arch() != Arch::X64) {
            for w in l.regions().windows(2) {
                assert_eq!(w[0].end + 1, w[1].start, "{:?} / {:?}", w[0], w[1]);
            }
        }
    }

    #[test]
    fn user_space_ends_at_highest_user_address() {
        for l in all() {
            let user = l.region_named(USER_SPACE).unwrap();
            assert_eq!(user.start, l.lowest_user_address());
            assert_eq!(user.end, l.highest_user_address());
            let guard = l.region_named(USER_GUARD).unwrap();
            assert_eq!(guard.start, l.user_probe_address());
            assert_eq!(guard.size(), 64 * 1024);
            assert!(!l.is_user_address(Va(0xFFFF)));
            assert!(l.is_user_address(Va(0x10000)));
            assert!(!l.is_user_address(Va(l.user_probe_address())));
            assert_eq!(
                l.highest_vad_address() + 1,
                l.highest_user_address() - 0xFFFF
            );
        }
        assert_eq!(
            Layout::new(Arch::X86, false).highest_vad_address(),
            0x7FFD_FFFF
        );
        assert_eq!(
            Layout::new(Arch::Pae, true).highest_vad_address(),
            0xBFFD_FFFF
        );
        assert_eq!(
            Layout::new(Arch::X64, false).highest_vad_address(),
            0x7FF_FFFD_FFFF
        );
    }

    #[test]
    fn three_gb_moves_the_split() {
        for arch in [Arch::X86, Arch::Pae] {
            let l = Layout::new(arch, true);
            assert!(l.three_gb());
            assert_eq!(l.highest_user_address(), 0xBFFE_FFFF);
            assert_eq!(l.user_probe_address(), 0xBFFF_0000);
            assert_eq!(l.system_range_start(), 0xC000_0000);
            assert_eq!(l.region_of(Va(0x9000_0000)).unwrap().name, USER_SPACE);
            assert_eq!(l.region_named(USER_GUARD).unwrap().end, 0xBFFF_FFFF);
            assert!(l.region_named(OVERFLOW).is_none());
            let two = Layout::new(arch, false);
            assert_eq!(two.system_range_start(), 0x8000_0000);
            assert!(
                l.region_named(SYSTEM_CACHE).unwrap().size()
                    < two.region_named(SYSTEM_CACHE).unwrap().size()
            );
            assert_eq!(l.paged_pool_start(), two.paged_pool_start());
        }
        let x64 = Layout::new(Arch::X64, true);
        assert!(!x64.three_gb());
        assert_eq!(x64, Layout::new(Arch::X64, false));
    }

    #[test]
    fn x86_matches_the_seed_table() {
        let l = Layout::new(Arch::X86, false);
        let starts = [
            (0x8000_0000, SYSTEM_CODE),
            (0xA000_0000, SESSION_SPACE),
            (0xA400_0000, OVERFLOW),
            (0xC000_0000, PAGE_TABLES),
            (0xC040_0000, HYPERSPACE),
            (0xC080_0000, UNUSED),
            (0xC0C0_0000, SYSTEM_WORKING_SET_LIST),
            (0xC100_0000, SYSTEM_CACHE),
            (0xE100_0000, PAGED_POOL),
            (0xE800_0000, SYSTEM_PTES),
            (0xEB00_0000, NON_PAGED_POOL_EXPANSION),
            (0xFFBE_0000, CRASH_DUMP),
            (0xFFC0_0000, HAL),
        ];
        for (start, name) in starts {
            assert_eq!(l.region_named(name).map(|r| r.start), Some(start), "{name}");
        }
        assert_eq!(l.hyper_space(), 0xC040_0000);
        assert_eq!(l.system_working_set_list(), 0xC0C0_0000);
        assert_eq!(l.system_cache_start(), 0xC100_0000);
        assert_eq!(
            l.paged_pool_start(),
            crate::mm::hw::pte::x86::MM_PROTOPTE_BASE
        );
        assert_eq!((l.pte_base(), l.pde_base()), (0xC000_0000, 0xC030_0000));
        assert_eq!(l.self_map_base(Level::Ppe), None);
    }

    #[test]
    fn pae_page_tables_take_8_mb() {
        let l = Layout::new(Arch::Pae, false);
        assert_eq!(l.region_named(PAGE_TABLES).unwrap().end, 0xC07F_FFFF);
        assert_eq!(l.hyper_space(), 0xC080_0000);
        assert!(l.region_named(UNUSED).is_none());
        assert_eq!((l.pte_base(), l.pde_base()), (0xC000_0000, 0xC060_0000));
    }

    #[test]
    fn x64_follows_wrk() {
        let l = Layout::new(Arch::X64, false);
        assert_eq!(l.highest_user_address(), 0x7FF_FFFE_FFFF);
        assert_eq!(l.user_probe_address(), 0x7FF_FFFF_0000);
        assert_eq!(l.system_range_start(), 0xFFFF_0800_0000_0000);
        assert_eq!(l.hyper_space(), 0xFFFF_F700_0000_0000);
        assert_eq!(l.system_cache_start(), 0xFFFF_F980_0000_0000);
        assert_eq!(l.paged_pool_start(), 0xFFFF_FA80_0000_0000);
        assert_eq!(
            l.region_named(NON_PAGED_POOL).unwrap().start,
            0xFFFF_FAC0_0000_0000
        );
        assert_eq!(l.region_named(HAL).unwrap().start, 0xFFFF_FFFF_FFC0_0000);
        assert_eq!(l.self_map_base(Level::Pxe), Some(0xFFFF_F6FB_7DBE_D000));
        assert_eq!(l.region_of(Va(0x8000_0000_0000)), None);
    }

    #[test]
    fn every_self_map_address_is_in_the_page_table_region() {
        for l in all() {
            let f = PteFormat::new(l.arch());
            let tables = *l.region_named(PAGE_TABLES).unwrap();
            for r in l.regions() {
                for va in [r.start, r.end & !0xFFF] {
                    for level in Level::ALL {
                        if let Some(e) = f.entry_va(Va(va), level) {
                            assert!(tables.contains(e.0), "{:?} {va:#x} {level:?}", l.arch());
                        }
                    }
                }
            }
        }
    }

    /// Paged pool is sized from RAM (WRK's default): twice 1 MB plus 400 KB per MB
    /// above 4 MB, within the paged pool's address range.
    #[test]
    fn paged_pool_is_sized_from_ram() {
        let x64 = Layout::new(Arch::X64, false);
        let start = x64.paged_pool_start();
        assert_eq!(x64.paged_pool_end(256), start + (2 << 20), "1 MB of RAM");
        let mb256 = 2 * ((1 << 20) + 252 * (400 << 10));
        assert_eq!(x64.paged_pool_end(65536), start + mb256, "256 MB of RAM");
        let x86 = Layout::new(Arch::X86, false);
        assert_eq!(
            x86.paged_pool_end(65536),
            0xE800_0000,
            "capped by the range"
        );
        assert_eq!(
            x86.paged_pool_end(1024),
            0xE100_0000 + (2 << 20),
            "4 MB of RAM"
        );
    }
}
