//! Simulated physical RAM: the bytes behind every page frame.
//!
//! All frames live in one anonymous private mapping made with `MAP_NORESERVE`, so
//! simulated RAM that nobody has touched costs no host memory: 64 GiB of simulated
//! RAM maps instantly on a much smaller host, and fresh frames read as zero, just
//! like the zeroed page list the PFN database starts with.
//!
//! # Concurrency contract
//!
//! `PhysicalMemory` is `Send + Sync` and every accessor takes `&self`. The caller
//! guarantees that while one thread writes a frame (`write`, `zero`, `release`, or
//! `copy_page` into it), no other thread reads or writes that same frame; the PFN
//! lock or page ownership (a frame in the middle of an in-page belongs to the
//! faulting thread, a valid frame to its working set's lock) provides this. Accesses
//! to *different* frames may run concurrently without any locking. Breaking the
//! contract is a data race on the simulated bytes (like racing DMA on real hardware);
//! the bounds checks below still keep every access inside the mapping.
//!
//! One such race is allowed on purpose, as on NT: a paging write copies its frames
//! (WriteInProgress) into the paging file without the PFN lock, and a fault may take
//! one of them back and write it meanwhile, as a thread may write a page NT's disk is
//! reading by DMA. The bytes written out may then be torn; the write made the PTE
//! dirty, so the page is modified again by the time it is trimmed and that copy is
//! released unread (`paging/modified_writer.rs`).
//!
//! # Bad arguments
//!
//! A PFN beyond the end of RAM, or `offset + len > PAGE_SIZE`, is a caller bug:
//! `debug_assert!` fires in debug builds; release builds do nothing (reads leave the
//! buffer untouched, `is_zero` answers `false`). No input can cause an access outside
//! the mapping.
//!
//! # `zero` versus `release`
//!
//! Both leave the frame reading as zeros. `zero` stores zeros with `memset`
//! (`write_bytes`): measured about 0.1 µs for a resident 4 KiB page, but the page
//! stays resident on the host. `release` uses `madvise(MADV_DONTNEED)`: measured
//! about 1.3 µs (a system call plus a TLB flush), and the host gets the memory
//! back; the next touch pays another ~1.2 µs page fault for a fresh zero page. The zero page thread wants `zero`
//! (fast, the page is about to be used again); trimming memory that is freed for
//! good (process exit, shrinking simulated RAM use) wants `release`. See the
//! `zero_versus_release_timing` test, which prints the numbers.

use std::io;
use std::ptr::NonNull;

use crate::mm::base::types::{PAGE_SIZE, Pfn};

const PAGE: usize = PAGE_SIZE as usize;

/// Simulated physical memory: `pages` frames of real bytes.
pub struct PhysicalMemory {
    /// Start of the mapping; frame `n` is at `base + n * PAGE_SIZE`.
    base: NonNull<u8>,
    pages: u32,
    /// Length of the mapping in bytes (`pages * PAGE_SIZE`).
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value and freed only in Drop.
// Every access goes through the bounds-checked raw copies below; exclusion between
// threads touching the same frame is the documented caller contract (module docs).
unsafe impl Send for PhysicalMemory {}
// SAFETY: as above; `&self` methods never hand out references into the mapping.
unsafe impl Sync for PhysicalMemory {}

impl PhysicalMemory {
    /// Maps `pages` frames of zero-filled simulated RAM. Host memory is only used
    /// for frames that are written.
    pub fn new(pages: u32) -> io::Result<Self> {
        if pages == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "simulated RAM needs at least one page",
            ));
        }
        let len = (pages as usize).checked_mul(PAGE).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "simulated RAM too large")
        })?;
        // SAFETY: an anonymous mapping at an address the kernel picks; no existing
        // memory is affected. The result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // No transparent huge pages, whatever the host's default: simulated RAM
        // stays sparse at 4 KiB (a released frame really gives its memory back),
        // and a new page table does not make the host zero 2 MiB. Measured on the
        // 2-core bench machine: with THP, 1 MiB `mem` writes into fresh memory ran
        // about 2x faster but x64 demand-zero faults fell from 10.6 to 3.4 M/s.
        // SAFETY: madvise on the mapping just created, over its exact length.
        unsafe {
            libc::madvise(ptr, len, libc::MADV_NOHUGEPAGE);
        }
        let base = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(PhysicalMemory { base, pages, len })
    }

    /// Number of frames.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Size of simulated RAM in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.len as u64
    }

    /// Pointer to byte `offset` of frame `pfn`, if `pfn` exists and
    /// `offset..offset + len` stays inside the frame. A miss is a caller bug.
    fn span(&self, pfn: Pfn, offset: usize, len: usize) -> Option<*mut u8> {
        let in_bounds = pfn.0 < self.pages && offset.checked_add(len).is_some_and(|e| e <= PAGE);
        debug_assert!(
            in_bounds,
            "physmem access out of bounds: {pfn:?} offset {offset:#x} len {len:#x} ({} pages)",
            self.pages
        );
        if !in_bounds {
            return None;
        }
        // SAFETY: pfn < pages and offset + len <= PAGE, so the result (and the whole
        // span) lies inside the `len`-byte mapping that starts at `base`.
        Some(unsafe { self.base.as_ptr().add(pfn.index() * PAGE + offset) })
    }

    /// Copies `buf.len()` bytes from frame `pfn` starting at `offset` into `buf`.
    pub fn read(&self, pfn: Pfn, offset: usize, buf: &mut [u8]) {
        if let Some(src) = self.span(pfn, offset, buf.len()) {
            // SAFETY: `span` checked that src..src+len is inside the mapping; `buf`
            // is a distinct host buffer (it cannot alias the private mapping because
            // no reference into the mapping is ever handed out).
            unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) }
        }
    }

    /// Reads `frames.len()` pages of `file` from `offset` straight into those
    /// frames (the disk's DMA into RAM: one `preadv`, no bounce buffer); past
    /// the end of the file they read as zeros. The caller owns the frames for
    /// the read (ReadInProgress: nothing else reads or writes them).
    pub fn read_file(&self, file: &std::fs::File, offset: u64, frames: &[Pfn]) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // One iovec per run of consecutive frames (a run's frames are handed
        // out lowest first, so they often are): fewer segments to walk.
        let mut iov: Vec<libc::iovec> = Vec::with_capacity(frames.len());
        let mut last: Option<Pfn> = None;
        for &pfn in frames {
            let Some(dst) = self.span(pfn, 0, PAGE) else {
                return Err(io::Error::from_raw_os_error(libc::EFAULT));
            };
            match iov.last_mut() {
                Some(v) if last.is_some_and(|l| l.0 + 1 == pfn.0) => v.iov_len += PAGE,
                _ => iov.push(libc::iovec {
                    iov_base: dst.cast(),
                    iov_len: PAGE,
                }),
            }
            last = Some(pfn);
        }
        let total = frames.len() * PAGE;
        let mut done = 0usize;
        while done < total {
            // Skip the iovecs already filled; trim the first one's start.
            let mut first = 0;
            let mut skip = done;
            while skip >= iov[first].iov_len {
                skip -= iov[first].iov_len;
                first += 1;
            }
            let mut rest: Vec<libc::iovec> = iov[first..].to_vec();
            // SAFETY: skip < the first iovec's length, inside its span.
            rest[0].iov_base = unsafe { rest[0].iov_base.cast::<u8>().add(skip).cast() };
            rest[0].iov_len -= skip;
            // SAFETY: every iovec names a span of a frame inside the mapping
            // (checked by `span`), owned by the caller for this read.
            let n = unsafe {
                libc::preadv(
                    file.as_raw_fd(),
                    rest.as_ptr(),
                    rest.len().min(1024) as libc::c_int,
                    (offset + done as u64) as libc::off_t,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                break;
            }
            done += n as usize;
        }
        // Past the end of the file: zeros.
        while done < total {
            let pfn = frames[done / PAGE];
            let at = done % PAGE;
            if let Some(dst) = self.span(pfn, at, PAGE - at) {
                // SAFETY: inside the frame, owned by the caller.
                unsafe { std::ptr::write_bytes(dst, 0, PAGE - at) };
            }
            done += PAGE - at;
        }
        Ok(())
    }

    /// Copies `data` into frame `pfn` starting at `offset`.
    pub fn write(&self, pfn: Pfn, offset: usize, data: &[u8]) {
        if let Some(dst) = self.span(pfn, offset, data.len()) {
            // SAFETY: `span` checked the destination span; `data` cannot alias the
            // mapping (no references into it exist).
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) }
        }
    }

    /// Copies `src`, page by page, into `frames` (one whole page each, in
    /// order): a transfer into memory as a DMA into an MDL's pages.
    pub fn scatter(&self, frames: &[Pfn], src: &[u8]) {
        for (&pfn, bytes) in frames.iter().zip(src.chunks_exact(PAGE)) {
            self.write(pfn, 0, bytes);
        }
    }

    /// Copies `frames` (one whole page each, in order) into `dst`, page by
    /// page: `scatter`'s reverse.
    pub fn gather(&self, frames: &[Pfn], dst: &mut [u8]) {
        for (&pfn, bytes) in frames.iter().zip(dst.chunks_exact_mut(PAGE)) {
            self.read(pfn, 0, bytes);
        }
    }

    /// Reads a page-table entry of `size` bytes (4 or 8) at `offset` of frame `pfn`
    /// atomically. PTEs are read by a process's own thread while the PFN lock holder
    /// may rewrite a transition PTE of that process, so entries use atomic accesses,
    /// never plain copies. Offsets must be aligned to `size`; a miss reads as 0.
    pub fn load_entry(&self, pfn: Pfn, offset: usize, size: usize) -> u64 {
        use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
        debug_assert!(size == 4 || size == 8);
        if !offset.is_multiple_of(size) {
            debug_assert!(false, "misaligned entry offset {offset:#x}");
            return 0;
        }
        let Some(p) = self.span(pfn, offset, size) else {
            return 0;
        };
        // SAFETY: `span` checked the bounds; the mapping is page aligned and `offset`
        // is a multiple of `size`, so the pointer is aligned for the atomic type, and
        // all concurrent accesses to entries go through these atomic functions.
        unsafe {
            if size == 8 {
                (*p.cast::<AtomicU64>()).load(Ordering::Acquire)
            } else {
                u64::from((*p.cast::<AtomicU32>()).load(Ordering::Acquire))
            }
        }
    }

    /// Writes a page-table entry atomically (see [`load_entry`](Self::load_entry)).
    pub fn store_entry(&self, pfn: Pfn, offset: usize, size: usize, value: u64) {
        use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
        debug_assert!(size == 4 || size == 8);
        if !offset.is_multiple_of(size) {
            debug_assert!(false, "misaligned entry offset {offset:#x}");
            return;
        }
        let Some(p) = self.span(pfn, offset, size) else {
            return;
        };
        // SAFETY: as in `load_entry`.
        unsafe {
            if size == 8 {
                (*p.cast::<AtomicU64>()).store(value, Ordering::Release)
            } else {
                (*p.cast::<AtomicU32>()).store(value as u32, Ordering::Release)
            }
        }
    }

    /// Fills frame `pfn` with zeros using `memset`; the page stays resident.
    pub fn zero(&self, pfn: Pfn) {
        if let Some(dst) = self.span(pfn, 0, PAGE) {
            // SAFETY: `span` checked that the whole frame is inside the mapping.
            unsafe { std::ptr::write_bytes(dst, 0, PAGE) }
        }
    }

    /// Zeros frame `pfn` by giving its host memory back (`madvise(MADV_DONTNEED)`):
    /// the next access sees a fresh zero page. Slower than [`zero`](Self::zero)
    /// for one page, but the host memory is returned.
    pub fn release(&self, pfn: Pfn) {
        if let Some(page) = self.span(pfn, 0, PAGE) {
            // SAFETY: the page-aligned frame lies inside our private anonymous
            // mapping; MADV_DONTNEED on such memory only discards its contents
            // (later reads see zeros), which is exactly the intended effect.
            let rc = unsafe { libc::madvise(page.cast(), PAGE, libc::MADV_DONTNEED) };
            if rc != 0 {
                // Cannot fail for a valid range of our own mapping; stay correct anyway.
                self.zero(pfn);
            }
        }
    }

    /// Copies the whole of frame `from` into frame `to` (no-op when they are equal).
    pub fn copy_page(&self, from: Pfn, to: Pfn) {
        if from == to {
            // Copying a frame onto itself changes nothing; copy_nonoverlapping
            // must never see overlapping spans.
            return;
        }
        if let (Some(src), Some(dst)) = (self.span(from, 0, PAGE), self.span(to, 0, PAGE)) {
            // SAFETY: both frames are inside the mapping and, being different
            // frames, do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(src, dst, PAGE) }
        }
    }

    /// True if every byte of frame `pfn` is zero. Reading a never-touched frame maps
    /// the host's shared zero page, so this costs no host memory.
    pub fn is_zero(&self, pfn: Pfn) -> bool {
        let Some(page) = self.span(pfn, 0, PAGE) else {
            return false;
        };
        let words = page.cast::<u64>().cast_const();
        (0..PAGE / 8).all(|i| {
            // SAFETY: the frame is inside the mapping and page aligned, so every
            // u64 at words + i (i < 512) is in bounds and 8-byte aligned.
            unsafe { words.add(i).read() == 0 }
        })
    }

    /// Bytes of simulated RAM currently mapped on the host (via `mincore`).
    ///
    /// This counts every frame that was written *or read* since it was last
    /// released: the kernel maps never-written frames that are read to its shared
    /// zero page, which `mincore` reports as resident although it costs nothing.
    /// So it is an upper bound on the host memory used.
    pub fn resident_bytes(&self) -> io::Result<u64> {
        let mut vec = vec![0u8; self.pages as usize];
        // SAFETY: base..base+len is our mapping (page aligned) and `vec` has one
        // byte per page, as mincore requires.
        let rc = unsafe { libc::mincore(self.base.as_ptr().cast(), self.len, vec.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(vec.iter().filter(|&&b| b & 1 != 0).count() as u64 * PAGE_SIZE)
    }

    /// True if frame `pfn` is mapped on the host right now (via `mincore`; a
    /// frame that was only read counts, see [`resident_bytes`](Self::resident_bytes)).
    pub fn is_resident(&self, pfn: Pfn) -> bool {
        let Some(page) = self.span(pfn, 0, PAGE) else {
            return false;
        };
        let mut flag = 0u8;
        // SAFETY: one page-aligned page of our mapping, one result byte.
        let rc = unsafe { libc::mincore(page.cast(), PAGE, &mut flag) };
        rc == 0 && flag & 1 != 0
    }
}

impl Drop for PhysicalMemory {
    fn drop(&mut self) {
        // SAFETY: base/len describe exactly the mapping made in `new`, which nothing
        // else unmaps, and no references into it outlive `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

impl std::fmt::Debug for PhysicalMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhysicalMemory")
            .field("pages", &self.pages)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    #[test]
    fn fresh_ram_is_zero_and_costs_nothing() {
        let ram = PhysicalMemory::new(256).unwrap();
        assert_eq!(ram.pages(), 256);
        assert_eq!(ram.size_bytes(), 256 * 4096);
        assert_eq!(ram.resident_bytes().unwrap(), 0);
        assert!((0..256).all(|p| ram.is_zero(Pfn(p))));
    }

    #[test]
    fn round_trip_at_odd_offsets() {
        let ram = PhysicalMemory::new(4).unwrap();
        for (offset, len) in [(0, 4096), (1, 7), (4095, 1), (123, 3001), (2048, 2048)] {
            let data = pattern(len, offset as u8);
            ram.write(Pfn(2), offset, &data);
            let mut back = vec![0u8; len];
            ram.read(Pfn(2), offset, &mut back);
            assert_eq!(back, data, "offset {offset} len {len}");
        }
        // Neighbouring frames are untouched.
        assert!(ram.is_zero(Pfn(1)) && ram.is_zero(Pfn(3)));
        // Empty accesses are fine, even at the very end of a frame.
        ram.write(Pfn(0), 4096, &[]);
        ram.read(Pfn(0), 4096, &mut []);
        assert!(ram.is_zero(Pfn(0)));
    }

    #[test]
    fn zero_and_release_clear_a_page() {
        let ram = PhysicalMemory::new(3).unwrap();
        ram.write(Pfn(1), 100, &[1, 2, 3]);
        assert!(!ram.is_zero(Pfn(1)));
        ram.zero(Pfn(1));
        assert!(ram.is_zero(Pfn(1)));
        ram.write(Pfn(2), 4095, &[9]);
        assert!(ram.is_resident(Pfn(2)));
        ram.release(Pfn(2));
        assert!(!ram.is_resident(Pfn(2)), "release gives the host page back");
        assert!(ram.is_zero(Pfn(2)));
    }

    #[test]
    fn copy_page_copies_all_bytes() {
        let ram = PhysicalMemory::new(3).unwrap();
        let data = pattern(4096, 5);
        ram.write(Pfn(0), 0, &data);
        ram.copy_page(Pfn(0), Pfn(2));
        let mut back = vec![0u8; 4096];
        ram.read(Pfn(2), 0, &mut back);
        assert_eq!(back, data);
        ram.copy_page(Pfn(2), Pfn(2)); // self copy is a no-op
        ram.read(Pfn(2), 0, &mut back);
        assert_eq!(back, data);
    }

    #[test]
    fn resident_bytes_tracks_touched_pages() {
        let ram = PhysicalMemory::new(64).unwrap();
        assert_eq!(ram.resident_bytes().unwrap(), 0);
        for p in [3, 9, 40] {
            ram.write(Pfn(p), 17, b"x");
        }
        assert_eq!(ram.resident_bytes().unwrap(), 3 * 4096);
        ram.release(Pfn(9));
        assert_eq!(ram.resident_bytes().unwrap(), 2 * 4096);
    }

    #[test]
    fn sixty_four_gib_maps_instantly() {
        let start = Instant::now();
        let pages = (64u64 << 30) / PAGE_SIZE;
        let ram = PhysicalMemory::new(pages as u32).unwrap();
        println!("mapping 64 GiB took {:?}", start.elapsed());
        let last = Pfn(ram.pages() - 1);
        for pfn in [Pfn(0), Pfn(1 << 20), last] {
            ram.write(pfn, 4000, b"hello");
            let mut back = [0u8; 5];
            ram.read(pfn, 4000, &mut back);
            assert_eq!(&back, b"hello");
        }
        ram.copy_page(last, Pfn(12345));
        assert!(!ram.is_zero(Pfn(12345)));
        assert!(ram.is_zero(Pfn(12346)));
    }

    #[test]
    fn zero_sized_ram_is_refused() {
        assert!(PhysicalMemory::new(0).is_err());
    }

    #[test]
    fn different_frames_from_different_threads() {
        let ram = PhysicalMemory::new(8).unwrap();
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let ram = &ram;
                s.spawn(move || {
                    for i in 0..200u32 {
                        let data = pattern(64, (t * 7 + i) as u8);
                        ram.write(Pfn(t), (i as usize * 13) % 4000, &data);
                        let mut back = [0u8; 64];
                        ram.read(Pfn(t), (i as usize * 13) % 4000, &mut back);
                        assert_eq!(&back[..], &data[..]);
                    }
                });
            }
        });
    }

    // Bounds violations are caller bugs: debug builds assert, release builds ignore.
    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "out of bounds"))]
    fn pfn_past_the_end_is_a_bug() {
        let ram = PhysicalMemory::new(2).unwrap();
        let mut buf = [7u8; 4];
        ram.read(Pfn(2), 0, &mut buf);
        assert_eq!(buf, [7; 4]); // release build: untouched
        ram.write(Pfn(u32::MAX), 0, &buf);
        assert!(!ram.is_zero(Pfn(2)));
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "out of bounds"))]
    fn span_past_the_page_is_a_bug() {
        let ram = PhysicalMemory::new(2).unwrap();
        ram.write(Pfn(0), 4090, &[1u8; 7]);
        ram.write(Pfn(0), usize::MAX, &[1u8; 2]);
        assert!(ram.is_zero(Pfn(0)) && ram.is_zero(Pfn(1)));
    }

    /// A read into frames some of which follow each other (one iovec) and
    /// some not puts each page of the file in its own frame, and zeros past
    /// the file's end.
    #[test]
    fn read_file_fills_each_frame_with_its_page_and_zeros_past_the_end() {
        let ram = PhysicalMemory::new(16).unwrap();
        ram.write(Pfn(2), 0, &[0xEE; PAGE]); // stale bytes the read must replace
        let bytes: Vec<u8> = (0..PAGE * 9 / 2)
            .map(|i| (i / PAGE + 1) as u8 ^ (i as u8))
            .collect();
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        let frames = [Pfn(3), Pfn(4), Pfn(5), Pfn(9), Pfn(2), Pfn(10)];
        ram.read_file(&file, 0, &frames).unwrap();
        let mut page = vec![0u8; PAGE];
        for (k, &pfn) in frames.iter().enumerate() {
            ram.read(pfn, 0, &mut page);
            let from = (k * PAGE).min(bytes.len());
            let have = &bytes[from..((k + 1) * PAGE).min(bytes.len())];
            assert_eq!(&page[..have.len()], have, "frame {k}");
            assert!(
                page[have.len()..].iter().all(|&b| b == 0),
                "frame {k} past the end"
            );
        }
    }

    /// Prints how long `zero` (memset) and `release` (madvise) take for one page.
    #[test]
    fn zero_versus_release_timing() {
        const N: u32 = 2000;
        let ram = PhysicalMemory::new(N).unwrap();
        let touch = |ram: &PhysicalMemory| (0..N).for_each(|p| ram.write(Pfn(p), 0, &[1]));
        touch(&ram);
        let t = Instant::now();
        (0..N).for_each(|p| ram.zero(Pfn(p)));
        let memset = t.elapsed() / N;
        touch(&ram);
        let t = Instant::now();
        (0..N).for_each(|p| ram.release(Pfn(p)));
        let madvise = t.elapsed() / N;
        let t = Instant::now();
        touch(&ram);
        let refault = t.elapsed() / N;
        println!(
            "per 4 KiB page: memset {memset:?}, madvise {madvise:?}, refault after madvise {refault:?}"
        );
        (0..N).for_each(|p| ram.release(Pfn(p)));
        assert!((0..N).all(|p| ram.is_zero(Pfn(p))));
    }
}
