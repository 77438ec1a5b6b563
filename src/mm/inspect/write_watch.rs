//! `processes/<name>/write-watch`: GetWriteWatch over every write-watch
//! region of a process, without WRITE_WATCH_FLAG_RESET (reading the file
//! forgets nothing; `reset-write-watch` does).

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::Pid;
use crate::mm::vad::VadType;
use crate::mm::vm;

/// One row of `processes/<name>/write-watch`: a page written since its
/// region's last reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteWatchRow {
    /// The write-watch region (its VAD's first address).
    pub region: u64,
    /// The page written.
    pub va: u64,
}

impl Mm {
    /// Every page written in a write-watch region of `pid` since that
    /// region's last reset, in address order. Takes the process's
    /// address-space lock (the valid PTEs' dirty bits change only under it).
    pub fn write_watch(&self, pid: Pid) -> MmResult<Vec<WriteWatchRow>> {
        let p = self.process(pid)?;
        let space = p.live_space()?;
        let mut rows = Vec::new();
        for v in space.vads.iter() {
            if v.vad_type != VadType::WriteWatch {
                continue;
            }
            let region = v.start_va().0;
            let pages = vm::get_write_watch(&self.machine, &space, region, v.size_bytes())?;
            rows.extend(
                pages
                    .into_iter()
                    .map(|va| WriteWatchRow { region, va: va.0 }),
            );
        }
        Ok(rows)
    }
}
