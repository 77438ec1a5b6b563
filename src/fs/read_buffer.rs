//! A FUSE thread's buffer for the reads of `files/` and of `mem`: 1 MiB
//! (FUSE's max_read here) at the start of a 2 MiB-aligned anonymous mapping
//! that asks for a transparent huge page (`MADV_HUGEPAGE`).
//! `with_read_buffer` lends it.
//!
//! Why a huge page: the reply's `writev` to `/dev/fuse` pins the buffer's
//! pages (`get_user_pages`) to copy them to the reader. Over 4 KiB pages
//! that pinning walked 256 page-table entries a reply: 15% of a FUSE
//! thread's time in a cold 1 MiB sequential read of `files/`, besides the
//! TLB misses of the cache's copy into the buffer. One huge page is pinned
//! as one entry. Where the host gives no huge page (THP `never`, or no
//! 2 MiB of contiguous memory free) the mapping is plain 4 KiB pages and
//! everything works as before, only slower.
//!
//! The buffer is kept from one read to the next (a new zeroed `Vec` per
//! read cost a `memset` of up to 1 MiB, and for 1 MiB a fresh mapping and
//! 256 page faults); only the bytes a read wrote are ever replied.

use std::ptr::NonNull;

/// The bytes a buffer holds: FUSE's largest read.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// A huge page on x86-64 and arm64 (4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

thread_local! {
    /// This thread's buffer, made at its first read and kept.
    static READ_BUFFER: std::cell::RefCell<Option<ReadBuffer>> = const { std::cell::RefCell::new(None) };
}

/// Calls `f` with `size` bytes of this thread's read buffer (bytes an
/// earlier read left there, or zeros: `f` replies only what it writes). A
/// read larger than the buffer, or on a host that would not map it, gets a
/// zeroed buffer of its own. Not reentrant: `f` must not call it again.
pub fn with_read_buffer<R>(size: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    READ_BUFFER.with_borrow_mut(|kept| {
        if kept.is_none() {
            *kept = ReadBuffer::new();
        }
        match kept {
            Some(b) if size <= READ_BUFFER_BYTES => f(b.bytes(size)),
            _ => f(&mut vec![0; size]),
        }
    })
}

/// An owned, zero-initialized, 2 MiB-aligned mapping of `HUGE_PAGE` bytes.
struct ReadBuffer {
    base: NonNull<u8>,
}

impl ReadBuffer {
    /// Maps a new buffer; `None` if the host refuses the memory.
    fn new() -> Option<ReadBuffer> {
        // Map twice the size, then keep the one aligned huge page inside it.
        let span = 2 * HUGE_PAGE;
        // SAFETY: a new anonymous private mapping at an address the kernel
        // picks; no existing memory is affected. Checked against MAP_FAILED.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                span,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let start = raw as usize;
        let aligned = start.next_multiple_of(HUGE_PAGE);
        let (head, tail) = (aligned - start, start + span - (aligned + HUGE_PAGE));
        // SAFETY: both ranges lie inside the mapping just made and outside
        // the aligned huge page kept; unmapping them touches nothing else.
        // The advice applies to the kept page only. Failures leave memory
        // mapped (a leak of at most 2 MiB) or without huge pages (slower):
        // neither is unsafe.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((aligned + HUGE_PAGE) as *mut libc::c_void, tail);
            }
            libc::madvise(aligned as *mut libc::c_void, HUGE_PAGE, libc::MADV_HUGEPAGE);
        }
        NonNull::new(aligned as *mut u8).map(|base| ReadBuffer { base })
    }

    /// The first `len` bytes (at most `READ_BUFFER_BYTES`), writable.
    fn bytes(&mut self, len: usize) -> &mut [u8] {
        let len = len.min(READ_BUFFER_BYTES);
        // SAFETY: `base` points at HUGE_PAGE >= READ_BUFFER_BYTES mapped,
        // readable and writable bytes (anonymous memory starts zeroed, so
        // every byte is initialized), owned by `self`, which the returned
        // borrow keeps borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), len) }
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        // SAFETY: the aligned page mapped in `new`, unmapped once, here.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), HUGE_PAGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_buffer_is_aligned_zeroed_and_keeps_what_is_written() {
        let mut b = ReadBuffer::new().expect("the host maps 2 MiB");
        assert_eq!(b.base.as_ptr() as usize % HUGE_PAGE, 0);
        let bytes = b.bytes(READ_BUFFER_BYTES);
        assert_eq!(bytes.len(), READ_BUFFER_BYTES);
        assert!(bytes.iter().all(|&x| x == 0));
        bytes[READ_BUFFER_BYTES - 1] = 7;
        assert_eq!(b.bytes(READ_BUFFER_BYTES)[READ_BUFFER_BYTES - 1], 7);
        assert_eq!(b.bytes(usize::MAX).len(), READ_BUFFER_BYTES);
    }

    #[test]
    fn the_thread_lends_its_buffer_and_a_larger_read_gets_its_own() {
        let kept = with_read_buffer(4096, |b| {
            b[0] = 9;
            b.as_ptr() as usize
        });
        assert_eq!(
            with_read_buffer(100, |b| (b.as_ptr() as usize, b[0])),
            (kept, 9)
        );
        let big = with_read_buffer(READ_BUFFER_BYTES + 1, |b| {
            assert!(b.iter().all(|&x| x == 0));
            (b.len(), b.as_ptr() as usize)
        });
        assert_eq!(big.0, READ_BUFFER_BYTES + 1);
        assert_ne!(big.1, kept);
    }
}
