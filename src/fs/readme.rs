//! The README of every directory: what its files are and how to use them.

use super::node::DirClass;

pub fn text(class: DirClass) -> &'static str {
    match class {
        DirClass::Root => ROOT,
        DirClass::System => SYSTEM,
        DirClass::Pfn => PFN,
        DirClass::PfnLists => PFN_LISTS,
        DirClass::Processes => PROCESSES,
        DirClass::Pids => PIDS,
        DirClass::Process => PROCESS,
        DirClass::PteDir => PTE_DIR,
        DirClass::Pagefiles => PAGEFILES,
        DirClass::Pagefile => PAGEFILE,
        DirClass::Sections => SECTIONS,
        DirClass::Section => SECTION,
        DirClass::Cache => CACHE,
        DirClass::Kernel => KERNEL,
        DirClass::Pool => POOL,
        DirClass::Mdls => MDLS,
    }
}

const ROOT: &str = "\
mmfs: a simulated Windows NT memory manager, mounted as a filesystem.

  system/      the whole machine: memory counts, counters, layout, verify, control,
               history.svg and dashboard.html (pictures for a browser)
  pfn/         the PFN database: one entry per physical page, the page lists,
               and map.png, a picture of every page (RAMMap's)
  processes/   one directory per process; mkdir creates one, rmdir terminates it;
               map.svg in each draws its address space (VMMap's picture)
  pids/        <pid> -> ../processes/<name>
  sections/    section objects: memory processes share by mapping views of it
  pagefiles/   the paging files (real files in the state directory)
  files/       the --files volume: a real read-write directory tree (files,
               directories, symlinks, hard links, rename, truncate, chmod,
               times, df); every read and write of a regular file goes
               through the cache manager. It has no README of its own, so
               that it shows the host directory exactly (see below).
  cache/       the cache manager behind files/: its counters, its 256 KB views
               in the system cache, the cached files, and a control file
  kernel/      system space: its memory as a file (mem), system PTEs, MDLs
  pool/        the executive pool: paged and non-paged pool blocks, tags,
               special pool, and a control file to allocate and free

Conventions (the full contract is SPEC.md in the project):
  - every generated file is a snapshot taken when it is opened, but for the
    listings that grow with RAM or address space (pfn/db, pfn/lists/*, ptes,
    workingset): they stream, made in chunks as they are read, so the first
    bytes come at once on any machine; each row is consistent, the whole is
    not one instant;
  - addresses, PTE values and PFNs are 0x hex, counts are decimal, sizes in
    tables are in pages;
  - key/value files have one `Key: value` per line; tables start with a `#`
    header naming the columns (`awk 'NR>1'` gives the rows);
  - objects change by writing one-line commands to a `control` file. A failing
    command makes the write fail with an errno; reading the control file gives
    `ok ...` or `error STATUS_NAME: what was wrong`. A call that succeeds with
    an NT informational status (STATUS_WAS_UNLOCKED, STATUS_WAS_LOCKED,
    STATUS_WORKING_SET_LIMIT_RANGE) ends its `ok` line with that name. The
    statuses are NT's own, STATUS_INVALID_PARAMETER_N included (N is the
    service's parameter that was wrong). A last line without its newline
    (`printf trim > control`) runs when its writer closes the file: a
    failure is then the close's errno, and the control file reads it.

A first session:
  mkdir processes/app
  echo 'alloc 0 1M reserve,commit readwrite' > processes/app/control
  cat processes/app/control                     # ok 0x10000 0x100000
  head -c 64K /dev/urandom | dd of=processes/app/mem bs=64K seek=1   # at 0x10000
  cat processes/app/status system/meminfo
  echo trim > processes/app/control             # pages go to the modified list
  cat pfn/lists/modified | wc -l
  echo 'run modified-page-writer' > system/control   # written: now standby
  dd if=processes/app/mem of=/dev/null bs=64K skip=1 count=1   # soft faults
  cat system/verify

Shell tools (tools/ in the mmfs source; they read only these files, so they
are also examples of scripts written against mmfs; each has --help and takes
-m DIR, default the only mmfs mount): mmstat [INTERVAL [COUNT]] (vmstat: the
lists, faults per second by kind, paging I/O, cache hits), rammap (use counts
with percentages, each process's private, standby and modified pages), vmmap
PROCESS (VMMap's summary by type and its table of regions), pte PROCESS VA
(the walk, level by level, with the page each entry names).

files/: the directory given by --files (`Files:` in system/config), shown as
it is: host sizes, modes, owners, times and link counts in `stat`, so ls, du,
cp -a, tar, rsync, git and editors work as on any disk. mmfs resolves every
name inside it itself and never follows a symlink of the volume (the kernel
follows them for you, as on any filesystem; a link to / leads to your own /,
not through mmfs). Regular files are opened with direct I/O: each read and
write reaches the cache; O_DIRECT transfers must be 512-byte aligned (else
EINVAL), O_SYNC/O_DSYNC write through, fsync flushes. A host mmap of a file
sees the cache's bytes as of each page fault. Deleting, or renaming over, a
file a process maps fails with EBUSY, as does shrinking it below a mapped view.
`df files` shows the host volume. Changes made to the directory behind mmfs's
back are not watched for.

Access (with --allow-other; without it only the user who mounted mmfs gets
in). `ls -l` shows the rules; the kernel and mmfs both check them:
  - a process belongs to the user who made it (mkdir; a fork's child to its
    parent's user). Anyone reads its status, vads, maps and map.svg; only
    its owner (and root) its mem, ptes, pte/, workingset, clones, awe,
    write-watch and control (EACCES), and only they rmdir it (EPERM:
    processes/ is sticky);
  - lock, unlock, awe-alloc and an alloc with large-pages need the lock-memory
    privilege (SeLockMemoryPrivilege), which root and the user running mmfs
    hold: others get EPERM and `error STATUS_PRIVILEGE_NOT_HELD: ...`;
  - the machine-wide control files (system/, pagefiles/, sections/, cache/,
    pool/, kernel/mdls/) and kernel/mem are root's; every other view is
    everyone's to read;
  - in files/ the host's owners and modes apply to you, and what you create
    there is yours on the host too.

Every directory has a README like this one, except files/ (above).
";

const SYSTEM: &str = "\
system/: the whole simulated machine.

  meminfo    key/value, in pages: the list counts (they add up to PhysicalPages),
             AvailablePages (zeroed + free + standby), commit charge/limit/peak,
             ResidentAvailablePages (RAM less bad pages less every working-set minimum),
             then the thresholds that wake and steer the system threads (WRK's
             values for this much RAM), to see why a trim or a write happened:
               MinimumFreePages     MmMinimumFreePages: an allocation leaving fewer
                                    available pages wakes the modified page writer
                                    (when any page is modified)
               PlentyFreePages      MmPlentyFreePages: an allocation leaving fewer
                                    available pages wakes the working-set manager
               WorkingSetManagerGoal  1.5 x PlentyFreePages: each working-set
                                    manager pass trims working sets (largest first,
                                    oldest pages first) until AvailablePages is back
                                    to this; with AvailablePages below it, it trims
               ModifiedPageMaximum  MmModifiedPageMaximum: a modified list this
                                    long wakes the modified page writer
               ZeroPageThreadWake   a free list this long wakes the zero page thread
               RepurposedSinceLastPass  standby pages repurposed since the
                                    working-set manager's last pass ...
               RepurposedTrimThreshold  ... and how many (a quarter of
                                    AvailablePages) make its next pass trim at least
                                    PlentyFreePages / 4 pages even when memory is
                                    not short
             (The cache manager's dirty page threshold is in cache/stats.)
  counters   one `name value` per line: faults of each kind, access violations,
             guard page faults, pages zeroed, trims, pages repurposed, ...
  usecounts  RAMMap's Use Counts: rows by use (ProcessPrivate, PageTable, ...),
             columns by page list
  layout     the address-space layout of the running arch: `# start end region`.
             As in the WRK (before Windows 8), an explicit `alloc` base in the
             null-guard rounds down to 0 and maps the NULL page; base 0 means
             the system chooses, from 0x10000 up. A VAD ends at most 64 KB
             below the top of user-space (MM_HIGHEST_VAD_ADDRESS, 0x7ffdffff on
             x86): the shared user data page's 64 KB are above it. Each
             process's hyperspace holds its VAD bitmap and working-set list
             pages (x86 0xc0501000, 0xc0502000).
  config     the running configuration (key/value)
  threads    table `# name priority state wakeups last_run_ms pages_processed`:
             the memory manager's system threads (balance-set-manager,
             working-set-manager, swapper, modified-page-writer,
             mapped-page-writer, segment-dereference, zero-page-thread,
             lazy-writer, read-ahead)
  events     a live trace: `cat system/events` prints one line per event from
             the moment it is opened (`<seq> <time_ms> <event> key=value ...`):
             fault.demand-zero fault.transition fault.hard fault.exception
             ws.trim ws.replace page.repurposed pagefile.write pagefile.write-error
             pagefile.read-error pagefile.extend pagefile.shrink thread.run process.outswap
             process.inswap list.empty-standby vm.large-page (va, first pfn,
             pages) awe.alloc awe.map awe.free. An event about a process ends with
             `name=NAME` (its pid is `pid=N`); ws.trim and ws.replace give the
             page's va and pfn. Reads block until an event comes;
             Ctrl-C ends it. A slow reader loses the oldest events and sees
             `events.lost count=N`. Nobody reading costs nothing.
  verify     reading it checks every invariant of the PFN database, page tables,
             working sets and commit charge: `ok: ...` or one line per violation
  history.svg  a picture of the last 10 minutes of simulated time, a sample
             each simulated second (with --clock manual, one per ticked second:
             `tick 30` adds 30): the page lists stacked (MB), the commit charge
             and limit (MB), and faults per second by kind (demand-zero,
             transition, hard, prototype, copy-on-write, page-table). Each
             legend gives the latest value. Open it in a browser or an image
             viewer; the root element's data-samples says how many samples.
  dashboard.html  open file://MOUNT/system/dashboard.html in a browser: the
             key numbers (available, commit/limit, faults per second, modified,
             active, processes), history.svg, ../pfn/map.png, the address space
             (processes/NAME/map.svg) of the largest working set and a table
             of the processes. Made when opened; it reopens itself every second.
             Both show a fixed size to stat (ls -l) and are padded to it with
             blank space after their last element: Chromium reads a file:// URL
             only as far as stat says.
  control    commands for the whole machine (one per line; root's to write,
             like every machine-wide control file: see the top README):
               tick [SECONDS]   with --clock manual: advance simulated time
                                (default 1 second; fractions like 0.25 work)
               run THREAD       one pass of a system thread now (names as in
                                `threads`)
               empty-working-sets   trim every working set (RAMMap's Empty)
               empty-standby    every standby page goes to the free list; the
                                next touch of each is a hard fault
               flush-modified   write every modified page to the paging files
               inject pagefile-write|pagefile-read|mapped-write|mapped-read eio N
                                the next N paging-file cluster writes or
                                mapped-file writes (pages stay modified), or
                                hard-fault reads of either (EIO,
                                STATUS_IN_PAGE_ERROR) fail
               bad-page PFN     a memory error: a free page moves to the bad
                                list; a page in use makes every later touch
                                fail with EIO (STATUS_IN_PAGE_ERROR) and goes to
                                the bad list when freed
               help             list the commands
             Reading it gives the outcome of the last command, for example
             `ok time_ms=5000` or `error STATUS_INVALID_PARAMETER: ...`.

With --clock auto the system threads run on real time: the balance set manager
every second (it calls the working-set manager, which ages working sets and
trims them when available memory is low; every 4th second the swapper
outswaps processes idle for 15 s), the modified page writer when the modified
list grows long or memory runs low, the zero page thread when free pages
gather. With --clock manual nothing runs until `tick` or `run`; a fault that
finds no available page still writes modified pages and trims inline.
";

const PFN: &str = "\
pfn/: the PFN database, one entry per physical page (MMPFN).

  db        table `# pfn state use pid va pte_address share ref priority flags
            original_pte`, one fixed-width row per physical page. flags: M
            modified, R read in progress, W write in progress, P prototype PTE,
            E in-page error (- when clear). Fixed-width rows: the row of PFN
            N is at offset (header + N x row) bytes, so `dd` or `tail -c` can
            start anywhere; a number too wide for its column shows as #s.
            Streamed: rows are read 2048 at a time under the PFN lock, each
            row one instant, the whole not
  lists/    the page lists, one PFN per line, head first; standby also by
            priority: lists/standby-0 ... standby-7
  priorities  table `# priority standby repurposed` (RAMMap's Priority Summary),
            one row per standby priority 0-7: the pages on that priority's
            standby list now, and the standby pages of that priority repurposed
            (taken for a new use) since boot, in pages. NT keeps eight standby
            lists and repurposes priority 0 first, oldest first; a page's
            priority is its PFN entry's (pfn/db's priority column; 3, WRK's
            default, unless changed). The repurposed column adds up to
            pages_repurposed in system/counters.
  <PFN>     one page in detail (the !pfn view), e.g. `cat pfn/0x1a3`. These are
            not listed; any PFN below PhysicalPages works, in hex or decimal.
  map.png   a picture of physical memory (RAMMap's Physical Pages): one pixel
            per page, PFN 0 at the top left, row by row, 512 pages (2 MB) a
            row, or the next power of two that keeps the picture about square
            (1024 at 4 GB, 4096 at 64 GB). Two bands: the page's state (its
            list) and its use (system/usecounts' rows), each with a legend of
            colours and page counts drawn in the image. Open it in a browser or
            an image viewer, or `cp pfn/map.png /tmp/` first. It is an 8-bit
            indexed PNG whose palette scripts may count on: 0 background, 1
            text, 2-9 the states below in their order, 10-23 the uses in
            system/usecounts' row order; each legend swatch is 8x8 pixels at
            512 pages a row (16x16 at 1024, ...)

States: zeroed free standby modified modified-no-write bad active transition.
";

const PFN_LISTS: &str = "\
pfn/lists/: one file per page list, one PFN per line, head of the list first,
no header, so `wc -l` is the page count.

  zeroed free standby modified modified-no-write bad   NT's page lists
  active                                               every Active/Valid page,
                                                       in PFN order
  standby-0 ... standby-7                              the eight standby lists,
                                                       one per page priority

Zeroed pages are inserted at the head; the other lists insert at the tail
(oldest first). standby lists priority 0 first, as NT repurposes it: it is
standby-0, then standby-1, ... standby-7, one after the other. A page's
priority is in pfn/db (priority column); NT's default is 3.

The lists stream: read in chunks of 8192 pages, each chunk one instant. A
chunk goes on after the latest page of the one before that is still on the
list, or, if none is, at the same position from the head, so a list that
changes while it is read may show a page twice or miss one (as /proc files
read in pieces do). A read at an offset before the current chunk starts over
from the head.
";

const PROCESSES: &str = "\
processes/: one directory per process.

  mkdir processes/NAME    create a process (pids are multiples of 4) with an empty
                          address space: just its page directory
  rmdir processes/NAME    terminate it and free every page, page table, VAD and
                          commit charge it held

NAME is 1 to 64 letters, digits and . _ - + @ (not starting with '.').
`System` (pid 4) exists from the start and cannot be terminated.

Owners (SPEC 9): processes/ is mode 1777, so any user (with --allow-other) may
mkdir a process, which then belongs to them (NT: the process's token), as do
its directory and files; only its owner, root or the user running mmfs may
rmdir it (EPERM otherwise, as for another's file in /tmp). System is root's
(the machine's).
";

const PIDS: &str = "\
pids/: every process by its id.

  <pid> -> ../processes/<name>     for example: cat pids/4/status
";

const PROCESS: &str = "\
processes/<name>/: one process.

  status      key/value: Name, Pid, State, DirectoryTableBase, WorkingSetSize/
              Minimum/Maximum, PeakWorkingSetSize, PrivatePages, CommitCharge,
              LockedPages, PageFaultCount, DemandZeroFaults, TransitionFaults,
              HardFaults, CopyOnWriteFaults, LastException, ..., PrototypeFaults,
              AwePages
  mem         the user address space as a file: the offset is the virtual address.
              Reads and writes take page faults as a thread would. A transfer stops
              at the first page it cannot touch; with nothing done it fails:
              EFAULT not committed, EACCES protection, EFAULT once for a guard page,
              EIO when the page cannot be read in (STATUS_IN_PAGE_ERROR)
  vads        table `# start end commit_pages type protection flags name`
  ptes        table `# va pte state pfn_or_offset protection`, every page of every
              VAD whose page table exists (a large page's pages show its PDE:
              its address and value, state valid, the frame of each page). protection is the page's effective
              protection, the same as pte/<VA> shows: a valid page's comes
              from its working-set entry; a prototype pointer's is its own, or
              the prototype PTE's when the pointer holds zero-access (which
              means 'use the prototype PTE's': fork leaves such pointers, and
              x86 can store nothing else beside an address); a zero PTE's
              (state none) is the VAD's if the VAD is committed, else -.
              Streamed, like workingset: made 2048 rows at a time under the
              address space, each chunk one instant, the whole not; a read
              before the current chunk starts over from the first row, and a
              process that ends while it is read ends the file there
  pte/<VA>    the !pte view of one address (lookup-only: `cat pte/0x10000`)
  workingset  table `# index va pfn age locked kind` (the !wsle view)
  maps        /proc/PID/maps format, one line per VAD
  map.svg     the address space as a picture (VMMap's): a summary by region
              type (size, committed, resident), the whole user space as a bar
              with each region where it lies, and one row per VAD with its
              pages drawn resident (solid), committed (pale) or reserved (a
              tint). Anyone may read it, like vads and maps
  awe         table `# pfn va`: the process's AWE pages (awe-alloc), each with
              the page it is mapped at, - when not mapped. A mapped AWE page is
              a valid PTE in no working set (pfn/db: use AWE)
  clones      table `# va block_address clone_ca index refs state pfn pte`: one
              row per PTE of this process that refers to a fork clone block
              (NT's MMCLONE_BLOCK, a prototype PTE of a clone control area that
              fork moved a private page into), in address order. va: the page;
              block_address: the block's prototype PTE (paged pool); clone_ca:
              the clone control area (one per fork that moved pages); index: the
              block's index in it; refs: its CloneRefCount, the PTEs of all
              processes still referring to it (2 after a fork; 1 once parent or
              child has copied the page on write; the page is freed at 0);
              state: the block's prototype PTE (valid, transition,
              modified-no-write, pagefile, demand-zero); pfn: its page, - when
              not in memory; pte: this process's PTE, valid (it maps the page,
              copy-on-write) or prototype (a pointer to the block). Empty for a
              process that neither forked nor was forked
  write-watch table `# region va`: GetWriteWatch over every write-watch region
              (alloc ... reserve,write-watch): one row per page written since
              the region's last reset-write-watch, in address order. region:
              the region's base; va: the page. A page counts as written if
              its valid PTE is dirty, or if it was dirty when it left the
              working set (trimmed, paged out, decommitted, MEM_RESET): the
              VAD's bitmap keeps that. A page only read is not listed.
              Reading the file resets nothing
  control     NT's virtual memory services, one command per line:
    alloc ADDR SIZE TYPE PROT    NtAllocateVirtualMemory; ADDR 0 lets the system
                                 choose. TYPE: comma list of reserve commit
                                 top-down reset write-watch large-pages physical
                                 (AWE: with reserve and readwrite only). PROT:
                                 noaccess readonly readwrite execute
                                 execute-read execute-readwrite, with
                                 +guard and/or +nocache (PAGE_* names work too).
                                 Result: ok BASE SIZE. A reservation is charged
                                 the page tables it needs (one per 4 MB on x86,
                                 2 MB on PAE and x64, plus directory pages on
                                 x64), returned when no VAD needs them; a new
                                 process is charged 4 pages (PAE 8, x64 6) for
                                 its page directory, hyperspace and working-set
                                 list. reset: the pages' contents are not wanted
                                 (modified pages go to standby without a paging
                                 file copy, valid ones are made clean and old).
                                 write-watch (needs reserve): the region records
                                 which pages are written (the write-watch file);
                                 it is released only whole. large-pages (with
                                 reserve,commit; SIZE a multiple of the large
                                 page, 4 MB on x86, 2 MB on PAE and x64, else
                                 STATUS_INVALID_PARAMETER_4; ADDR rounds down to
                                 it): each large page is physically contiguous
                                 (aligned frames from the free lists, else
                                 standby pages repurposed; none: ENOMEM
                                 STATUS_INSUFFICIENT_RESOURCES), zeroed, mapped
                                 by one PDE (vads type largepages), charged to
                                 commit and to ResidentAvailablePages, never in
                                 the working set. Always read/write (WRK maps it
                                 so); protect accepts only readwrite, free only
                                 `release` of the whole VAD. A process with a
                                 write-watch, large-page or AWE region cannot
                                 fork (STATUS_INVALID_PAGE_PROTECTION, as WRK's
                                 MiCloneProcessAddressSpace refuses a process
                                 with physical VADs)
    free ADDR SIZE decommit|release   NtFreeVirtualMemory (release: SIZE 0, ADDR
                                 the base). Result: ok BASE SIZE
    protect ADDR SIZE PROT       NtProtectVirtualMemory. Result: ok OLD_PROT
                                 (+ STATUS_WAS_UNLOCKED when a locked page had to
                                 leave the working set: noaccess or +guard)
    lock ADDR SIZE / unlock ADDR SIZE   VirtualLock / VirtualUnlock. lock reads
                                 every page first (an uncommitted or no-access
                                 one: STATUS_ACCESS_VIOLATION; a guard page:
                                 STATUS_GUARD_PAGE_VIOLATION, and the guard is
                                 gone). The minimum working set must cover the
                                 locked entries (the process's system pages
                                 included) + the pages less one + 8 (else
                                 STATUS_WORKING_SET_QUOTA). Result: ok PAGES
                                 newly locked (+ STATUS_WAS_LOCKED if some were)
    ws-limits MIN MAX [hard|soft]   SetProcessWorkingSetSize in bytes; 0 keeps a
                                 limit, -1 -1 empties the working set.
                                 hard: replace at the maximum even when memory is
                                 plentiful (otherwise only when it is short).
                                 MIN above MAX, or a MAX the locked entries + 8
                                 do not fit under: STATUS_BAD_WORKING_SET_LIMIT.
                                 A limit above RAM less 512 pages (or below 20
                                 pages) is moved into range. Raising MIN takes
                                 pages from ResidentAvailablePages and must leave
                                 100 (else STATUS_INSUFFICIENT_RESOURCES).
                                 Result: ok 0xMIN 0xMAX hard|soft (bytes), +
                                 STATUS_WORKING_SET_LIMIT_RANGE if one moved
    trim                         empty the working set (pages go to the modified
                                 list, or standby if clean). Result: ok PAGES
    outswap / inswap             swap the process out (its working set is emptied,
                                 State: outswapped) or back in (any touch of
                                 mem inswaps it too)
    map SECTION ADDR SIZE OFFSET PROT   NtMapViewOfSection: a view of
                                 sections/SECTION. ADDR 0 lets the system choose;
                                 ADDR and OFFSET are multiples of 64 KB
                                 (STATUS_MAPPED_ALIGNMENT); SIZE 0 maps from
                                 OFFSET to the end. PROT may not exceed the
                                 section's (STATUS_SECTION_PROTECTION).
                                 Result: ok BASE SIZE
    unmap ADDR                   NtUnmapViewOfSection, any address in the view.
                                 Result: ok BASE SIZE
    flush ADDR SIZE              NtFlushVirtualMemory: write the view's modified
                                 pages to their file now (SIZE 0: the rest of
                                 the view). Result: ok BASE SIZE PAGES_WRITTEN
    reset-write-watch ADDR SIZE  NtResetWriteWatch: forget the writes to the
                                 range (it must lie in one write-watch region,
                                 else STATUS_INVALID_PARAMETER_1; SIZE 0:
                                 _3). Dirty pages are marked Modified first, so
                                 their data is still written out. Result: ok
    fork CHILD                   a new process CHILD whose address space is a
                                 copy-on-write clone of this one's; it appears
                                 under processes/ and pids/. Result: ok PID
                                 (the child gets no AWE reservation: NT's fork
                                 does not inherit physical VADs)
    awe-alloc PAGES              AllocateUserPhysicalPages: PAGES zeroed frames
                                 for the process (above 16 MB when RAM goes
                                 beyond it, as NT), charged to commit and to
                                 resident available memory, in no working set,
                                 never paged. Result: ok PFN... (fewer than
                                 asked when RAM runs short, as NT; none at all:
                                 STATUS_INSUFFICIENT_RESOURCES)
    awe-map ADDR PFN...          MapUserPhysicalPages: one frame per page from
                                 ADDR on, inside one AWE reservation (alloc ADDR
                                 SIZE reserve,physical readwrite, else
                                 STATUS_INVALID_PARAMETER_1); a page mapped
                                 there is replaced. A frame not the process's:
                                 STATUS_CONFLICTING_ADDRESSES; one mapped
                                 anywhere, or listed twice:
                                 STATUS_INVALID_PARAMETER_3. Result: ok PAGES
    awe-map ADDR none COUNT      unmaps COUNT pages from ADDR on
    awe-free PFN...              FreeUserPhysicalPages: unmapped wherever they
                                 are and freed (a frame not the process's, or
                                 listed twice: STATUS_CONFLICTING_ADDRESSES,
                                 and none is freed). Result: ok PAGES. free
                                 ... release of the reservation unmaps its
                                 pages (they stay the process's); rmdir frees
                                 them
  A page of a view is shared through the section's prototype PTE: `ptes` shows
  it valid once touched, prototype after a trim (sections/<name>/prototype-ptes
  shows the page itself).
  Errors: EINVAL bad arguments, protection or alignment, EEXIST conflicting
  addresses or a CHILD name in use, ENOENT not allocated or no such section or
  view, ENOMEM commit limit, EBUSY working-set quota, EPERM a privilege the
  writer lacks (below).

Access: the directory and its files belong to the process's creator (`ls -l`).
Anyone may read status, vads, maps and map.svg (mode 0444); mem and control
(0600), and ptes, pte/, workingset, clones, awe, write-watch and any other file
(0400) are the owner's and root's: others get EACCES. lock, unlock, awe-alloc
and an alloc whose TYPE has large-pages need SeLockMemoryPrivilege (the
lock-memory privilege), held by root and the user running mmfs: the SPEC asks
it of every lock (WRK's NtLockVirtualMemory only of MAP_SYSTEM). Without it the
write fails with EPERM, nothing changes, and control reads `error
STATUS_PRIVILEGE_NOT_HELD: lock needs SeLockMemoryPrivilege ...`. A command
runs with the privileges of the user who wrote it.
";

const PTE_DIR: &str = "\
processes/<name>/pte/: the !pte view of any user or system address, by name.

  cat pte/0x10000     each paging level's entry: its self-map address and value,
                      then the decoded state (valid, transition, demand-zero,
                      pagefile, prototype, decommitted, none), PFN, protection
                      and the VAD. Addresses are not listed; any user address
                      works, and any system address (x86 and PAE: 0x80000000 up,
                      0xc0000000 with /3GB; x64: the upper canonical half).

Keys, in order:
  VirtualAddress
  PxeAddress PxeValue ...  each level the walk reached, top first: the entry's
                      self-map address and its value. x86 has two levels (PDE,
                      PTE), PAE three (PPE, PDE, PTE), x64 four (PXE, PPE, PDE,
                      PTE); the walk stops at an entry that is not valid.
                      PpeAddress is none on PAE: the page directory pointer table
                      is not in the self-map (PpeAddressExplanation says so)
  SharedSystemEntry   for a system address every process shares (all of system
                      space but the self-map and hyperspace): `owner` in the
                      System process, whose tables map it; `copied from the
                      System process` when this process's top-level entry is a
                      copy of the System process's (made when it was created);
                      `not copied yet` when the System process made that table
                      later: the walk shown is then the System process's, which
                      the first touch copies (WRK's MiCheckPdeForPagedPool)
  State Pfn PagingFile PagingFileOffset Protection
                      the PTE decoded; Pfn for valid and transition pages,
                      PagingFile(Offset) for a page in a paging file. Protection
                      is the effective one, the same as the ptes file shows
  Flags               a valid PTE's flags: W(rite) U(ser) A(ccessed) D(irty)
                      C(opy-on-write) X (no-execute), - when clear
  PrototypePte PrototypeState   the prototype PTE behind the page (a view's or
                      a fork's clone block), and its state
  Vad                 the VAD: start-end type protection, or none
  PagingLevels        the arch's levels, and which it does not have
  PxeIndex PpeIndex PdeIndex PteIndex ByteOffset
                      the address split (hex): the index of the entry at each
                      level the arch has (x86: PdeIndex = VA bits 31-22, PteIndex
                      bits 21-12; PAE: PpeIndex bits 31-30, PdeIndex 29-21,
                      PteIndex 20-12; x64: PxeIndex 47-39, PpeIndex 38-30,
                      PdeIndex 29-21, PteIndex 20-12) and the byte offset in the
                      page (bits 11-0)
  PhysicalAddress     Pfn x 4096 + ByteOffset, for a valid or transition page
  WinDbgFlags         a valid PTE's flags as WinDbg's !pte prints them, eleven
                      letters (PxeWinDbgFlags, PpeWinDbgFlags, PdeWinDbgFlags:
                      the same for each valid level above). From the left:
                        C  copy-on-write (bit 9)          - clear
                        G  global (bit 8)                 - clear
                        L  large page (bit 7)             - clear
                        D  dirty (bit 6)                  - clear
                        A  accessed (bit 5)               - clear
                        N  cache disabled, PCD (bit 4)    - clear
                        T  write-through, PWT (bit 3)     - clear
                        U  user (bit 2)                   K kernel
                        W  writable (bit 1 or bit 11)     R read-only
                        E  executable (no NX bit 63)      - not executable
                        V  valid (bit 0)
                      for example ---DA--UWEV: a dirty, accessed, writable,
                      executable user page (x86 without PAE has no NX bit: E
                      always). Flags keeps mmfs's own form.
  PpeAddressExplanation   on PAE: why the PPE has no address
  StateExplanation    with State none: why the PTE says nothing (no page table
                      maps the address yet, or the PTE is zero) and what a touch
                      would do, which the VAD decides (a demand-zero page, the
                      prototype PTE of a view, or an access violation)
  PageTable           only when the page table holding the PTE is paged out
                      (it mapped nothing valid or in transition and was
                      trimmed): where it is, on a list (the PDE is a
                      transition PTE) or in a paging file (a paging-file
                      PTE); State and the keys after it then describe the PTE
                      the paged-out table holds, read without bringing it back.
                      A touch of the address brings the table back first.
  LargePage LargePageExplanation   only in a large page (alloc ... large-pages):
                      the walk ends at the PDE, which has the large-page bit
                      (PdeWinDbgFlags shows L) and no page table below it;
                      State, Pfn and Flags are the PDE's, Pfn being its first
                      frame + this page's index in the large page
";

const PAGEFILES: &str = "\
pagefiles/: the paging files. Each is a real host file in the state directory;
page contents really are written to it and read back from it.

  control   create NAME MIN MAX    NtCreatePagingFile (sizes in bytes, K/M/G);
                                   the file starts at MIN and may grow to MAX
  <name>/   one paging file; the first is pagefile.sys (--pagefile)

The commit limit is RAM (less a small reserve) plus each paging file's current
size less one page (slot 0 is never used). A commit past the limit grows the
files (by at least 16 MB, up to their maximum) before failing with ENOMEM
(STATUS_COMMITMENT_LIMIT); the segment dereference thread grows them above 90%
use and shrinks them below 80%.

As NT's, the host files are allocated, not sparse (fallocate): a file is
created with its minimum size on the state directory's volume (else ENOSPC,
STATUS_DISK_FULL, and no file is left), and each extension is allocated when
the file grows, only while 1 MB of the volume stays free
(MmMinimumFreeDiskSpace); on a full volume the files quietly stay as they are,
and so does the commit limit, while page writes into the allocated slots go on.
On a host file system without fallocate the files are sparse (the log says so)
and slots never written count as taken. If the blocks go anyway (a sparse file
on a volume another file fills, or blocks punched out), writes of modified
pages fail: the pages stay on the modified list, pagefile_write_errors in
system/counters counts the failed writes and system/events shows
pagefile.write-error ... error=ENOSPC. Nothing is lost; once RAM is full of
such pages, touches that need a new page fail with ENOMEM until space is freed.
";

const PAGEFILE: &str = "\
pagefiles/<name>/: one paging file.

  info   key/value: Path, MinimumSize, MaximumSize, CurrentSize (bytes),
         UsedPages, FreePages, PeakUsedPages, PagesWritten, PagesRead, Index
         (the PageFileLow value in pagefile PTEs)
";

const SECTIONS: &str = "\
sections/: section objects (NtCreateSection), memory that processes share by
mapping views of it: backed by the paging file, or by a file of the --files
volume (the Files directory in system/config).

  control   commands, one per line (root's to write: file= reads a host
            file whatever its mode; any process's owner may map a section):
              create NAME SIZE [file=PATH] [prot=PROT] [image]
                  NtCreateSection. Without file= the paging file backs it: every
                  page is committed now (charged against the commit limit) and
                  demand zero. file=PATH is relative to the files volume; SIZE 0
                  takes the file's size, and a writable section larger than its
                  file grows the file. PROT is the most any view may be mapped
                  with: readonly, readwrite (the default), writecopy or an
                  execute form (PAGE_* names work too). image (SEC_IMAGE) is
                  refused: mmfs has no image loader. Result: ok NAME SIZE
              help        list the commands
  <name>/   one section: info, prototype-ptes, views, control

NAME is 1 to 64 letters, digits and . _ - + @ (not starting with '.', and not
README or control).
  rmdir sections/NAME   removes the name; the section itself lives on while
                        views of it remain, and goes when the last is unmapped
  mkdir sections/NAME   is refused (EPERM): a section needs a size, so create
                        makes it

A first session:
  echo 'create shm 64K' > sections/control
  mkdir processes/a processes/b
  echo 'map shm 0 0 0 readwrite' > processes/a/control
  cat processes/a/control                        # ok BASE 0x10000
  cat sections/shm/views sections/shm/prototype-ptes

Errors: EINVAL bad arguments or protection, EEXIST the name is taken, ENOENT no
such file, ENOMEM commit limit or a section too big.
";

const SECTION: &str = "\
sections/<name>/: one section object and the control area behind it.

  info            key/value: Name, Size, Pages, Protection, Backing (pagefile or
                  file), File, the control area's counters
                  (NumberOfSectionReferences, NumberOfMappedViews,
                  NumberOfUserReferences, ...), ResidentPages, ModifiedPages, Flags
  prototype-ptes  table `# index offset pte state pfn address share`, one fixed-
                  width row per page: the prototype PTE's value, its state
                  (valid, transition, modified-no-write, demand-zero, pagefile,
                  mapped-file; paged-out, with pte 0, when the page of paged
                  pool holding it is out of the System working set: looking
                  does not fault it back), the page frame when it has one (-
                  otherwise),
                  the PTE's own address in paged pool, and the frame's share
                  count (how many process PTEs map it valid)
  views           table `# process base size offset protection pid`: every
                  mapped view; size in pages, offset in bytes into the section
  control         commands, one per line:
                    extend SIZE   NtExtendSection: a file-backed section created
                                  with write access grows (its file too). A
                                  paging-file-backed one cannot: EBUSY,
                                  STATUS_SECTION_NOT_EXTENDED. Result: ok SIZE
                    no-write      MmDisableModifiedWriteOfSection: modified pages
                                  wait on the modified-no-write list instead of
                                  being written
                    allow-write   writing resumes: those pages move to the
                                  modified list. Result: ok PAGES
                    help          list the commands

A shared page goes valid (share = the processes mapping it) on first touch;
when every process has trimmed it, the prototype PTE becomes a transition PTE
and the page waits on the modified or standby list.
";

const KERNEL: &str = "\
kernel/: system space, the part of every address space above the user range
(system/layout lists its regions). Its page tables are the System process's
(pid 4), and every process shares them.

  mem      the system address space as a file: offset = address (on x64 the
           address's low 48 bits, since a file offset cannot hold a system
           address's sign-extended top bits: 0xfffff6fb7dbed000 is at offset
           0xf6fb7dbed000). Reads and writes go through the simulated MMU as a
           kernel-mode thread's would: paged pool and system cache views fault
           in (as pid 4), an address nothing maps is EFAULT, and the
           self-mapped page tables can be read (the System process's own) but
           not written (EACCES); so can the prototype PTEs (each section's at
           the addresses sections/<name>/prototype-ptes gives, in the arch's
           PTE encoding: 4 bytes on x86, 8 on PAE and x64).
  sysptes  the system PTE pool (the system-ptes region of system/layout,
           MmNumberOfSystemPtes of it for this RAM, as WRK sizes it):
           key/value TotalPtes, FreePtes, LargestFreeRun, Failures (requests
           refused for want of a free run, STATUS_INSUFFICIENT_RESOURCES),
           then a table `# address pages owner`: each run handed out, a
           process's kernel stack (its guard PTE first, then KERNEL_STACK_SIZE:
           3 pages on x86/PAE, 6 on x64) or a mapped MDL
  mdls/    memory descriptor lists: pages locked for a device (see its README)
";

const MDLS: &str = "\
kernel/mdls/: memory descriptor lists (MDLs), as a driver makes them.
A locked page holds one more reference than its mappings: the working-set
manager may still trim it from its process (its PTE goes to transition) but
the frame stays in memory, off the lists, until the MDL is unlocked; it is
charged against resident available memory (system/meminfo
ResidentAvailablePages). A process with locked pages cannot be terminated:
rmdir is EBUSY (STATUS_CANNOT_DELETE; NT would bugcheck
PROCESS_HAS_LOCKED_PAGES) until they are unlocked.

  control  write one command per line; read the last outcome:
             probe-and-lock PROCESS ADDR SIZE read|write
                 MmProbeAndLockPages: faults each page of the range in for that
                 access with the process's protections and locks it. Refused,
                 with nothing left locked: no VAD, uncommitted or above user
                 space (STATUS_ACCESS_VIOLATION, EFAULT), a write to a read-only
                 page (STATUS_ACCESS_VIOLATION), a guard page
                 (STATUS_GUARD_PAGE_VIOLATION, the guard is then gone), too
                 little resident available memory (STATUS_INSUFFICIENT_RESOURCES,
                 ENOMEM). Result: ok MDL-ID
             allocate-pages PAGES  MmAllocatePagesForMdl: zeroed physical
                 pages (use DriverLocked), locked. Result: ok MDL-ID
             map MDL     MmMapLockedPagesSpecifyCache: maps the pages at a run
                 of system PTEs (read-only for a read lock); its bytes are then
                 at that address in kernel/mem. Result: ok ADDRESS
             unmap MDL   MmUnmapLockedPages
             unlock MDL  MmUnlockPages (unmaps first); the MDL stays until free
             free MDL    IoFreeMdl (MmFreePagesFromMdl for allocated pages); a
                 probed MDL must be unlocked first (STATUS_INVALID_PARAMETER)
  <id>     one MDL: key/value MdlFlags (NT's values: 0x1
           MDL_MAPPED_TO_SYSTEM_VA, 0x2 MDL_PAGES_LOCKED, 0x80
           MDL_WRITE_OPERATION; 0x4000 MDL_PAGES_ALLOCATED marks mmfs's
           allocated pages), StartVa, ByteOffset, ByteCount, Process (pid, or
           none), MappedSystemVa (or none), then the PFN array, a table
           `# index pfn`
";

const CACHE: &str = "\
cache/: the cache manager (NT's Cc) that every read and write of files/ goes
through. A cached file is a file-backed control area (the same one
`sections/control create NAME SIZE file=PATH` uses, so a mapped view and
files/ see the same pages); the cache copies to and from 256 KB views of it
(VACBs) mapped in the system cache range of system/layout, in the System
process (pid 4): touching a view takes page faults there, and its pages are
in the System process's working set, the system cache working set.

  stats    key/value, NT's cache counters: CopyReads, CopyReadHits (reads that
           read nothing from the file), CopyReadHitsPercent, CopyWrites,
           DataMaps (views mapped), ReadAheads, ReadAheadPages,
           LazyWriteFlushes (write-behind I/Os of at most 64 KB),
           LazyWritePages, DirtyPages (pages the cache dirtied, not yet
           written), DirtyPageThreshold (CcDirtyPageThreshold: a write that
           would pass it first writes dirty pages behind itself, counted in
           ThrottledWrites), SystemCacheWorkingSet and its peak (pages),
           Vacbs (views the system cache has room for), ActiveVacbs (mapped)
  views    table `# index base file file_offset active dirty_pages`: each
           VACB that maps a view (its system-cache address, the file, the
           256 KB chunk's offset, copies using it now, its dirty pages)
  files    table `# file size cached_pages dirty_pages views mapped_views
           read_ahead`: every cached file (the !filecache view): its size in
           bytes, its pages in memory, the cache's views of it, processes'
           views of it (mapped_views), and its read-ahead hint
  control  commands, one per line:
             hint PATH sequential|random|normal
                        FILE_FLAG_SEQUENTIAL_SCAN (read 3x ahead) or
                        RANDOM_ACCESS (no read-ahead), now and on later opens
             flush [PATH]
                        write the dirty pages of one file, or all, and sync
                        (result: ok N pages written)
             purge PATH write, then drop every cached page of the file
                        (EBUSY while a process maps it; ok N pages purged)
             help       list the commands

Threads (system/threads): the lazy writer scans once a second of the clock
and writes an eighth of the dirty pages (more when writes outpace it), in
runs of at most 64 KB, round-robin over the files; the read-ahead thread
reads ahead what a file's recent reads predict (64 KB granularity; the third
of three sequential reads asks for the read after the next one, the
sequential hint keeps three reads ahead; on once a read missed the cache, off
after a pass that found everything resident). Only the read-ahead thread
reads ahead, as NT's worker thread does, and it leaves the pages valid in the
cache's views (in the System process's working set), so the copy that wants
them takes no fault. With --clock manual neither thread runs until `tick` or
`run`; a write past the threshold then writes behind itself.
";

const POOL: &str = "\
pool/: the executive pool (ExAllocatePoolWithTag). Non-paged pool is resident
(its pages are valid, use NonPagedPool, in no working set, charged against
resident available memory); paged pool's pages are the System process's
(pid 4) pageable pages: charged to commit, demand zero until first touched,
in the system working set, trimmed, written to the paging file and faulted
back. Each small block starts with NT's POOL_HEADER in the simulated page
(x86/PAE 8 bytes, x64 16: PreviousSize, PoolIndex, BlockSize, PoolType =
type + 1 or 0 when free, PoolTag); block unit 8 (x86/PAE) or 16 (x64) bytes.
Requests above POOL_BUDDY_MAX (4080 bytes on x86/PAE, 4064 on x64) take whole
pages, recorded in the big pool table, with no header.

  allocations  table `# address size type tag state` (the !pool view of every
               page): address where the data starts, size in bytes (asked
               for; a free block: what it could give), type paged|nonpaged,
               state allocated|free|big|special
  used         table `# tag paged_allocs paged_frees paged_bytes
               nonpaged_allocs nonpaged_frees nonpaged_bytes` (!poolused):
               bytes in use are block sizes with headers, whole pages for big
               and special allocations
  <ADDRESS>    lookup-only: the pool page holding ADDRESS (cat pool/0xe1000010),
               its kind and, for a page of blocks in memory, each header as
               it lies in RAM (a paged-out page is not faulted in to look)
  control      commands, one per line:
                 alloc paged|nonpaged SIZE TAG   result `ok ADDRESS`
                 free ADDRESS
                 special TAG|none   special pool for TAG: each allocation at
                        the end of its own page, the slack before and after
                        it filled with 0xaa, then a no-access guard page
               Errors: SIZE 0 or a TAG not 1-4 printable characters EINVAL;
               no more pool (address space, commit or resident available
               memory) ENOMEM (STATUS_INSUFFICIENT_RESOURCES, nothing changed);
               free of an address not allocated ENOENT (NT: BAD_POOL_CALLER);
               a special pool free that finds its slack overwritten EIO
               (SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION, bugcheck 0xC1, with a
               pool.special-corruption event; the allocation is freed).
";
