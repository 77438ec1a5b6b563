# fsync's promise survives SIGKILL: whatever a client made durable through
# files/ (coreutils sync FILE, python os.fsync, dd conv=fdatasync, O_SYNC and
# O_DIRECT writes, sqlite3 commits, a process's mapped write followed by an
# fsync of the file) is in the host file when the daemon is killed with -9,
# and bytes written but never synced do not disturb the synced ones. An
# sqlite3 transaction left open, its uncommitted pages already in the host
# file, rolls back to the last commit from the journal sqlite3 fsynced. The harness wants mmfs dead by
# SIGKILL afterwards and clears the dead mount.
# mmfs-args: --ram 16M
# files-tmpfs: 256M
# kills-mmfs
source "$MMFS_LIB"
need sqlite3 sqlite3
F=$MMFS/files
HOST=$(kv "$MMFS/system/config" Files)
assert_eq "$HOST" "$FILES" "the volume is the harness's tmpfs"
[[ -n "${MMFS_PID:-}" && -d /proc/$MMFS_PID ]] || fail "MMFS_PID names no process"
assert_eq "$(cat "/proc/$MMFS_PID/comm")" "mmfs" "MMFS_PID is the daemon"

# sqlite3 first: two committed transactions, then one left open with its
# pages spilled into the database file (cache_size 10 pages) and written to
# the host (by the 16 MB machine's write throttle, and then a flush of that
# file): only its journal, fsynced before the spill, can undo them.
sqlite3 "$F/db.sqlite" > /dev/null <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t SELECT x, hex(randomblob(32)) FROM c;
COMMIT;
INSERT INTO t VALUES (20001, 'last commit');
EOF
committed=$(stat -c %s "$HOST/db.sqlite")
mkfifo open-tx
sqlite3 "$F/db.sqlite" < open-tx > open-tx.out 2>&1 &
exec 4> open-tx
cat >&4 <<'EOF'
PRAGMA cache_size = 10;
BEGIN;
UPDATE t SET v = 'uncommitted' WHERE id % 3 = 0;
WITH RECURSIVE c(x) AS (SELECT 30001 UNION ALL SELECT x + 1 FROM c WHERE x < 60000)
INSERT INTO t SELECT x, hex(randomblob(32)) FROM c;
.print spilled
EOF
wait_until 600 grep -q spilled open-tx.out || fail "the open transaction did not get going: $(cat open-tx.out)"
[[ -s "$HOST/db.sqlite-journal" ]] || fail "no hot journal on the host"
cmd "$MMFS/cache/control" 'flush db.sqlite' > /dev/null
assert_eq "$(kv "$MMFS/cache/stats" DirtyPages)" "0" "dirty pages"
(( $(stat -c %s "$HOST/db.sqlite") > committed )) || fail "the open transaction's pages are not in the host file"

# The files below stay under the dirty page threshold (512 pages) and the
# clock is manual: nothing but the clients' own syncs writes them.
(( $(kv "$MMFS/cache/stats" DirtyPageThreshold) >= 512 )) || fail "a lower dirty page threshold"
# coreutils sync FILE (fsync).
head -c 1M /dev/urandom > synced.bin
cp synced.bin "$F/synced.bin"
sync "$F/synced.bin"
# Then 64 KB of it are rewritten and never synced.
head -c 64K /dev/urandom > rewrite.bin
dd if=rewrite.bin of="$F/synced.bin" bs=64K seek=8 conv=notrunc status=none

# python os.fsync after scattered writes into an open file.
python3 - "$F/py.bin" py.bin <<'EOF'
import os, random, sys
random.seed(7)
want = bytearray(os.urandom(512 << 10))
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, want)
for _ in range(200):
    at, n = random.randrange(len(want) - 9000), random.randrange(1, 9000)
    data = os.urandom(n)
    os.pwrite(fd, data, at)
    want[at:at + n] = data
os.fsync(fd)
# Written after the fsync, never synced: only its own bytes may be missing.
os.pwrite(fd, b"unsynced" * 512, 256 << 10)
os.close(fd)
open(sys.argv[2], "wb").write(want)
EOF

# dd conv=fdatasync, O_SYNC and O_DIRECT writes (the last two need no fsync).
head -c 256K /dev/urandom > dd.bin
dd if=dd.bin of="$F/fdatasync.bin" bs=64K conv=fdatasync status=none
dd if=dd.bin of="$F/osync.bin" bs=64K oflag=sync status=none
dd if=dd.bin of="$F/direct.bin" bs=64K oflag=direct status=none

# A process's write through its mapped view, then fsync of the file.
head -c 256K /dev/urandom > mapped.bin
cp mapped.bin "$F/mapped.bin"
cmd "$MMFS/sections/control" 'create m 0 file=mapped.bin' > /dev/null
mkdir "$MMFS/processes/p"
base=$(cmd "$MMFS/processes/p/control" 'map m 0 0 0 readwrite' | awk '{ print $1 }')
poke "$MMFS/processes/p" "$(hexadd "$base" 12345)" "WRITTEN THROUGH A VIEW"
printf 'WRITTEN THROUGH A VIEW' | dd of=mapped.bin bs=1 seek=12345 conv=notrunc status=none
cmd "$MMFS/processes/p/control" trim > /dev/null
poke "$MMFS/processes/p" "$(hexadd "$base" 200000)" "STILL IN THE WORKING SET"
printf 'STILL IN THE WORKING SET' | dd of=mapped.bin bs=1 seek=200000 conv=notrunc status=none
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$F/mapped.bin"

(( $(kv "$MMFS/cache/stats" DirtyPages) > 0 )) || fail "nothing left unsynced"
# Every promise made, the daemon dies without a chance to write anything.
kill -9 "$MMFS_PID"
wait_until 100 bash -c '! stat "$1" 2> /dev/null' _ "$MMFS/system" || fail "the mount still answers"
expect_error "Transport endpoint is not connected" stat "$MMFS/files"
exec 4>&-
wait || true

# Every synced byte is there; each page of the rewritten range is the synced
# one or the new one.
python3 - synced.bin rewrite.bin "$HOST/synced.bin" <<'EOF'
import sys
old, new, host = (open(p, "rb").read() for p in sys.argv[1:])
assert len(host) == len(old), "sync FILE: the size"
lo, hi = 8 << 16, (8 << 16) + len(new)
assert host[:lo] == old[:lo], "sync FILE: synced bytes before the rewrite differ"
assert host[hi:] == old[hi:], "sync FILE: synced bytes after the rewrite differ"
for at in range(lo, hi, 4096):
    page = host[at:at + 4096]
    assert page in (old[at:at + 4096], new[at - lo:at - lo + 4096]), f"page at {at:#x} is neither"
EOF
python3 - py.bin "$HOST/py.bin" <<'EOF'
import sys
want, host = (open(p, "rb").read() for p in sys.argv[1:])
assert len(host) == len(want), "size"
lo, hi = 256 << 10, (256 << 10) + 8 * 512
assert host[:lo] == want[:lo] and host[hi:] == want[hi:], "os.fsync: synced bytes differ"
for at in range(lo, hi, 4096):  # the unsynced write: per page, old or new
    assert host[at:at + 4096] in (want[at:at + 4096], (b"unsynced" * 512)[:4096]), "unsynced page"
EOF
cmp dd.bin "$HOST/fdatasync.bin" || fail "dd conv=fdatasync"
cmp dd.bin "$HOST/osync.bin" || fail "O_SYNC writes"
cmp dd.bin "$HOST/direct.bin" || fail "O_DIRECT writes"
cmp mapped.bin "$HOST/mapped.bin" || fail "a mapped write and fsync"
# The host database rolls the open transaction back from its hot journal.
out=$(sqlite3 "$HOST/db.sqlite" 'PRAGMA integrity_check; SELECT count(*), max(id) FROM t; SELECT count(*) FROM t WHERE v = '"'uncommitted'"';')
assert_eq "$out" $'ok\n20001|20001\n0' "the database after SIGKILL"
