//! The listings that stream (SPEC §2): `pfn/db`, `pfn/lists/*`,
//! `processes/<name>/ptes` and `workingset`. They grow with RAM or address
//! space, so instead of one snapshot rendered at open, an open file holds a
//! cursor and the bytes of one chunk of rows, made as the reads reach it: the
//! first bytes come at once on any machine, and the daemon's memory for an
//! open listing is one chunk, freed at close.
//!
//! Each chunk is made under the core locks its rows need, taken once and
//! briefly (`Mm::pfn_rows`, `pfn_list_chunk`: the PFN lock; `ptes_chunk`,
//! `workingset_chunk`: the address space), so each row (each chunk) is
//! consistent and the whole file is not one instant.
//!
//! Offsets: `pfn/db`'s rows are fixed-width, so any offset names a PFN and a
//! read anywhere makes just the chunk it needs. The others go forward from
//! the cursor: a read past the current chunk makes the chunks up to it, and a
//! read before it starts over from the first row (what a second `cat` on the
//! same descriptor after a seek to 0 does). A read past the end returns 0.
//! A process that ends while its listing is read ends the listing there.
//!
//! Lock: `Stream::state`, one per open listing, is held while its next chunk
//! is made, that is while calling into `Mm`; nothing in `Mm` or the rest of
//! `fs` takes it, so it comes before every core lock and no cycle can close.
//! It serializes concurrent reads of one descriptor, which share its cursor.
//!
//! Reading ahead: once a small read from the FUSE path (`read_with`, an
//! eighth of the chunk at most) has gone past the middle of the current
//! chunk, the next chunk is made on a thread of its own while the reads go on (the request path is one core's ping-pong
//! between the reader and a FUSE thread; the other core makes the rows). The
//! read that reaches the chunk's end takes it if it starts where the current
//! one ends from the same cursor, and makes it itself otherwise (a seek, or
//! `pfn/db` read anywhere). So an open listing holds at most two chunks, a
//! `head` of the first bytes makes none ahead, and each chunk is still made
//! under its core locks once, only earlier: its rows are as consistent as
//! before, and the file was never one instant. `Stream::ahead`, the slot of
//! the chunk being made, is a leaf: held only to put a thread's handle in or
//! take it out, never while calling into `Mm` or waiting for the thread
//! (which runs with no lock of this file held).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::lock;
use super::node::{File, ProcessFile};
use super::render::{self, PfnDbWidths};
use crate::mm::base::types::Pid;
use crate::mm::inspect::ListCursor;
use crate::mm::pfn::PageLocation;
use crate::mm::{Mm, MmResult};

/// `pfn/db` rows per chunk (about 100 bytes each).
pub const PFN_DB_CHUNK: u32 = 2048;
/// PFNs per chunk of a `pfn/lists/` file (about 10 bytes each).
pub const LIST_CHUNK: u32 = 8192;
/// `ptes` and `workingset` rows per chunk (about 60 bytes each).
pub const ROW_CHUNK: u32 = 2048;

/// Which listing a stream reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    PfnDb,
    /// A `pfn/lists/` file: a location, and for `standby-N` the priority.
    List(PageLocation, Option<u8>),
    Ptes(Pid),
    Workingset(Pid),
}

impl Source {
    /// The listing `file` is, if it streams.
    pub fn of(file: File) -> Option<Source> {
        match file {
            File::PfnDb => Some(Source::PfnDb),
            File::PfnList(loc) => Some(Source::List(loc, None)),
            File::StandbyList(p) => Some(Source::List(PageLocation::Standby, Some(p))),
            File::Process(pid, ProcessFile::Ptes) => Some(Source::Ptes(pid)),
            File::Process(pid, ProcessFile::Workingset) => Some(Source::Workingset(pid)),
            _ => None,
        }
    }
}

/// Where the next chunk starts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cursor {
    Pfn(u32),
    List(ListCursor),
    Va(u64),
    Wsle(u32),
    Done,
}

/// The chunk an open listing holds: its bytes, where they start in the file,
/// and where the chunk after it starts.
struct Chunk {
    start: u64,
    /// Shared with the replies being sent from it (`read_with`).
    bytes: Arc<Vec<u8>>,
    next: Cursor,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

/// What an open listing's chunks are made from: everything but the current
/// chunk, so that a thread of its own can make the next one (`Ahead`).
#[derive(Clone, Copy)]
struct Maker {
    source: Source,
    widths: PfnDbWidths,
    /// Rows per chunk (`pfn/db`: PFNs): `PFN_DB_CHUNK`, `LIST_CHUNK` or
    /// `ROW_CHUNK` (smaller in tests, to cross many chunks).
    chunk_rows: u32,
}

/// The chunk being made ahead: where it starts in the file, the cursor it is
/// made from, and the thread making it.
struct Ahead {
    start: u64,
    cursor: Cursor,
    made: JoinHandle<Chunk>,
}

/// An open streaming listing.
pub struct Stream {
    maker: Maker,
    /// The current chunk; see the module's note on this lock.
    state: Mutex<Chunk>,
    /// The next chunk, being made ahead (a leaf lock; see the module's note).
    ahead: Mutex<Option<Ahead>>,
}

impl Stream {
    /// Opens a listing: its first chunk is made now, so a process that is
    /// gone fails the open as a snapshot's would.
    pub fn open(mm: &Mm, source: Source) -> MmResult<Stream> {
        let rows = match source {
            Source::PfnDb => PFN_DB_CHUNK,
            Source::List(..) => LIST_CHUNK,
            Source::Ptes(_) | Source::Workingset(_) => ROW_CHUNK,
        };
        Stream::with_chunk(mm, source, rows)
    }

    /// `open`, with `chunk_rows` rows per chunk.
    pub(super) fn with_chunk(mm: &Mm, source: Source, chunk_rows: u32) -> MmResult<Stream> {
        let maker = Maker {
            source,
            widths: PfnDbWidths::of(mm),
            chunk_rows: chunk_rows.max(1),
        };
        let first = maker.first_chunk(mm)?;
        Ok(Stream {
            maker,
            state: Mutex::new(first),
            ahead: Mutex::new(None),
        })
    }

    /// Up to `size` bytes from `offset`, made from as many chunks as needed.
    pub fn read(&self, mm: &Mm, offset: u64, size: u32) -> Vec<u8> {
        let mut chunk = lock(&self.state);
        self.read_locked(mm, &mut chunk, offset, size)
    }

    /// `read`, handing the bytes to `reply`: a read inside the current chunk
    /// (all but one read a chunk, for `dd bs=4096`) gets a slice of it, with
    /// no copy. `reply` (the FUSE reply) runs after this stream's lock is let
    /// go: held across it, the next read, on another FUSE thread, slept on
    /// the lock (measured slower than the copy it saved). A read past the
    /// middle of the chunk has the next one made ahead, after its reply.
    pub fn read_with<R>(
        &self,
        mm: &Arc<Mm>,
        offset: u64,
        size: u32,
        reply: impl FnOnce(&[u8]) -> R,
    ) -> R {
        let mut chunk = lock(&self.state);
        let end = offset.saturating_add(size as u64);
        if offset >= chunk.start && end <= chunk.end() {
            let from = (offset - chunk.start) as usize;
            let to = (end - chunk.start) as usize;
            let bytes = Arc::clone(&chunk.bytes);
            // Only small reads (a chunk is many of them) leave the thread
            // time to make the next chunk before a read needs it; for reads
            // of a large part of a chunk (`cat`'s 128 KiB) the thread's start
            // and the rows made on the other core's cache cost more than
            // they save (measured: `cat pfn/db` 0.31 of tmpfs's, 0.24 so).
            let ahead = to > bytes.len() / 2 && (size as usize) * 8 <= bytes.len();
            let next =
                (ahead && chunk.next != Cursor::Done).then(|| (chunk.end(), chunk.next.clone()));
            drop(chunk);
            let r = reply(&bytes[from..to]);
            if let Some((start, cursor)) = next {
                self.make_ahead(mm, start, cursor);
            }
            return r;
        }
        let bytes = self.read_locked(mm, &mut chunk, offset, size);
        drop(chunk);
        reply(&bytes)
    }

    /// Has the chunk at `start` from `cursor` made on a thread of its own,
    /// unless it is being made already. If no thread can be started, the
    /// read that reaches it makes it.
    fn make_ahead(&self, mm: &Arc<Mm>, start: u64, cursor: Cursor) {
        let mut ahead = lock(&self.ahead);
        if ahead.as_ref().is_some_and(|a| a.start == start) {
            return;
        }
        let (maker, mm, from) = (self.maker, Arc::clone(mm), cursor.clone());
        let made = std::thread::Builder::new()
            .name("mmfs-listing".into())
            .spawn(move || maker.chunk_after(&mm, start, from));
        // A thread replaced here (a seek made the chunk it makes useless)
        // finishes alone and its chunk is dropped.
        *ahead = made.ok().map(|made| Ahead {
            start,
            cursor,
            made,
        });
    }

    /// The chunk made ahead, if it is the one at `start` from `cursor`
    /// (waited for, with only `Stream::state` held, which its thread never
    /// takes).
    fn take_ahead(&self, start: u64, cursor: &Cursor) -> Option<Chunk> {
        let a = lock(&self.ahead).take()?;
        if a.start != start || a.cursor != *cursor {
            return None;
        }
        a.made.join().ok()
    }

    fn read_locked(&self, mm: &Mm, chunk: &mut Chunk, offset: u64, size: u32) -> Vec<u8> {
        let end = offset.saturating_add(size as u64);
        let mut out = Vec::with_capacity((size as usize).min(1 << 17));
        let mut pos = offset;
        while pos < end {
            // `pfn/db` goes anywhere by computing the chunk, but the one
            // right after the current chunk is the sequential next one (which
            // may have been made ahead).
            if pos < chunk.start || (pos > chunk.end() && self.maker.source == Source::PfnDb) {
                match self.maker.chunk_at(mm, pos) {
                    Some(c) => *chunk = c,
                    None => break,
                }
                if pos >= chunk.end() && self.maker.source == Source::PfnDb {
                    break; // Nothing there (the end of RAM): never loop.
                }
                continue;
            }
            if pos >= chunk.end() {
                if chunk.next == Cursor::Done {
                    break;
                }
                let start = chunk.end();
                let next = std::mem::replace(&mut chunk.next, Cursor::Done);
                *chunk = match self.take_ahead(start, &next) {
                    Some(made) => made,
                    None => self.maker.chunk_after(mm, start, next),
                };
                continue;
            }
            let from = (pos - chunk.start) as usize;
            let to = ((end - chunk.start) as usize).min(chunk.bytes.len());
            out.extend_from_slice(&chunk.bytes[from..to]);
            pos += (to - from) as u64;
        }
        out
    }
}

impl Maker {
    /// The chunk holding `pos` when going back (or, for `pfn/db`, anywhere):
    /// `pfn/db` computes it; the others start over. `None` past the end.
    fn chunk_at(&self, mm: &Mm, pos: u64) -> Option<Chunk> {
        if self.source != Source::PfnDb {
            // A process gone since the open: nothing more to read.
            return self.first_chunk(mm).ok();
        }
        let header = render::PFN_DB_HEADER.len() as u64;
        let row = self.widths.row_len() as u64;
        let pfn = pos.saturating_sub(header) / row;
        if pfn >= u64::from(mm.physical_pages()) {
            return None;
        }
        let index = u32::try_from(pfn / self.chunk_rows as u64).ok()?;
        let first = index.checked_mul(self.chunk_rows)?;
        if index == 0 {
            return self.first_chunk(mm).ok();
        }
        Some(self.chunk_after(mm, header + first as u64 * row, Cursor::Pfn(first)))
    }

    /// The header and the first rows.
    fn first_chunk(&self, mm: &Mm) -> MmResult<Chunk> {
        let (header, cursor) = match self.source {
            Source::PfnDb => (render::PFN_DB_HEADER, Cursor::Pfn(0)),
            Source::List(..) => ("", Cursor::List(ListCursor::default())),
            Source::Ptes(_) => (render::PTES_HEADER, Cursor::Va(0)),
            Source::Workingset(_) => (render::WORKINGSET_HEADER, Cursor::Wsle(0)),
        };
        let mut bytes = self.chunk_buffer();
        bytes.extend_from_slice(header.as_bytes());
        let next = self.rows(mm, cursor, &mut bytes)?;
        Ok(Chunk {
            start: 0,
            bytes: Arc::new(bytes),
            next,
        })
    }

    /// The chunk of rows from `cursor`, starting at `start` in the file.
    fn chunk_after(&self, mm: &Mm, start: u64, cursor: Cursor) -> Chunk {
        let mut bytes = self.chunk_buffer();
        // A process gone since the open ends its listing.
        let next = self.rows(mm, cursor, &mut bytes).unwrap_or(Cursor::Done);
        Chunk {
            start,
            bytes: Arc::new(bytes),
            next,
        }
    }

    /// Room for a chunk at once, so that it is never copied as it grows:
    /// pfn/db's rows are fixed-width, a list's a PFN and a newline, the
    /// others' about two addresses and 48 bytes (a `ptes` row's state,
    /// offset and a usual protection), plus the header and
    /// `render::ROW_MAX` for the last row, made in place at the end
    /// (measured: without it, each chunk was copied once more by `realloc`
    /// at its last row).
    fn chunk_buffer(&self) -> Vec<u8> {
        let w = self.widths;
        let row = match self.source {
            Source::PfnDb => w.row_len(),
            Source::List(..) => w.pfn + 3,
            Source::Ptes(_) | Source::Workingset(_) => w.va + w.pte + 48,
        };
        Vec::with_capacity(row * self.chunk_rows as usize + 2 * render::ROW_MAX)
    }

    /// Appends one chunk's rows from `cursor` to `out`; the cursor after them.
    fn rows(&self, mm: &Mm, cursor: Cursor, out: &mut Vec<u8>) -> MmResult<Cursor> {
        Ok(match (self.source, cursor) {
            (Source::PfnDb, Cursor::Pfn(first)) => {
                for r in mm.pfn_rows(first, self.chunk_rows) {
                    render::push_pfn_db_row(out, &r, self.widths);
                }
                let next = first.saturating_add(self.chunk_rows);
                if next >= mm.physical_pages() {
                    Cursor::Done
                } else {
                    Cursor::Pfn(next)
                }
            }
            (Source::List(loc, priority), Cursor::List(mut c)) => {
                let pfns = mm.pfn_list_chunk(loc, priority, &mut c, self.chunk_rows as usize);
                render::push_pfn_lines(out, render::pfn_width(mm), &pfns);
                if c.done {
                    Cursor::Done
                } else {
                    Cursor::List(c)
                }
            }
            (Source::Ptes(pid), Cursor::Va(from)) => {
                let (rows, next) = mm.ptes_chunk(pid, from, self.chunk_rows as usize)?;
                let (vw, tw) = (render::va_width(mm), render::pte_width(mm));
                for r in &rows {
                    render::push_pte_row(out, r, vw, tw);
                }
                next.map_or(Cursor::Done, Cursor::Va)
            }
            (Source::Workingset(pid), Cursor::Wsle(from)) => {
                let (rows, next) = mm.workingset_chunk(pid, from, self.chunk_rows as usize)?;
                let (vw, pw) = (render::va_width(mm), render::pfn_width(mm));
                for r in &rows {
                    render::push_ws_row(out, r, vw, pw);
                }
                next.map_or(Cursor::Done, Cursor::Wsle)
            }
            _ => Cursor::Done,
        })
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
