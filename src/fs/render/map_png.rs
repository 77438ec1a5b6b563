//! `pfn/map.png`: RAMMap's Physical Pages as a picture. One pixel per physical
//! page, row-major, in two bands: the page's state (its list) and its use
//! (RAMMap's Use Counts rows), each with a legend drawn in the image with the
//! public-domain 8×8 font of the `font8x8` crate.
//!
//! Speed: a 64 GB machine has 16 M pages. The core hands over one byte per page
//! (`Mm::page_map`); each band row is that slice mapped through a 256-entry
//! table to palette indexes; the image is an 8-bit indexed PNG (one byte per
//! pixel, the Sub filter, `png`'s fdeflate-based `Compression::Fast`), so the whole
//! is a few linear passes over 16–40 MB.
//!
//! The palette is part of the file's contract (pfn/README), so scripts can
//! count pixels: 0 background, 1 text, 2–9 the states in MMLISTS order
//! (zeroed .. transition), 10–23 the uses in `system/usecounts`' row order.
//! Each legend swatch is 8 × 8 pixels at 512 pages a row (scaled with the
//! row), one per state and per use.

use font8x8::legacy::BASIC_LEGACY;
use png::{BitDepth, ColorType, Compression, Encoder, Filter};

use crate::mm::base::types::PAGE_SIZE;
use crate::mm::inspect::PageMap;
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::{Mm, MmResult};

/// Palette index of the background (and of pixels past the last page).
const BACKGROUND: u8 = 0;
/// Palette index of the text.
const INK: u8 = 1;
/// Palette index of the first state colour (MMLISTS order follows).
const FIRST_STATE: u8 = 2;
/// Palette index of the first use colour (`PageUse::ALL` order follows).
const FIRST_USE: u8 = FIRST_STATE + 8;

/// The colour of each state, in MMLISTS order: free memory in blues, the
/// standby and modified lists in ambers and oranges (cached, reusable),
/// active in green, transition in violet, bad in red.
pub const STATE_COLOURS: [[u8; 3]; 8] = [
    [0xbf, 0xe3, 0xff], // zeroed
    [0x6f, 0xa8, 0xdc], // free
    [0xff, 0xd2, 0x4d], // standby
    [0xff, 0x8c, 0x1a], // modified
    [0xa0, 0x52, 0x2d], // modified-no-write
    [0xd6, 0x27, 0x28], // bad
    [0x2c, 0xa0, 0x2c], // active
    [0x94, 0x67, 0xbd], // transition
];

/// The colour of each use, in RAMMap's row order (`PageUse::ALL`, the rows of
/// `system/usecounts`).
pub const USE_COLOURS: [[u8; 3]; 14] = [
    [0x1f, 0x77, 0xb4], // ProcessPrivate
    [0xff, 0x7f, 0x0e], // MappedFile
    [0xff, 0xbb, 0x78], // Shareable
    [0xe3, 0x1a, 0x1c], // PageTable
    [0x80, 0x4f, 0xb3], // PagedPool
    [0xc5, 0xb0, 0xd5], // NonPagedPool
    [0x8c, 0x56, 0x4b], // SystemPte
    [0xc4, 0x9c, 0x94], // SessionPrivate
    [0xe3, 0x77, 0xc2], // Metafile
    [0x17, 0xbe, 0xcf], // AWE
    [0x5a, 0x5a, 0x5a], // DriverLocked
    [0xbc, 0xbd, 0x22], // KernelStack
    [0x33, 0x8a, 0x3e], // LargePage
    [0xe4, 0xe4, 0xe4], // Unused
];

/// A use's place in `PageUse::ALL` (its row, its colour), by its code.
fn use_row(code: u8) -> Option<u8> {
    PageUse::ALL
        .iter()
        .position(|u| *u as u8 == code)
        .map(|i| i as u8)
}

const BACKGROUND_RGB: [u8; 3] = [0xff, 0xff, 0xff];
const INK_RGB: [u8; 3] = [0x1a, 0x1a, 0x1a];

/// Pages a band row holds: the smallest power of two, at least 512 (SPEC
/// §8a), whose square holds every page, so a band is about square and a
/// row is a round size (512 pages = 2 MB): 256 MB → 512 × 128,
/// 4 GB → 1024 × 1024, 64 GB → 4096 × 4096.
pub fn row_pages(pages: usize) -> usize {
    let mut w = 512usize;
    while w.saturating_mul(w) < pages {
        w *= 2;
    }
    w
}

/// Where things are in the picture (pixels), for the renderer and the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub width: usize,
    pub height: usize,
    /// Pages per band row (the band's width in pixels).
    pub row_pages: usize,
    /// Band rows.
    pub rows: usize,
    /// Left edge of both bands.
    pub left: usize,
    /// Top rows of the state band and of the use band.
    pub state_top: usize,
    pub use_top: usize,
    /// Pixels per font pixel: 1 at 512 pages a row, 8 at 4096.
    scale: usize,
}

/// Legend entries per legend row.
const LEGEND_COLUMNS: usize = 2;

impl Geometry {
    pub fn new(pages: usize) -> Geometry {
        let row_pages = row_pages(pages);
        let rows = pages.div_ceil(row_pages).max(1);
        let scale = row_pages / 512;
        let line = 12 * scale;
        let margin = 8 * scale;
        // Title (2 lines), band label, band, gap, legend; twice.
        let legend_rows = |n: usize| n.div_ceil(LEGEND_COLUMNS);
        let state_top = margin + 3 * line;
        let use_top = state_top + rows + margin / 2 + legend_rows(8) * line + line + line;
        let height = use_top + rows + margin / 2 + legend_rows(14) * line + margin;
        Geometry {
            width: row_pages + 2 * margin,
            height,
            row_pages,
            rows,
            left: margin,
            state_top,
            use_top,
            scale,
        }
    }

    fn line(&self) -> usize {
        12 * self.scale
    }
}

/// An indexed-colour picture: one palette index per pixel.
struct Canvas {
    width: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, colour: u8) {
        for row in y..y + h {
            let start = row * self.width + x;
            if let Some(line) = self.px.get_mut(start..start + w) {
                line.fill(colour);
            }
        }
    }

    /// Draws ASCII `text` at (x, y), each font pixel `scale` pixels square;
    /// anything else draws as `?`. Returns the x after the text.
    fn text(&mut self, x: usize, y: usize, scale: usize, text: &str) -> usize {
        let mut x = x;
        for c in text.chars() {
            let glyph = BASIC_LEGACY[if c.is_ascii() {
                c as usize
            } else {
                '?' as usize
            }];
            for (r, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        self.fill(x + col * scale, y + r * scale, scale, scale, INK);
                    }
                }
            }
            x += 8 * scale;
        }
        x
    }

    /// One band: page `i` at (left + i % row, top + i / row), its colour
    /// `lut[byte]`.
    fn band(&mut self, g: &Geometry, top: usize, bytes: &[u8], lut: &[u8; 256]) {
        for (r, chunk) in bytes.chunks(g.row_pages).enumerate() {
            let start = (top + r) * self.width + g.left;
            let Some(line) = self.px.get_mut(start..start + chunk.len()) else {
                return;
            };
            for (p, b) in line.iter_mut().zip(chunk) {
                *p = lut[*b as usize];
            }
        }
    }

    /// A line of text colour round a band, a font pixel wide, so its edge
    /// shows where the pages are pale (zeroed, unused).
    fn frame(&mut self, g: &Geometry, top: usize) {
        let s = g.scale;
        let (x, w) = (g.left - s, g.row_pages + 2 * s);
        self.fill(x, top - s, w, s, INK);
        self.fill(x, top + g.rows, w, s, INK);
        self.fill(x, top, s, g.rows, INK);
        self.fill(g.left + g.row_pages, top, s, g.rows, INK);
    }

    /// A legend under a band: a swatch, a name and a page count per entry.
    fn legend(&mut self, g: &Geometry, top: usize, entries: &[(u8, &str, u64)]) {
        let s = g.scale;
        let column = g.row_pages / LEGEND_COLUMNS;
        for (i, (colour, name, count)) in entries.iter().enumerate() {
            let x = g.left + (i % LEGEND_COLUMNS) * column;
            let y = top + (i / LEGEND_COLUMNS) * g.line();
            self.fill(x, y, 8 * s, 8 * s, *colour);
            self.text(x + 10 * s, y, s, &format!("{name:<17}{count:>9}"));
        }
    }
}

fn palette() -> Vec<u8> {
    let mut p = Vec::with_capacity(3 * 24);
    p.extend(BACKGROUND_RGB);
    p.extend(INK_RGB);
    STATE_COLOURS.iter().for_each(|c| p.extend(c));
    USE_COLOURS.iter().for_each(|c| p.extend(c));
    p
}

/// Palette indexes of a packed page byte: its state's and its use's.
fn luts() -> ([u8; 256], [u8; 256]) {
    let mut state = [BACKGROUND; 256];
    let mut use_ = [BACKGROUND; 256];
    for b in 0..=255u8 {
        state[b as usize] = FIRST_STATE + PageMap::location_of(b) as u8;
        use_[b as usize] = use_row(PageMap::use_code_of(b)).map_or(BACKGROUND, |r| FIRST_USE + r);
    }
    (state, use_)
}

/// `256 MB`, `64 GB`.
pub(super) fn size_text(bytes: u64) -> String {
    let mb = bytes >> 20;
    if mb >= 1024 && mb.is_multiple_of(1024) {
        format!("{} GB", mb / 1024)
    } else {
        format!("{mb} MB")
    }
}

/// Draws the picture of `map` into palette indexes.
fn draw(map: &PageMap, g: &Geometry) -> MmResult<Vec<u8>> {
    // Asked of the host, not assumed: 16 TB of simulated RAM (2^32 pages)
    // would need 9 GB of pixels.
    let mut px = Vec::new();
    px.try_reserve_exact(g.width * g.height).map_err(|_| {
        crate::mm_err!(
            INSUFFICIENT_RESOURCES,
            "no host memory for a {} x {} picture",
            g.width,
            g.height
        )
    })?;
    px.resize(g.width * g.height, BACKGROUND);
    let mut c = Canvas { width: g.width, px };
    let (s, line, pages) = (g.scale, g.line(), map.pages() as u64);
    c.text(
        g.left,
        g.left,
        s,
        &format!(
            "PHYSICAL MEMORY: {pages} pages, {}",
            size_text(pages * PAGE_SIZE)
        ),
    );
    c.text(
        g.left,
        g.left + line,
        s,
        &format!(
            "1 pixel = 1 page, {} pages ({} KB) a row",
            g.row_pages,
            (g.row_pages as u64 * PAGE_SIZE) >> 10
        ),
    );
    let (state_lut, use_lut) = luts();
    c.text(g.left, g.state_top - line, s, "State (pfn/lists)");
    c.band(g, g.state_top, map.bytes(), &state_lut);
    c.frame(g, g.state_top);
    let counts = map.location_counts();
    let states: Vec<(u8, &str, u64)> = PageLocation::ALL
        .iter()
        .map(|l| (FIRST_STATE + *l as u8, l.name(), counts[*l as usize]))
        .collect();
    c.legend(g, g.state_top + g.rows + g.left / 2, &states);
    c.text(g.left, g.use_top - line, s, "Use (system/usecounts)");
    c.band(g, g.use_top, map.bytes(), &use_lut);
    c.frame(g, g.use_top);
    let counts = map.use_counts();
    let uses: Vec<(u8, &str, u64)> = PageUse::ALL
        .iter()
        .enumerate()
        .map(|(row, u)| (FIRST_USE + row as u8, u.name(), counts[*u as usize]))
        .collect();
    c.legend(g, g.use_top + g.rows + g.left / 2, &uses);
    Ok(c.px)
}

/// Encodes indexed pixels as a PNG.
fn encode(g: &Geometry, px: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::with_capacity(px.len() / 8 + 4096);
    let mut e = Encoder::new(&mut out, g.width as u32, g.height as u32);
    e.set_color(ColorType::Indexed);
    e.set_depth(BitDepth::Eight);
    e.set_palette(palette());
    // Fast: fdeflate, a deflate made for PNG that codes runs of zero bytes
    // and Huffman-codes the rest. The Sub filter (each byte less its left
    // neighbour) turns a run of one colour, a list's pages or the
    // background, into zeros: an idle 64 GB machine's picture is then a few
    // hundred KB instead of 30 MB unfiltered, for one subtraction a byte.
    e.set_compression(Compression::Fast);
    e.set_filter(Filter::Sub);
    let mut w = e.write_header()?;
    w.write_image_data(px)?;
    w.finish()?;
    Ok(out)
}

/// `pfn/map.png`.
pub fn map_png(mm: &Mm) -> MmResult<Vec<u8>> {
    let map = mm.page_map()?;
    let g = Geometry::new(map.pages());
    let px = draw(&map, &g)?;
    encode(&g, &px)
        .map_err(|e| crate::mm_err!(INSUFFICIENT_RESOURCES, "cannot encode pfn/map.png: {e}"))
}
