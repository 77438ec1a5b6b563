//! The event trace behind `system/events` (SPEC §5): the memory manager emits one
//! line per event, and every open reader gets its own bounded queue of them.
//!
//! Nobody reading costs one relaxed load: [`emit_event!`] tests [`EventLog::enabled`]
//! before it evaluates or formats anything.
//!
//! # Locks
//!
//! `Shared::state` is a leaf below every lock of the memory manager, the PFN lock
//! included: `emit` runs with that lock held, so nothing is taken, no I/O is done and
//! nothing is formatted while `state` is held. An event's text is formatted once,
//! before the lock; its `<seq> <time_ms>` prefix is written by the reader, outside it.
//! `EventLog::names` (the process names events carry) is a leaf too, read while the
//! text is formatted, before `state`.

use std::collections::{HashMap, VecDeque};
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Per-reader buffer bound, in events.
pub const READER_CAPACITY: usize = 4096;

/// Emits an event only if someone reads: otherwise neither the time nor the
/// format arguments are evaluated.
///
/// ```
/// let log = mmfs::mm::base::events::EventLog::new();
/// let reader = log.subscribe();
/// let (pid, va, pfn) = (8, 0x10000u64, 0x1a3u32);
/// mmfs::emit_event!(log, 10331, "fault.demand-zero", "pid={pid} va={va:#x} pfn={pfn:#x}");
/// let line = String::from_utf8(reader.take(4096)).unwrap();
/// assert!(line.ends_with(" 10331 fault.demand-zero pid=8 va=0x10000 pfn=0x1a3\n"), "{line}");
/// ```
#[macro_export]
macro_rules! emit_event {
    ($log:expr, $time:expr, $name:expr, $($fmt:tt)+) => {{
        let log: &$crate::mm::base::events::EventLog = &$log;
        if log.enabled() {
            log.emit($time, $name, format_args!($($fmt)+));
        }
    }};
}

/// One event as queued: the text after the prefix, shared by every reader.
#[derive(Clone)]
struct Event {
    seq: u64,
    time_ms: u64,
    /// `<name> key=value ...`, without the newline.
    text: Arc<str>,
}

/// One reader's queue.
#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    /// Dropped since the reader last took lines: reported before the next event.
    lost_pending: u64,
    lost_total: u64,
}

struct State {
    /// The sequence number of the next event emitted.
    next_seq: u64,
    next_id: u64,
    shut_down: bool,
    queues: HashMap<u64, Queue>,
}

struct Shared {
    /// `queues.len()`, readable without the lock.
    subscribers: AtomicUsize,
    state: Mutex<State>,
    /// Signalled when a queue stops being empty, and at shutdown.
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the queues valid, so a panic elsewhere cannot break them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The trace of one simulated machine.
pub struct EventLog {
    shared: Arc<Shared>,
    /// Process names by pid: an event with `pid=N` also says `name=...`, so a
    /// trace reads without a table of pids beside it.
    names: std::sync::RwLock<HashMap<u64, Arc<str>>>,
}

impl EventLog {
    pub fn new() -> EventLog {
        EventLog {
            shared: Arc::new(Shared {
                subscribers: AtomicUsize::new(0),
                state: Mutex::new(State {
                    next_seq: 1,
                    next_id: 0,
                    shut_down: false,
                    queues: HashMap::new(),
                }),
                ready: Condvar::new(),
            }),
            names: std::sync::RwLock::new(HashMap::new()),
        }
    }

    /// Names the process `pid` in the events from now on.
    pub fn name_process(&self, pid: u64, name: &str) {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        names.insert(pid, Arc::from(name));
    }

    /// Forgets the name of a process that is gone.
    pub fn forget_process(&self, pid: u64) {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        names.remove(&pid);
    }

    /// ` name=<name>` at the end of an event whose fields hold `pid=N`, if the
    /// process is named (at the end, so lines keep the fields they had).
    fn add_name(&self, line: &mut String, from: usize) {
        let Some(at) = line[from..].find("pid=").map(|i| from + i) else {
            return;
        };
        if at > from && !line[..at].ends_with(' ') {
            return;
        }
        let digits = &line[at + 4..];
        let end = at
            + 4
            + digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(digits.len());
        if end == at + 4 {
            return;
        }
        let Ok(pid) = line[at + 4..end].parse::<u64>() else {
            return;
        };
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = names.get(&pid) {
            line.push_str(" name=");
            line.push_str(name);
        }
    }

    /// True when at least one reader is subscribed.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.shared.subscribers.load(Ordering::Relaxed) != 0
    }

    /// Records one event for every subscriber. `name` is e.g. `fault.demand-zero`,
    /// `fields` the `key=value` text. The event takes the next sequence number
    /// (global, from 1, counting only events some reader was subscribed for).
    /// Callers go through [`emit_event!`] so that nothing is formatted when nobody reads.
    pub fn emit(&self, time_ms: u64, name: &str, fields: fmt::Arguments<'_>) {
        let mut line = String::with_capacity(64);
        line.push_str(name);
        line.push(' ');
        let bare = line.len();
        // Writing to a String cannot fail.
        let _ = line.write_fmt(fields);
        if line.len() == bare {
            line.pop();
        } else {
            self.add_name(&mut line, bare);
        }
        let text: Arc<str> = Arc::from(line);

        let mut woke = false;
        {
            let mut st = self.shared.lock();
            if st.shut_down || st.queues.is_empty() {
                return;
            }
            let event = Event {
                seq: st.next_seq,
                time_ms,
                text,
            };
            st.next_seq += 1;
            for q in st.queues.values_mut() {
                if q.events.len() >= READER_CAPACITY {
                    q.events.pop_front();
                    q.lost_pending += 1;
                    q.lost_total += 1;
                }
                woke |= q.events.is_empty();
                q.events.push_back(event.clone());
            }
        }
        // Waiters sleep only on an empty queue, so only a first event can wake one.
        if woke {
            self.shared.ready.notify_all();
        }
    }

    /// A new reader that sees the events emitted from now on.
    pub fn subscribe(&self) -> Arc<Subscription> {
        let mut st = self.shared.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.queues.insert(id, Queue::default());
        self.shared
            .subscribers
            .store(st.queues.len(), Ordering::Relaxed);
        Arc::new(Subscription {
            shared: Arc::clone(&self.shared),
            id,
        })
    }

    /// Daemon shutdown: every waiter wakes, every later wait returns
    /// [`WaitResult::Closed`] at once, and later events are dropped.
    pub fn shutdown(&self) {
        self.shared.lock().shut_down = true;
        self.shared.ready.notify_all();
    }

    pub fn is_shut_down(&self) -> bool {
        self.shared.lock().shut_down
    }

    /// Live subscriptions.
    pub fn subscribers(&self) -> usize {
        self.shared.subscribers.load(Ordering::Relaxed)
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitResult {
    /// Lines are buffered.
    Ready,
    TimedOut,
    /// The log has shut down.
    Closed,
}

/// One reader of the trace. Dropping the last reference unsubscribes it.
pub struct Subscription {
    shared: Arc<Shared>,
    id: u64,
}

/// Decimal digits of `n`.
fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Bytes of `<seq> <time_ms> <text>\n`.
fn line_len(seq: u64, time_ms: u64, text_len: usize) -> usize {
    decimal_len(seq) + 1 + decimal_len(time_ms) + 1 + text_len + 1
}

const LOST: &str = "events.lost count=";

impl Subscription {
    /// Removes and returns buffered lines, each ending in `\n`: whole lines, at most
    /// `max_bytes` in all, except that a first line longer than `max_bytes` is taken
    /// and cut short. An `events.lost count=N` line comes first when events were
    /// dropped since the last take, with the seq and time of the event that follows it.
    pub fn take(&self, max_bytes: usize) -> Vec<u8> {
        if max_bytes == 0 {
            return Vec::new();
        }
        let mut used = 0usize;
        let mut lost = None;
        let mut taken = Vec::new();
        {
            let mut st = self.shared.lock();
            let Some(q) = st.queues.get_mut(&self.id) else {
                return Vec::new();
            };
            if q.lost_pending > 0
                && let Some(next) = q.events.front()
            {
                let n = q.lost_pending;
                used = line_len(next.seq, next.time_ms, LOST.len() + decimal_len(n));
                lost = Some((next.seq, next.time_ms, n));
                q.lost_pending = 0;
            }
            while used < max_bytes
                && let Some(e) = q.events.front()
            {
                let n = line_len(e.seq, e.time_ms, e.text.len());
                if used > 0 && used + n > max_bytes {
                    break;
                }
                used += n;
                taken.extend(q.events.pop_front());
            }
        }
        let mut out = String::with_capacity(used);
        if let Some((seq, time_ms, n)) = lost {
            let _ = writeln!(out, "{seq} {time_ms} {LOST}{n}");
        }
        for e in &taken {
            let _ = writeln!(out, "{} {} {}", e.seq, e.time_ms, e.text);
        }
        let mut out = out.into_bytes();
        out.truncate(max_bytes);
        out
    }

    /// Blocks up to `timeout` until a line is buffered (`Ready`), the log shuts
    /// down (`Closed`), or time runs out (`TimedOut`). After shutdown it returns
    /// `Closed` at once even if lines remain (`take` still returns them).
    pub fn wait(&self, timeout: Duration) -> WaitResult {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if st.shut_down {
                return WaitResult::Closed;
            }
            match st.queues.get(&self.id) {
                Some(q) if !q.events.is_empty() => return WaitResult::Ready,
                Some(_) => {}
                // Unreachable while `self` lives; a reader without a queue gets nothing.
                None => return WaitResult::Closed,
            }
            let now = Instant::now();
            if now >= deadline {
                return WaitResult::TimedOut;
            }
            st = self
                .shared
                .ready
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Events dropped for this reader because its queue was full, in all.
    pub fn lost(&self) -> u64 {
        self.shared
            .lock()
            .queues
            .get(&self.id)
            .map_or(0, |q| q.lost_total)
    }

    /// True once the log has shut down.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().shut_down
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.queues.remove(&self.id);
        self.shared
            .subscribers
            .store(st.queues.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::thread;

    fn text(sub: &Subscription) -> String {
        String::from_utf8(sub.take(usize::MAX)).unwrap()
    }

    /// `(seq, time, rest)` of each line.
    fn parse(lines: &str) -> Vec<(u64, u64, String)> {
        lines
            .lines()
            .map(|l| {
                let mut it = l.splitn(3, ' ');
                let seq = it.next().unwrap().parse().unwrap();
                let time = it.next().unwrap().parse().unwrap();
                (seq, time, it.next().unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn lines_are_ordered_and_numbered() {
        let log = EventLog::new();
        let sub = log.subscribe();
        emit_event!(log, 10, "fault.demand-zero", "pid={} va={:#x}", 8, 0x10000);
        emit_event!(log, 11, "ws.trim", "pid=8 pages=3");
        log.emit(12, "zero.page", format_args!("pfn={:#x}", 0x1a3));
        assert_eq!(
            text(&sub),
            "1 10 fault.demand-zero pid=8 va=0x10000\n\
             2 11 ws.trim pid=8 pages=3\n\
             3 12 zero.page pfn=0x1a3\n"
        );
        assert_eq!(text(&sub), "");
    }

    #[test]
    fn nothing_is_evaluated_without_a_reader() {
        let log = EventLog::new();
        let calls = Cell::new(0);
        let side = || {
            calls.set(calls.get() + 1);
            7
        };
        assert!(!log.enabled());
        emit_event!(log, side(), "x", "v={}", side());
        assert_eq!(calls.get(), 0);

        let sub = log.subscribe();
        assert!(log.enabled());
        emit_event!(log, side(), "x", "v={}", side());
        assert_eq!(calls.get(), 2);
        // Events nobody read took no sequence number.
        assert_eq!(text(&sub), "1 7 x v=7\n");
    }

    #[test]
    fn a_reader_sees_only_later_events() {
        let log = EventLog::new();
        let first = log.subscribe();
        emit_event!(log, 1, "a", "n=1");
        let second = log.subscribe();
        emit_event!(log, 2, "b", "n=2");
        assert_eq!(text(&first), "1 1 a n=1\n2 2 b n=2\n");
        assert_eq!(text(&second), "2 2 b n=2\n");
    }

    #[test]
    fn overflow_drops_the_oldest_and_says_so_once() {
        let log = EventLog::new();
        let sub = log.subscribe();
        let extra = 10;
        for i in 0..READER_CAPACITY + extra {
            emit_event!(log, i as u64, "e", "i={i}");
        }
        assert_eq!(sub.lost(), extra as u64);
        let lines = parse(&text(&sub));
        assert_eq!(lines.len(), READER_CAPACITY + 1);
        let first_kept = extra as u64 + 1;
        assert_eq!(
            lines[0],
            (
                first_kept,
                extra as u64,
                format!("events.lost count={extra}")
            )
        );
        assert_eq!(lines[1], (first_kept, extra as u64, format!("e i={extra}")));
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.2.starts_with("events.lost"))
                .count(),
            1
        );
        // Reported once: the next take starts with the next event.
        emit_event!(log, 99, "e", "after");
        assert_eq!(
            text(&sub),
            format!("{} 99 e after\n", READER_CAPACITY + extra + 1)
        );
        assert_eq!(sub.lost(), extra as u64);
    }

    #[test]
    fn take_returns_whole_lines_within_the_limit() {
        let log = EventLog::new();
        let sub = log.subscribe();
        for i in 0..5 {
            emit_event!(log, 100, "ev", "i={i}");
        }
        // Each line is "N 100 ev i=N\n": 13 bytes.
        assert_eq!(sub.take(30), b"1 100 ev i=0\n2 100 ev i=1\n");
        assert_eq!(sub.take(13), b"3 100 ev i=2\n");
        // A limit below one line still yields that line, cut short.
        assert_eq!(sub.take(5), b"4 100");
        assert_eq!(sub.take(0), b"");
        assert_eq!(sub.take(1000), b"5 100 ev i=4\n");
        assert_eq!(sub.take(1000), b"");
    }

    #[test]
    fn the_lost_line_counts_against_the_limit() {
        let log = EventLog::new();
        let sub = log.subscribe();
        for _ in 0..READER_CAPACITY + 2 {
            emit_event!(log, 5, "e", "x");
        }
        // "3 5 events.lost count=2\n" is 24 bytes; "3 5 e x\n" would make 32.
        assert_eq!(sub.take(30), b"3 5 events.lost count=2\n");
        assert_eq!(sub.take(8), b"3 5 e x\n");
    }

    #[test]
    fn wait_reports_ready_timeout_and_close() {
        let log = Arc::new(EventLog::new());
        let sub = log.subscribe();
        assert_eq!(sub.wait(Duration::from_millis(20)), WaitResult::TimedOut);

        let emitter = {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                emit_event!(log, 1, "late", "x=1");
            })
        };
        assert_eq!(sub.wait(Duration::from_secs(10)), WaitResult::Ready);
        emitter.join().unwrap();
        // Ready at once while lines are buffered.
        assert_eq!(sub.wait(Duration::ZERO), WaitResult::Ready);
        assert_eq!(text(&sub), "1 1 late x=1\n");

        let closer = {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                log.shutdown();
            })
        };
        let start = Instant::now();
        assert_eq!(sub.wait(Duration::from_secs(10)), WaitResult::Closed);
        assert!(start.elapsed() < Duration::from_secs(5));
        closer.join().unwrap();
        assert!(log.is_shut_down() && sub.is_closed());
        assert_eq!(sub.wait(Duration::from_secs(10)), WaitResult::Closed);
        emit_event!(log, 2, "after", "x=2");
        assert_eq!(text(&sub), "");
    }

    #[test]
    fn events_name_the_process_after_its_pid() {
        let log = EventLog::new();
        let sub = log.subscribe();
        log.name_process(8, "app");
        emit_event!(log, 1, "fault.hard", "pid=8 va=0x10000");
        emit_event!(log, 2, "ws.trim", "pid=12 va=0x10000");
        emit_event!(log, 3, "process.fork", "parent=8 child=12");
        emit_event!(log, 4, "x.y", "ppid=8");
        log.forget_process(8);
        emit_event!(log, 5, "fault.hard", "pid=8");
        let lines = text(&sub);
        let lines: Vec<&str> = lines.lines().collect();
        assert!(
            lines[0].ends_with(" fault.hard pid=8 va=0x10000 name=app"),
            "{lines:?}"
        );
        assert!(
            lines[1].ends_with(" ws.trim pid=12 va=0x10000"),
            "{lines:?}"
        );
        assert!(lines[2].ends_with(" parent=8 child=12"), "{lines:?}");
        assert!(lines[3].ends_with(" x.y ppid=8"), "{lines:?}");
        assert!(lines[4].ends_with(" fault.hard pid=8"), "{lines:?}");
    }

    #[test]
    fn dropping_a_subscription_unsubscribes() {
        let log = EventLog::new();
        let a = log.subscribe();
        let b = log.subscribe();
        let a2 = Arc::clone(&a);
        assert_eq!(log.subscribers(), 2);
        drop(a);
        assert_eq!(log.subscribers(), 2);
        drop(a2);
        assert_eq!(log.subscribers(), 1);
        drop(b);
        assert_eq!(log.subscribers(), 0);
        assert!(!log.enabled());
    }

    /// `thread=T i=I` payloads from 4 emitting threads.
    fn emit_from_threads(log: &Arc<EventLog>, per_thread: u64) -> Vec<thread::JoinHandle<()>> {
        (0..4)
            .map(|t| {
                let log = Arc::clone(log);
                thread::spawn(move || {
                    for i in 0..per_thread {
                        emit_event!(log, i, "test", "thread={t} i={i}");
                    }
                })
            })
            .collect()
    }

    /// Checks seq order and per-thread order; returns (events, lost reported).
    fn check_stream(lines: &[(u64, u64, String)]) -> (u64, u64) {
        let mut last_seq = 0;
        let mut last_i = [None::<u64>; 4];
        let (mut events, mut lost) = (0, 0);
        for (seq, _, rest) in lines {
            if let Some(n) = rest.strip_prefix("events.lost count=") {
                lost += n.parse::<u64>().unwrap();
                // The lost line carries the seq of the event after it.
                assert!(*seq > last_seq);
                continue;
            }
            assert!(*seq > last_seq, "seq {seq} after {last_seq}");
            last_seq = *seq;
            let mut f = rest.split([' ', '=']);
            assert_eq!(f.next(), Some("test"));
            let t: usize = f.nth(1).unwrap().parse().unwrap();
            let i: u64 = f.nth(1).unwrap().parse().unwrap();
            assert!(last_i[t].is_none_or(|p| i > p));
            last_i[t] = Some(i);
            events += 1;
        }
        (events, lost)
    }

    #[test]
    fn concurrent_emitters_within_capacity_lose_nothing() {
        let log = Arc::new(EventLog::new());
        let sub = log.subscribe();
        let per = (READER_CAPACITY / 4) as u64;
        for h in emit_from_threads(&log, per) {
            h.join().unwrap();
        }
        let lines = parse(&text(&sub));
        assert_eq!(check_stream(&lines), (4 * per, 0));
        assert_eq!(sub.lost(), 0);
        assert_eq!(lines.last().unwrap().0, 4 * per);
    }

    #[test]
    fn concurrent_emitters_with_a_live_reader() {
        let log = Arc::new(EventLog::new());
        let sub = log.subscribe();
        let per = 10_000;
        let emitters = emit_from_threads(&log, per);
        let mut all = String::new();
        loop {
            let done = emitters.iter().all(|h| h.is_finished());
            match sub.wait(Duration::from_millis(10)) {
                WaitResult::Ready => all.push_str(&String::from_utf8(sub.take(4096)).unwrap()),
                WaitResult::TimedOut if done => break,
                WaitResult::TimedOut => {}
                WaitResult::Closed => unreachable!(),
            }
        }
        for h in emitters {
            h.join().unwrap();
        }
        all.push_str(&text(&sub));
        let lines = parse(&all);
        let (events, lost) = check_stream(&lines);
        // Every event either arrived or was counted as lost.
        assert_eq!(lost, sub.lost());
        assert_eq!(events + lost, 4 * per);
    }
}
