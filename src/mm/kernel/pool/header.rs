//! NT's POOL_HEADER as it lies in the simulated bytes in front of every small
//! pool block, and the pool's block unit (WRK `pool.h`).
//!
//! x86 and PAE, 8 bytes: a ULONG of bit fields (PreviousSize:9, PoolIndex:7,
//! BlockSize:9, PoolType:7) then the ULONG PoolTag. x64, 16 bytes: four 8-bit
//! fields (PreviousSize, PoolIndex, BlockSize, PoolType), the PoolTag, then the
//! 8-byte ProcessBilled (EPROCESS of a quota charge; always 0 here). Sizes are
//! counted in block units: 8 bytes on x86/PAE, 16 on x64. PoolType holds the
//! pool type + 1, so a free block reads 0.

use crate::mm::base::types::{Arch, PAGE_SIZE};

use super::Tag;

/// The header of one pool block, decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PoolHeader {
    /// The previous block's BlockSize (0 for the first block of a page).
    pub previous_size: u32,
    /// The descriptor index; one descriptor per pool type here, so always 0.
    pub pool_index: u32,
    /// This block's size in block units, header included.
    pub block_size: u32,
    /// Pool type + 1, or 0 for a free block.
    pub pool_type: u32,
    pub tag: Tag,
}

/// The block geometry of one architecture.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Geometry {
    /// POOL_BLOCK_SIZE in bytes: 8 (x86, PAE) or 16 (x64).
    pub unit: u64,
    /// sizeof(POOL_HEADER): one block unit on both.
    pub header: u64,
}

impl Geometry {
    pub fn new(arch: Arch) -> Geometry {
        match arch {
            Arch::X64 => Geometry {
                unit: 16,
                header: 16,
            },
            Arch::X86 | Arch::Pae => Geometry { unit: 8, header: 8 },
        }
    }

    /// Block units in a page (512 or 256).
    pub fn units_per_page(&self) -> u32 {
        (PAGE_SIZE / self.unit) as u32
    }

    /// POOL_BUDDY_MAX: the largest request served by blocks within a page. A
    /// block is at most a page less one unit (BlockSize has 9 bits on x86, 8
    /// on x64, one short of a page), so a new page always leaves a free block
    /// of at least one unit after the first allocation.
    pub fn buddy_max(&self) -> u64 {
        PAGE_SIZE - self.unit - self.header
    }

    /// The block units a request of `bytes` takes, header included.
    pub fn units_for(&self, bytes: u64) -> u32 {
        ((bytes + self.header).div_ceil(self.unit)) as u32
    }

    /// Encodes `h` into its `header` bytes.
    pub fn encode(&self, h: &PoolHeader) -> [u8; 16] {
        let mut out = [0u8; 16];
        if self.unit == 16 {
            out[0] = h.previous_size as u8;
            out[1] = h.pool_index as u8;
            out[2] = h.block_size as u8;
            out[3] = h.pool_type as u8;
            out[4..8].copy_from_slice(&h.tag.0);
        } else {
            let word = (h.previous_size & 0x1FF)
                | (h.pool_index & 0x7F) << 9
                | (h.block_size & 0x1FF) << 16
                | (h.pool_type & 0x7F) << 25;
            out[0..4].copy_from_slice(&word.to_le_bytes());
            out[4..8].copy_from_slice(&h.tag.0);
        }
        out
    }

    /// Decodes the first `header` bytes of `raw`.
    pub fn decode(&self, raw: &[u8; 16]) -> PoolHeader {
        let tag = Tag([raw[4], raw[5], raw[6], raw[7]]);
        if self.unit == 16 {
            return PoolHeader {
                previous_size: u32::from(raw[0]),
                pool_index: u32::from(raw[1]),
                block_size: u32::from(raw[2]),
                pool_type: u32::from(raw[3]),
                tag,
            };
        }
        let word = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        PoolHeader {
            previous_size: word & 0x1FF,
            pool_index: (word >> 9) & 0x7F,
            block_size: (word >> 16) & 0x1FF,
            pool_type: (word >> 25) & 0x7F,
            tag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_on_both_layouts() {
        for arch in [Arch::X86, Arch::X64] {
            let g = Geometry::new(arch);
            let h = PoolHeader {
                previous_size: g.units_per_page() - 1,
                pool_index: 0,
                block_size: 3,
                pool_type: 2,
                tag: Tag(*b"Abcd"),
            };
            assert_eq!(g.decode(&g.encode(&h)), h);
        }
    }

    #[test]
    fn x86_bit_fields_sit_where_wrk_puts_them() {
        let g = Geometry::new(Arch::X86);
        let h = PoolHeader {
            previous_size: 1,
            pool_index: 0,
            block_size: 2,
            pool_type: 1,
            tag: Tag(*b"Test"),
        };
        let raw = g.encode(&h);
        assert_eq!(&raw[0..4], &(1u32 | 2 << 16 | 1 << 25).to_le_bytes());
        assert_eq!(&raw[4..8], b"Test");
        assert_eq!(g.buddy_max(), 4080);
        assert_eq!(Geometry::new(Arch::X64).buddy_max(), 4064);
    }
}
