//! Pool tags and the pool tag table (PoolTrackTable, what `!poolused` shows):
//! per tag and pool type, allocations, frees and the bytes in use.

use std::fmt;

use crate::mm::base::status::MmResult;

use super::{Pool, PoolType};

/// A pool tag: four bytes, shown as characters (`'Abcd'` is stored as the
/// ULONG 0x64636241, first character in the lowest byte).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Tag(pub [u8; 4]);

impl Tag {
    /// One to four printable ASCII characters other than space; shorter tags
    /// are padded with spaces, as NT's tags are ('Mm  ').
    pub fn parse(s: &str) -> MmResult<Tag> {
        let ok = (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "pool tag {s:?} is not 1 to 4 printable ASCII characters"
            ));
        }
        let mut t = [b' '; 4];
        t[..s.len()].copy_from_slice(s.as_bytes());
        Ok(Tag(t))
    }
}

impl fmt::Display for Tag {
    /// The tag as text, trailing padding removed; bytes that are not
    /// printable (a header overwritten in RAM) show as `?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: String = self
            .0
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '?'
                }
            })
            .collect();
        f.write_str(s.trim_end())
    }
}

/// One row of the tag table: per pool type, allocations and frees so far and
/// the bytes in use now (block sizes, headers included; whole pages for big
/// and special allocations).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TagUsage {
    pub allocs: [u64; 2],
    pub frees: [u64; 2],
    pub bytes: [u64; 2],
}

impl Pool {
    /// ExpInsertPoolTracker.
    pub(super) fn track_alloc(&mut self, tag: Tag, ty: PoolType, bytes: u64) {
        let u = self.tags.entry(tag).or_default();
        u.allocs[ty as usize] += 1;
        u.bytes[ty as usize] += bytes;
    }

    /// ExpRemovePoolTracker.
    pub(super) fn track_free(&mut self, tag: Tag, ty: PoolType, bytes: u64) {
        let u = self.tags.entry(tag).or_default();
        u.frees[ty as usize] += 1;
        u.bytes[ty as usize] = u.bytes[ty as usize].saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_padded_and_checked() {
        assert_eq!(Tag::parse("Mm").map(|t| t.0), Ok(*b"Mm  "));
        assert_eq!(Tag::parse("Abcd").map(|t| t.to_string()), Ok("Abcd".into()));
        for bad in ["", "Abcde", "a b", "\u{e9}", "ab\n"] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
    }
}
