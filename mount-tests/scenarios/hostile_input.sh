# Hostile input: thousands of random byte strings to every control file, mutated
# commands to a victim process, and random offsets and sizes on mem. Every write
# succeeds or fails with an errno, every outcome reads back as one clear line, mem
# answers as SPEC §7 says, and what was set up before the barrage is unchanged.
# HOSTILE_SEED=N replays another seed (the seed is printed first).
# mmfs-args: --ram 16M --pagefile 32M:64M
# timeout: 120
source "$MMFS_LIB"

K=$MMFS/processes/keeper
V=$MMFS/processes/victim
mkdir "$K" "$V"
# keeper: 256 KB read/write, a reserved-only 64 KB right after it (transfers stop
# there), 64 KB read-only elsewhere. Its bytes are checked after the barrage.
cmd "$K/control" 'alloc 0x100000 256K reserve,commit readwrite' > /dev/null
cmd "$K/control" 'alloc 0x140000 64K reserve readwrite' > /dev/null
cmd "$K/control" 'alloc 0x200000 64K reserve,commit readonly' > /dev/null
head -c 256K /dev/urandom > keeper.bin
mem_write "$K" 0x100000 if=keeper.bin bs=64K
cmd "$MMFS/sections/control" 'create shm 64K' > /dev/null
cmd "$V/control" 'alloc 0x100000 1M reserve,commit readwrite' > /dev/null
cmd "$V/control" 'map shm 0 0 0 readwrite' > /dev/null
cp "$K/vads" keeper.vads
ls "$MMFS/sections" > sections.before
ls "$MMFS/pagefiles" > pagefiles.before

python3 - "$MMFS" "${HOSTILE_SEED:-20261121}" <<'EOF'
import errno, os, random, re, sys

mmfs, seed = sys.argv[1], int(sys.argv[2])
print(f"hostile_input: seed {seed} (HOSTILE_SEED={seed} replays it)", flush=True)
rng = random.Random(seed)

def fail(msg):
    print(f"FAIL (seed {seed}): {msg}", file=sys.stderr)
    sys.exit(1)

# SPEC §3 and src/fs/errno.rs: the errno each status becomes.
ERRNO = {}
for e, names in {
    errno.EINVAL: "INVALID_PARAMETER INVALID_PARAMETER_1 INVALID_PARAMETER_2 "
    "INVALID_PARAMETER_3 INVALID_PARAMETER_4 INVALID_PARAMETER_5 INVALID_PARAMETER_6 "
    "BAD_WORKING_SET_LIMIT INCOMPATIBLE_FILE_MAP INVALID_PAGE_PROTECTION OBJECT_NAME_INVALID "
    "INVALID_DEVICE_REQUEST NOT_SUPPORTED SECTION_PROTECTION MAPPED_ALIGNMENT "
    "UNABLE_TO_FREE_VM UNABLE_TO_DELETE_SECTION NOT_LOCKED INVALID_VIEW_SIZE "
    "MAPPED_FILE_SIZE_ZERO INVALID_IMAGE_FORMAT FREE_VM_NOT_AT_BASE",
    errno.EEXIST: "CONFLICTING_ADDRESSES OBJECT_NAME_COLLISION ALREADY_COMMITTED",
    errno.ENOENT: "MEMORY_NOT_ALLOCATED INVALID_ADDRESS OBJECT_NAME_NOT_FOUND "
    "NOT_MAPPED_VIEW NOT_COMMITTED PROCESS_IS_TERMINATING",
    errno.ENOMEM: "COMMITMENT_LIMIT NO_MEMORY INSUFFICIENT_RESOURCES SECTION_TOO_BIG",
    errno.EPERM: "PRIVILEGE_NOT_HELD ACCESS_DENIED",
    errno.EBUSY: "WORKING_SET_QUOTA SECTION_NOT_EXTENDED USER_MAPPED_FILE",
    errno.EFAULT: "ACCESS_VIOLATION GUARD_PAGE_VIOLATION",
    errno.EIO: "IN_PAGE_ERROR",
}.items():
    for n in names.split():
        ERRNO["STATUS_" + n] = e

SENTENCE = re.compile(r"(ok( [^\n]*)?|error (STATUS_[A-Z0-9_]+): [^\n]*\S[^\n]*)\n")

def check_sentence(path, text, what):
    m = SENTENCE.fullmatch(text)
    if not m or any(ord(c) < 32 and c != "\n" for c in text):
        fail(f"{path} after {what!r:.200}: outcome {text!r:.300} is not one clear line")
    return m

def junk():
    """A random byte string of one of the shapes a parser trips on."""
    kind = rng.randrange(10)
    if kind == 0:  # raw bytes: NUL, invalid UTF-8, anything
        return rng.randbytes(rng.randrange(1, 300))
    if kind == 1:  # printable garbage with spaces, maybe a newline
        s = "".join(rng.choice("abcdefxyz0123456789 =,+-_.#\t") for _ in range(rng.randrange(1, 120)))
        return (s + rng.choice(["\n", "", "\r\n"])).encode()
    if kind == 2:  # many lines in one write
        return b"\n".join(rng.randbytes(rng.randrange(0, 40)) for _ in range(rng.randrange(2, 200)))
    if kind == 3:  # NUL-heavy
        return bytes(rng.choice([0, 0, 0, 10, 32, 0xff]) for _ in range(rng.randrange(1, 100)))
    if kind == 4 and rng.randrange(8) == 0:  # a line longer than 64 KiB
        body = bytes(rng.choice(b"ab 0x9") for _ in range(rng.randrange(65537, 70000)))
        return body + rng.choice([b"\n", b""])
    if kind == 5:  # invalid UTF-8 inside words that look like commands
        word = rng.choice([b"tick", b"run", b"create", b"extend", b"alloc", b"help", b"frob"])
        return word + b" " + rng.randbytes(rng.randrange(1, 30)) + b"\n"
    if kind == 6:  # numbers that overflow, go negative or are not numbers
        word = rng.choice([b"tick", b"extend", b"frob"])
        num = rng.choice([b"-1", b"0x", b"99999999999999999999", b"18446744073709551616",
                          b"0xffffffffffffffffff", b"1e9", b"1.2.3", b"17179869184G", b".", b"_"])
        return word + b" " + num + b" " + num + b"\n"
    n = rng.randrange(1, 64)  # plain random bytes ending in a newline
    return rng.randbytes(n) + b"\n"

def check_error(path, data, err, text):
    """A failed write: the outcome is an error whose status gives that errno."""
    status = check_sentence(path, text, data).group(3)
    if status is None:
        fail(f"{path}: {data!r:.200} failed with errno {err} but reads {text!r}")
    if status in ERRNO and ERRNO[status] != err:
        fail(f"{path}: {status} came back as errno {err}, SPEC says {ERRNO[status]}")

def write_one(path, data):
    """One open, one write, the descriptor's own outcome, close (which runs a
    last line without its newline), then the file's outcome. Returns the errno
    of the write or the close (0: both succeeded)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, data)
        err_write = 0
    except OSError as e:
        err_write = e.errno
    own = os.pread(fd, 65536, 0).decode("utf-8", "replace")
    try:
        os.close(fd)
        err_close = 0
    except OSError as e:
        err_close = e.errno
    with open(path, "rb") as f:
        after = f.read().decode("utf-8", "replace")
    if err_write:
        check_error(path, data, err_write, own)
    if err_close:
        check_error(path, data, err_close, after)
    if after:
        check_sentence(path, after, data)
    return err_write or err_close

def mutated():
    """A process command from SPEC §7 with its words mutated."""
    base = rng.choice([
        "alloc 0 1M reserve,commit readwrite", "alloc 0x500000 64K reserve,commit,top-down readonly",
        "alloc 0x100000 4K commit readwrite+guard", "free 0x100000 4K decommit", "free 0x100000 0 release",
        "protect 0x100000 8K readonly", "lock 0x100000 8K", "unlock 0x100000 8K", "ws-limits 1M 4M",
        "trim", "map shm 0 0 0 readwrite", "unmap 0x10000", "flush 0x10000 0", "fork kid",
        "outswap", "inswap", "reset-write-watch 0x100000 4K", "awe-alloc 4", "help",
    ]).split()
    tokens = ["-1", "0x", "0xffffffffffffffff", "0xffffffffffffffffff", "18446744073709551616",
              "99999999999999999999G", "1T", "0", "4095", "0x7ffeffff", "PAGE_READWRITE",
              "reserve,commit", "x=y", "shm", "\x00", "\xff", "readwrite+guard+nocache"]
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(base))
        op = rng.randrange(5)
        if op == 0:
            base[i] = rng.choice(tokens)
        elif op == 1:
            j = rng.randrange(len(base))
            base[i], base[j] = base[j], base[i]
        elif op == 2 and len(base) > 1:
            del base[i]
        elif op == 3:
            base[i] = base[i][: rng.randrange(len(base[i]) + 1)]
        else:
            base.insert(i, rng.choice(tokens))
    return (" ".join(base) + "\n").encode("utf-8", "surrogateescape")

targets = [f"{mmfs}/system/control", f"{mmfs}/processes/keeper/control",
           f"{mmfs}/sections/control", f"{mmfs}/sections/shm/control",
           f"{mmfs}/pagefiles/control", f"{mmfs}/kernel/mdls/control",
           f"{mmfs}/pool/control"]
written = failed = 0
for path in targets:
    for _ in range(450):
        failed += write_one(path, junk()) != 0
        written += 1
for _ in range(300):
    failed += write_one(f"{mmfs}/processes/victim/control", mutated()) != 0
    written += 1
print(f"control files: {written} writes, {failed} failed with an errno", flush=True)

# Generated and control files at random offsets and sizes.
for _ in range(300):
    path = rng.choice([f"{mmfs}/system/meminfo", f"{mmfs}/pfn/db", f"{mmfs}/processes/keeper/ptes",
                       f"{mmfs}/sections/shm/prototype-ptes", f"{mmfs}/system/control",
                       f"{mmfs}/processes/keeper/pte/0x100000", f"{mmfs}/pagefiles/pagefile.sys/info"])
    with open(path, "rb") as f:
        whole = f.read()
        off = rng.choice([0, rng.randrange(len(whole) + 2), rng.randrange(2**63)])
        size = rng.choice([1, rng.randrange(1, 70000)])
        got = os.pread(f.fileno(), size, off)
    # One descriptor reads one snapshot. A control file's reads continue from
    # the descriptor's cursor instead (SPEC §3: the outcome, from the start).
    if path.endswith("/control"):
        ok = len(got) <= size and got in whole
    else:
        ok = got == whole[off : off + size]
    if not ok:
        fail(f"pread({path}, {size}, {off}) gave {got[:80]!r}, not a slice of {whole[:80]!r}")

# mem: a model of keeper's 256 KB read/write region.
BASE, SIZE = 0x100000, 0x40000
RO, RO_SIZE = 0x200000, 0x10000
USER_END = 0x7FFF0000  # the mem file's size: highest user address + 1 (x86)
with open("keeper.bin", "rb") as f:
    model = bytearray(f.read())
fd = os.open(f"{mmfs}/processes/keeper/mem", os.O_RDWR)

def pick():
    if rng.randrange(3) == 0:  # anywhere in keeper's region
        return BASE + rng.randrange(SIZE), rng.choice([1, rng.randrange(1, 70000)])
    anchor = rng.choice([0, BASE, BASE + SIZE, RO, RO + RO_SIZE, USER_END,
                         2**63 - 1, 2**63, 2**64 - 4096, rng.randrange(2**64)])
    off = (anchor + rng.randrange(-0x3000, 0x3000)) % 2**64
    size = rng.choice([0, 1, rng.randrange(1, 4097), rng.randrange(1, 300000), rng.randrange(1, 8 << 20)])
    return off, size

def expect(off, size):
    """(bytes done, errnos allowed when none are) for a transfer at off."""
    if off >= 2**63:
        return 0, {errno.EINVAL}  # a negative loff_t: the kernel refuses it
    if size == 0:
        return 0, set()  # nothing to do: it succeeds anywhere
    if off + size > 2**63 - 1 or off >= USER_END:
        return 0, {errno.EFAULT, errno.EINVAL, errno.EFBIG}
    if BASE <= off < BASE + SIZE:
        return min(size, BASE + SIZE - off), None
    if RO <= off < RO + RO_SIZE:
        return min(size, RO + RO_SIZE - off), {errno.EACCES}
    return 0, {errno.EFAULT}

def transfer(name, call, off, size, done, allowed):
    """call()'s result; None if it failed with an errno allowed when no bytes are due."""
    try:
        return call()
    except OSError as e:
        if done or e.errno not in allowed:
            fail(f"{name}({off:#x}, {size:#x}): errno {e.errno}, expected {done} bytes / {allowed}")
        return None

reads = writes = errors = 0
for _ in range(3000):
    off, size = pick()
    loff = off - 2**64 if off >= 2**63 else off
    done, allowed = expect(off, size)
    if rng.randrange(2):
        reads += 1
        got = transfer("pread", lambda: os.pread(fd, size, loff), off, size, done, allowed)
        if got is None:
            errors += 1
            continue
        if size and len(got) != done:
            fail(f"pread({off:#x}, {size:#x}) gave {len(got)} bytes, expected {done}")
        if BASE <= off < BASE + SIZE and got != model[off - BASE : off - BASE + done]:
            fail(f"pread({off:#x}, {size:#x}): the bytes differ from what was written")
        if RO <= off < RO + RO_SIZE and any(got):
            fail(f"pread({off:#x}) of read-only zeros gave data")
    else:
        writes += 1
        data = rng.randbytes(size)
        if RO <= off < RO + RO_SIZE and off < 2**63:
            done = 0  # read-only: writes fail with EACCES
        n = transfer("pwrite", lambda: os.pwrite(fd, data, loff), off, size, done, allowed)
        if n is None:
            errors += 1
            continue
        if size and n != done:
            fail(f"pwrite({off:#x}, {size:#x}) wrote {n} bytes, expected {done}")
        if n:
            model[off - BASE : off - BASE + n] = data[:n]
    if rng.randrange(100) == 0:  # page keeper out now and then: the bytes must survive
        with open(f"{mmfs}/processes/keeper/control", "w") as c:
            c.write("trim\n")
        with open(f"{mmfs}/system/control", "w") as c:
            c.write("run modified-page-writer\nempty-standby\n")
os.close(fd)
print(f"mem: {reads} reads, {writes} writes, {errors} refused with an errno", flush=True)

with open("keeper.model", "wb") as f:
    f.write(model)
EOF

# Still alive, still consistent, and keeper is as the barrage left it.
listed "$MMFS/processes" keeper || fail "keeper is gone"
mem_read "$K" 0x100000 bs=64K count=4 > keeper.back
cmp keeper.model keeper.back || fail "keeper's bytes differ from the model"
diff keeper.vads "$K/vads" || fail "keeper's VADs changed"
ls "$MMFS/sections" | diff sections.before - || fail "sections/ changed"
ls "$MMFS/pagefiles" | diff pagefiles.before - || fail "pagefiles/ changed"
assert_eq "$(kv "$MMFS/sections/shm/info" Size)" "0x10000" "shm size"
verify_ok
