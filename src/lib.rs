//! mmfs: a simulated Windows NT memory manager, mounted as a FUSE filesystem.
//!
//! - [`mm`] is the memory manager itself: a library with no FUSE in it.
//! - [`cmd`] is the command language of the `control` files: it parses a line and
//!   calls an `mm` service. No FUSE either, so it can be tested and fuzzed alone.
//! - [`fs`] is the FUSE adapter: inodes, generated files, control files, errno.
//! - [`options`] is the command line.
//! - [`test_mount`]: [`TestMount`], an mmfs mounted in a temporary directory for one
//!   test and unmounted on drop.
//! - [`beneath`] opens names inside the `--files` volume without ever leaving it.
//! - `fuzzing` holds the bodies of the fuzz targets in `fuzz/` (hidden: not an API).

pub mod beneath;
pub mod cmd;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
pub mod mm;
pub mod options;
pub mod test_mount;

pub use test_mount::TestMount;
