# Concurrency stress with the system threads on real time: four processes with
# 6 MB of private memory each and a 1 MB pagefile-backed section mapped into all
# four, on 8 MB of RAM (more than 3x overcommitted). For STRESS_SECONDS, at once:
# 8 writers own 3 MB private ranges and 4 own 256 KB slices of the section (each
# writes its slice through a different process every round), rewriting known
# patterns; 6 readers check that every 16-byte cell they read belongs to one of
# the patterns written there; trims, ws-limits, system-thread runs, flushes,
# empty-standby, listing reads (pfn/db, status, ptes, prototype-ptes, verify) and
# process churn run in parallel loops. Then every range must hold its writer's
# last pattern, seen through every process that maps it.
# mmfs-args: --clock auto --ram 8M
# timeout: 60
source "$MMFS_LIB"
STRESS_SECONDS=${STRESS_SECONDS:-20}
W=$PWD/stress
mkdir "$W"
P=$MMFS/processes
PRIV_BASE=0x1000000
PRIV_RANGE=$((3 << 20))
SHARED_SLICE=$((256 << 10))
VERSIONS=3

# Patterns: 16-byte cells `wIIvVoOOOOOOOO|\n`: writer id, version, and the cell's
# origin (its address for private memory, its section offset for the section), so
# bytes from another writer, version set or place never pass. Versions differ only
# in the `v` byte, so a read that races a write is checked cell by cell.
cat > "$W/pattern.py" <<'PY'
import os, sys

def cells(wid, version, origin, length):
    return b"".join(b"w%02dv%do%08x|\n" % (wid, version, o)
                    for o in range(origin, origin + length, 16))

def check(buf, wid, versions, origin):
    """None if every cell of buf is one of writer wid's versions, else why not."""
    want = cells(wid, 0, origin, len(buf))
    seen = set(buf[4::16])
    allowed = {ord(str(v)) for v in versions}
    if not seen <= allowed:
        return f"versions {sorted(chr(c) for c in seen)} at {origin:#x}"
    got = bytearray(buf)
    got[4::16] = want[4::16]
    if got != want:
        i = next(i for i in range(len(want)) if got[i] != want[i])
        return f"cell at {origin + i - i % 16:#x}: {bytes(buf[i - i % 16:i - i % 16 + 16])!r}"
    return None

def pread_all(fd, n, at):
    out = bytearray()
    while len(out) < n:
        b = os.pread(fd, n - len(out), at + len(out))
        if not b:
            raise OSError(f"short read at {at + len(out):#x}")
        out += b
    return bytes(out)

if __name__ == "__main__" and sys.argv[1] == "make":
    # make DIR NAME WID ORIGIN LENGTH VERSIONS
    d, name, wid, origin, length, versions = sys.argv[2:8]
    for v in range(int(versions)):
        with open(os.path.join(d, f"{name}.{v}"), "wb") as f:
            f.write(cells(int(wid), v, int(origin, 0), int(length)))
PY

# reader NAME SPEC...: SPEC is MEM:BASE:LENGTH:WID:ORIGIN; reads random 64 KB
# aligned pieces of random specs until $W/stop exists.
cat > "$W/reader.py" <<'PY'
import os, random, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from pattern import check, pread_all
w, name = sys.argv[1], sys.argv[2]
specs = []
for s in sys.argv[3:]:
    mem, base, length, wid, origin = s.split(":")
    specs.append((os.open(mem, os.O_RDONLY), int(base, 0), int(length), int(wid), int(origin, 0)))
rng = random.Random(name)
reads = 0
while not os.path.exists(os.path.join(w, "stop")):
    fd, base, length, wid, origin = rng.choice(specs)
    n = rng.choice([4096, 65536, 131072])
    at = rng.randrange(0, length - n + 1) & ~4095
    try:
        buf = pread_all(fd, n, base + at)
    except OSError as e:
        open(os.path.join(w, "errors"), "a").write(f"{name}: read at {base + at:#x}: {e}\n")
        break
    why = check(buf, wid, range(3), origin + at)
    if why:
        open(os.path.join(w, "errors"), "a").write(f"{name}: {why}\n")
        break
    reads += 1
open(os.path.join(w, f"ops.{name}"), "w").write(f"{reads}\n")
PY

for i in 0 1 2 3; do
    mkdir "$P/p$i"
    cmd "$P/p$i/control" "alloc $PRIV_BASE 6M reserve,commit readwrite" > /dev/null
done
cmd "$MMFS/sections/control" 'create shm 1M' > /dev/null
declare -a SBASE
for i in 0 1 2 3; do
    read -r SBASE[i] _ <<< "$(cmd "$P/p$i/control" 'map shm 0 0 0 readwrite')"
done

# Private writer w (0-7): process p(w/2), range w%2. Shared writer s (0-3): slice s.
priv_proc() { echo $(($1 / 2)); }
priv_va() { echo $((PRIV_BASE + ($1 % 2) * PRIV_RANGE)); }
for w in 0 1 2 3 4 5 6 7; do
    python3 "$W/pattern.py" make "$W" "priv.$w" "$w" "$(priv_va "$w")" "$PRIV_RANGE" "$VERSIONS" &
done
for s in 0 1 2 3; do
    python3 "$W/pattern.py" make "$W" "shared.$s" $((50 + s)) $((s * SHARED_SLICE)) "$SHARED_SLICE" "$VERSIONS" &
done
wait

# Every range starts with its version 0, so readers never meet untouched memory.
for w in 0 1 2 3 4 5 6 7; do
    mem_write "$P/p$(priv_proc "$w")" "$(priv_va "$w")" if="$W/priv.$w.0" bs=64K conv=notrunc
    echo 0 > "$W/last.priv.$w"
done
for s in 0 1 2 3; do
    mem_write "$P/p0" $((SBASE[0] + s * SHARED_SLICE)) if="$W/shared.$s.0" bs=64K conv=notrunc
    echo 0 > "$W/last.shared.$s"
done
verify_ok

# loop NAME COMMAND...: runs COMMAND until $W/stop exists; a failure is an error.
loop() {
    local name=$1 n=0
    shift
    while [[ ! -e "$W/stop" ]]; do
        if ! "$@" > /dev/null 2>> "$W/err.$name"; then
            echo "$name: '$*' failed: $(tail -c 300 "$W/err.$name")" >> "$W/errors"
            break
        fi
        n=$((n + 1))
    done
    echo "$n" > "$W/ops.$name"
}

write_private() {  # W: write the next version, then record it
    local w=$1 v
    v=$(( ($(cat "$W/last.priv.$w") + 1) % VERSIONS ))
    mem_write "$P/p$(priv_proc "$w")" "$(priv_va "$w")" if="$W/priv.$w.$v" bs=64K conv=notrunc \
        && echo "$v" > "$W/last.priv.$w"
}
write_shared() {  # S: the next version, through the next process
    local s=$1 v p
    v=$(( ($(cat "$W/last.shared.$s") + 1) % VERSIONS ))
    p=$(( ($(cat "$W/round.shared.$s" 2> /dev/null || echo 0) + s) % 4 ))
    mem_write "$P/p$p" $((SBASE[p] + s * SHARED_SLICE)) if="$W/shared.$s.$v" bs=64K conv=notrunc \
        && echo "$v" > "$W/last.shared.$s" \
        && echo $(( $(cat "$W/round.shared.$s" 2> /dev/null || echo 0) + 1 )) > "$W/round.shared.$s"
}
trim_all() {
    local i
    for i in 0 1 2 3; do echo trim > "$P/p$i/control" || return 1; done
}
ws_limits() {
    local i
    for i in 0 1 2 3; do
        printf 'ws-limits 200K 1M\n' > "$P/p$i/control" || return 1
        printf 'ws-limits 400K 3M\n' > "$P/p$i/control" || return 1
    done
}
system_commands() {
    local c
    for c in 'run modified-page-writer' 'run working-set-manager' empty-standby \
             'run zero-page-thread' flush-modified empty-working-sets 'run balance-set-manager'; do
        printf '%s\n' "$c" > "$MMFS/system/control" || return 1
    done
}
listings() {
    cat "$MMFS/pfn/db" "$P"/p*/status "$MMFS/system/meminfo" "$MMFS/system/counters" \
        "$MMFS/sections/shm/prototype-ptes" "$MMFS/sections/shm/views" "$MMFS/pfn/lists/modified" > /dev/null || return 1
    cat "$P/p$((RANDOM % 4))/ptes" "$P/p$((RANDOM % 4))/workingset" "$P/p$((RANDOM % 4))/vads" > /dev/null || return 1
}
checked_verify() {
    local v
    v=$(cat "$MMFS/system/verify") || return 1
    [[ "$v" == ok* ]] || { echo "verify: $v" >&2; return 1; }
}
racy_listings() {  # churn's processes come and go: one that just left is ENOENT, nothing else
    local f err
    for f in "$P"/*/ptes "$P"/*/status "$P"/*/workingset "$P"/tmp*/pte/0x10000; do
        err=$(cat "$f" 2>&1 > /dev/null) || [[ "$err" == *"No such file or directory" ]] \
            || { echo "$f: $err" >&2; return 1; }
    done
}
churn() {  # a short-lived process: create, commit, write, read back, terminate
    local name=tmp$RANDOM base
    mkdir "$P/$name" || return 1
    read -r base _ <<< "$(cmd "$P/$name/control" 'alloc 0 256K reserve,commit readwrite')" || return 1
    head -c 256K "$W/priv.0.1" | mem_write "$P/$name" "$base" bs=64K conv=notrunc || return 1
    mem_read "$P/$name" "$base" bs=64K count=4 | cmp -s - <(head -c 256K "$W/priv.0.1") \
        || { echo "churn: $name read back other bytes" >&2; return 1; }
    rmdir "$P/$name"
}

start=$(date +%s)
for w in 0 1 2 3 4 5 6 7; do loop "write-priv-$w" write_private "$w" & done
for s in 0 1 2 3; do loop "write-shared-$s" write_shared "$s" & done
for i in 0 1 2 3; do
    python3 "$W/reader.py" "$W" "read-priv-$i" \
        "$P/p$i/mem:$(priv_va $((2 * i))):$PRIV_RANGE:$((2 * i)):$(priv_va $((2 * i)))" \
        "$P/p$i/mem:$(priv_va $((2 * i + 1))):$PRIV_RANGE:$((2 * i + 1)):$(priv_va $((2 * i + 1)))" &
done
for r in 0 1; do
    specs=()
    for s in 0 1 2 3; do
        p=$(( (s + r) % 4 ))
        specs+=("$P/p$p/mem:$((SBASE[p] + s * SHARED_SLICE)):$SHARED_SLICE:$((50 + s)):$((s * SHARED_SLICE))")
    done
    python3 "$W/reader.py" "$W" "read-shared-$r" "${specs[@]}" &
done
loop trim trim_all &
loop ws-limits ws_limits &
loop system system_commands &
loop listings listings &
loop verify checked_verify &
loop churn churn &
loop racy-listings racy_listings &

# The workload runs for STRESS_SECONDS, or until something fails.
while (( $(date +%s) - start < STRESS_SECONDS )) && [[ ! -s "$W/errors" ]]; do
    sleep 0.5
done
touch "$W/stop"
wait
[[ ! -s "$W/errors" ]] || fail "$(cat "$W/errors")"

# Every range holds its writer's last pattern; the section's slices read the same
# through all four processes.
for w in 0 1 2 3 4 5 6 7; do
    mem_read "$P/p$(priv_proc "$w")" "$(priv_va "$w")" bs=64K count=$((PRIV_RANGE / 65536)) \
        | cmp -s - "$W/priv.$w.$(cat "$W/last.priv.$w")" || fail "private range $w does not hold its last pattern"
done
for s in 0 1 2 3; do
    for p in 0 1 2 3; do
        mem_read "$P/p$p" $((SBASE[p] + s * SHARED_SLICE)) bs=64K count=$((SHARED_SLICE / 65536)) \
            | cmp -s - "$W/shared.$s.$(cat "$W/last.shared.$s")" || fail "section slice $s through p$p does not hold its last pattern"
    done
done
verify_ok
grep -qi panic "$PWD/mmfs.log" 2> /dev/null && fail "the mmfs log mentions a panic: $(grep -i panic "$PWD/mmfs.log" | head -3)"

ops=$(cat "$W"/ops.* | awk '{ n += $1 } END { print n }')
hard=$(counter hard_faults)
written=$(counter pages_written_to_pagefile)
(( hard > 0 && written > 0 )) || fail "no paging under stress (hard faults $hard, pages written $written)"
echo "stress: $ops operations in $(( $(date +%s) - start )) s; hard faults $hard, pages written to the paging file $written"
for f in "$W"/ops.*; do echo "  ${f##*/ops.} $(cat "$f")"; done
