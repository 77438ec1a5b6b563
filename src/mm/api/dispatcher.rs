//! `--clock auto`: one OS thread that plays the system threads (`threads/`) on
//! real time. It fires the balance set manager's one-second timer and serves
//! wake requests as they arrive (the allocator wakes the modified page writer,
//! the zero page thread and the working-set manager; commit changes wake the
//! segment dereference thread).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::mm::Mm;
use crate::mm::base::config::ClockMode;
use crate::mm::base::wakeups::SystemThread;

/// Runs the system threads while it lives (auto clock only); `stop` ends them.
pub struct Dispatcher {
    mm: Arc<Mm>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts the threads if the clock is auto; with a manual clock the returned
    /// dispatcher does nothing (time moves only by `tick`).
    pub fn start(mm: Arc<Mm>) -> std::io::Result<Dispatcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = if mm.clock().mode() == ClockMode::Auto {
            let (mm2, stop2) = (mm.clone(), stop.clone());
            Some(
                std::thread::Builder::new()
                    .name("mm-system-threads".into())
                    .spawn(move || run(&mm2, &stop2))?,
            )
        } else {
            None
        };
        Ok(Dispatcher { mm, stop, handle })
    }

    /// Stops the threads and waits for the pass in progress to finish.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.mm.machine().wakeups.notify();
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            log::error!("the system threads panicked");
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(mm: &Mm, stop: &AtomicBool) {
    let mut next_second = mm.clock().now_ms() + 1000;
    while !stop.load(Ordering::Acquire) {
        let now = mm.clock().now_ms();
        if now >= next_second {
            mm.run_thread(SystemThread::BalanceSetManager);
            mm.run_thread(SystemThread::LazyWriter);
            mm.record_history();
            // A pass that overran does not make the timer fire in a burst.
            next_second = (next_second + 1000).max(now + 1);
        }
        mm.serve_wakeups();
        let wait = next_second
            .saturating_sub(mm.clock().now_ms())
            .clamp(1, 1000);
        mm.machine().wakeups.wait(Duration::from_millis(wait));
    }
}
