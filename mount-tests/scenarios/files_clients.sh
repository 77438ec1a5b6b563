# Real clients on files/ with 16 MB of RAM, so everything they move goes through
# a cache much smaller than the data: cp/cmp/sha256sum of a 64 MB file, tar and
# rsync round trips, an sqlite3 database (rollback journal and WAL), a git
# repository, and fio with crc32c verification (buffered, O_DIRECT and a mixed
# concurrent job). After each, the host directory holds the same bytes once the
# cache is flushed, and the cache's counters show the work went through it.
# mmfs-args: --ram 16M
# timeout: 240
source "$MMFS_LIB"
need fio fio
need rsync rsync
need sqlite3 sqlite3
need git git
F=$MMFS/files
HOST=$(kv "$MMFS/system/config" Files)
stats() { kv "$MMFS/cache/stats" "$1"; }
flush() { cmd "$MMFS/cache/control" flush > /dev/null; }
# same_on_host DIR: every regular file under files/DIR has the host file's bytes.
same_on_host() {
    local rel
    while IFS= read -r -d '' rel; do
        cmp -s "$F/$1/$rel" "$HOST/$1/$rel" || fail "files/$1/$rel differs from the host file"
    done < <(cd "$F/$1" && find . -type f -print0)
}
reads0=$(stats CopyReads) writes0=$(stats CopyWrites)
lazy0=$(stats LazyWritePages) throttled0=$(stats ThrottledWrites)

# 64 MB, four times the RAM: the cache holds a small part of it at any time.
head -c 64M /dev/urandom > big.bin
want=$(sha256sum < big.bin)
cp big.bin "$F/big.bin"
assert_eq "$(stat -c %s "$F/big.bin")" "67108864" "size"
cmp big.bin "$F/big.bin" || fail "cp of 64 MB differs"
assert_eq "$(sha256sum < "$F/big.bin")" "$want" "sha256sum"
# Two readers at once, one from each end of the file.
sha256sum < "$F/big.bin" > sum1 &
python3 - "$F/big.bin" > sum2 <<'EOF2'
import hashlib, os, sys
fd, chunk = os.open(sys.argv[1], os.O_RDONLY), 1 << 16
size = os.fstat(fd).st_size
parts = [os.pread(fd, chunk, at) for at in range(size - chunk, -1, -chunk)]
print(hashlib.sha256(b"".join(reversed(parts))).hexdigest(), " -", sep=" ")
EOF2
wait $!
assert_eq "$(cat sum1)" "$want" "a concurrent reader"
assert_eq "$(cat sum2)" "$want" "a concurrent reader, backwards"
(( $(stats ThrottledWrites) > throttled0 )) || fail "64 MB of writes never met the write throttle"
flush
assert_eq "$(stats DirtyPages)" "0" "dirty pages after a flush"
cmp big.bin "$HOST/big.bin" || fail "the host file differs after cache/control flush"
rm "$F/big.bin" big.bin

# A tree with files of every size around the page and view boundaries.
mkdir -p tree/src tree/bin tree/empty/dir
cp -r "$(dirname "$MMFS_LIB")/../src/mm" tree/src/
for n in 0 1 4095 4096 4097 65536 262143 262144 262145 1000000; do
    head -c "$n" /dev/urandom > "tree/bin/$n"
done
ln -s ../bin/4096 tree/src/link
chmod 750 tree/bin
touch -d '2011-01-01 00:00:01' tree/bin/1
# tar in: the archive written into files/ is the archive written outside.
tar --sort=name -C tree -cf tree.tar .
tar --sort=name -C tree -cf "$F/tree.tar" .
cmp tree.tar "$F/tree.tar" || fail "an archive written into files/ differs"
mkdir "$F/untarred"
tar -C "$F/untarred" -xf "$F/tree.tar"
diff -r tree "$F/untarred" || fail "tar x into files/ differs"
# tar out: an archive of the extracted tree is byte for byte the first one
# (names, modes, owners, times and contents).
tar --sort=name -C "$F/untarred" -cf out.tar .
cmp tree.tar out.tar || fail "tar c of the tree in files/ is not the original archive"
mkdir untarred && tar -C untarred -xf out.tar
diff -r tree untarred || fail "tar out of files/ differs"
flush
same_on_host untarred

# rsync -a in and out; a second run finds nothing to do.
rsync -a tree/ "$F/rsynced/"
diff -r tree "$F/rsynced" || fail "rsync into files/ differs"
assert_eq "$(rsync -a --checksum --itemize-changes tree/ "$F/rsynced/")" "" "a second rsync -c finds changes"
rsync -a "$F/rsynced/" rsynced/
diff -r tree rsynced || fail "rsync out of files/ differs"
flush
same_on_host rsynced

# sqlite3: 100,000 rows in one transaction, then a second process reads them.
sqlite3 "$F/db.sqlite" > sql.out <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
CREATE INDEX t_v ON t(v);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, hex(randomblob(16)), x * 7 FROM c;
COMMIT;
PRAGMA integrity_check;
EOF
assert_eq "$(cat sql.out)" "ok" "integrity_check"
assert_eq "$(sqlite3 "$F/db.sqlite" 'SELECT count(*), sum(n) FROM t')" "100000|35000350000" "a second process"
# The host file is a whole database once the cache is flushed.
flush
assert_eq "$(sqlite3 "file:$HOST/db.sqlite?immutable=1" 'PRAGMA integrity_check; SELECT count(*) FROM t')" $'ok\n100000' "the host database"
# WAL: the -shm index is a shared mapping of a files/ file; a reader sees each
# commit of a writer that keeps its connection open.
assert_eq "$(sqlite3 "$F/wal.sqlite" 'PRAGMA journal_mode=WAL; CREATE TABLE t(x INTEGER);')" "wal" "journal_mode"
for i in $(seq 1 20); do
    echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) INSERT INTO t SELECT x FROM c;"
    echo ".shell sqlite3 '$F/wal.sqlite' 'SELECT count(*) FROM t' >> wal.counts"
done > wal.sql
sqlite3 "$F/wal.sqlite" < wal.sql
assert_eq "$(tr '\n' ' ' < wal.counts)" "$(seq 500 500 10000 | tr '\n' ' ')" "a reader's counts after each commit"
assert_eq "$(sqlite3 "$F/wal.sqlite" 'PRAGMA integrity_check')" "ok" "integrity_check (WAL)"

# git: a repository of the source tree, checked whole.
(
    cd "$F" && mkdir repo && cd repo
    git init -q && cp -r "$F/untarred/src" .
    git add -A && git -c user.name=t -c user.email=t@t commit -qm one
    git fsck --full --strict && git gc -q && git fsck --full
    [[ "$(git ls-files | wc -l)" == "$(find src -type f -o -type l | wc -l)" ]]
) > git.out 2>&1 || fail "git in files/: $(cat git.out)"

# fio with crc32c verification: buffered random writes, O_DIRECT, and a mixed
# job (buffered, direct and mmap at once), each checked when written and read.
mkdir "$F/fio"
cat > jobs.fio <<EOF
[global]
directory=$F/fio
verify=crc32c
verify_fatal=1
do_verify=1
size=16m
runtime=30
ioengine=psync

[buffered]
rw=randwrite
bs=4k

[direct]
stonewall
rw=write
bs=64k
direct=1

[mixed]
stonewall
numjobs=2
rw=randrw
bsrange=512-64k
fsync=16
verify_backlog=64

[mixed-direct]
rw=randrw
bsrange=4k-64k
direct=1
verify_backlog=64

[mixed-mmap]
ioengine=mmap
rw=randwrite
bs=4k
size=8m
EOF
fio jobs.fio > fio.out 2>&1 || fail "fio: $(grep -E 'err=|verify|fio:' fio.out | head -20)"
grep -E 'err= *[1-9]|verify: bad' fio.out && fail "fio reported errors"
assert_eq "$(grep -c 'err= 0' fio.out)" "6" "fio jobs that ran clean"
flush
same_on_host fio

(( $(stats CopyReads) > reads0 )) || fail "CopyReads did not move"
(( $(stats CopyWrites) > writes0 )) || fail "CopyWrites did not move"
(( $(stats LazyWritePages) > lazy0 )) || fail "LazyWritePages did not move"
(( $(stats LazyWriteFlushes) > 0 )) || fail "no write-behind I/O"
(( $(stats PeakSystemCacheWorkingSet) <= 4096 )) || fail "the system cache working set outgrew RAM"
verify_ok
