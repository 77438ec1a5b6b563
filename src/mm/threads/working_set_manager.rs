//! The working-set manager (MmWorkingSetManager), run by the balance set manager
//! every second and woken early when available memory runs low.
//!
//! Each full pass ages every working set by its accessed bits. When memory is
//! short — available pages at or below MmPlentyFreePages, or standby pages being
//! repurposed fast (a quarter of available since the last pass) — it trims toward
//! 1.5 × MmPlentyFreePages, largest working sets first, in WRK's passes: pages of
//! age ≥ 2, then age ≥ 1, then a quarter of what each process holds above its
//! minimum, of any age. No process goes below its minimum unless outswapped.
//! It also wakes the modified page writer and the zero page thread when their
//! lists call for it (WRK's working-set manager drives modified page writing).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::mm::base::wakeups::SystemThread;
use crate::mm::machine::Machine;
use crate::mm::pfn::PageLocation;
use crate::mm::process::{Process, ProcessState};

use super::{System, SystemThreads};

/// One pass: age (a full pass only), then trim if memory is short.
pub(super) fn pass(threads: &SystemThreads, sys: System<'_>, age: bool) -> u64 {
    let m = sys.m;
    let processes = sys.processes.all();
    if age {
        let mut changed = 0;
        for p in &processes {
            let mut space = p.space();
            if space.state != ProcessState::Terminated {
                changed += space.age_working_set(m);
            }
        }
        // `tick` skips seconds only after a pass whose aging changed nothing.
        threads.aging_changes.store(changed, Ordering::Relaxed);
    }
    let (available, modified, free) = {
        let st = m.pfn_lock();
        (
            st.db.available(),
            st.db.list_count(PageLocation::Modified),
            st.db.list_count(PageLocation::Free),
        )
    };
    let repurposed = m.counters.pages_repurposed.load(Ordering::Relaxed);
    let since =
        repurposed.saturating_sub(threads.repurposed_seen.swap(repurposed, Ordering::Relaxed));
    let plenty = m.thresholds.plenty_free;
    let mut goal = (plenty * 3 / 2).saturating_sub(available);
    if since > 0 && since >= available / 4 {
        goal = goal.max(plenty / 4);
    }
    let trimmed = if available <= plenty || goal > 0 {
        trim_toward(m, &processes, goal)
    } else {
        0
    };
    if modified >= m.thresholds.modified_maximum
        || (modified > 0 && available < m.thresholds.minimum_free)
    {
        m.wakeups.wake(SystemThread::ModifiedPageWriter);
    }
    if free >= m.thresholds.zero_wake {
        m.wakeups.wake(SystemThread::ZeroPageThread);
    }
    trimmed
}

/// Trims up to `goal` pages in WRK's three passes, largest working sets first.
fn trim_toward(m: &Machine, processes: &[Arc<Process>], goal: u64) -> u64 {
    let mut trimmed = 0;
    for pass in 0..3 {
        let mut order: Vec<(u64, &Arc<Process>)> =
            processes.iter().map(|p| (p.space().ws.len(), p)).collect();
        order.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        for (_, p) in order {
            if trimmed >= goal {
                return trimmed;
            }
            let mut space = p.space();
            let floor = match space.state {
                ProcessState::Terminated => continue,
                ProcessState::Outswapped => 0,
                ProcessState::Running => space.ws.minimum,
            };
            let want = goal - trimmed;
            trimmed += match pass {
                0 => space.trim_aged(m, 2, want, floor),
                1 => space.trim_aged(m, 1, want, floor),
                _ => {
                    let quarter = (space.ws.len().saturating_sub(floor) / 4).max(1);
                    space.trim_aged(m, 0, want.min(quarter), floor)
                }
            };
        }
    }
    trimmed
}
