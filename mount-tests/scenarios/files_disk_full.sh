# The volume of files/ on a full disk: a 16 MB tmpfs. A write through files/
# sets the host file's size at once but leaves it sparse, so once another host
# file takes every free block the lazy writer's writes fail with ENOSPC: the
# failure is a `cache.lost-write` event, the pages stay dirty and readable, the
# next fsync of the file and the next close of an open of it get EIO (NT's
# lost delayed write); once space is freed a flush writes every byte.
# files-tmpfs: 16M
source "$MMFS_LIB"
F=$MMFS/files
HOST=$(kv "$MMFS/system/config" Files)
assert_eq "$HOST" "$FILES" "the volume is the harness's tmpfs"
stats() { kv "$MMFS/cache/stats" "$1"; }
# fsync_errno PATH: the errno of an fsync of PATH (0: it succeeded), then of
# closing it.
fsync_errno() {
    python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for call in (os.fsync, os.close):
    try:
        call(fd)
        print(0, end=" ")
    except OSError as e:
        print(e.errno, end=" ")' "$1"
}

# 4 MB in the cache; the host file is as long, and holds no block yet.
head -c 4M /dev/urandom > want.bin
cp want.bin "$F/victim.bin"
assert_eq "$(stat -c %s "$HOST/victim.bin")" "4194304" "the host size"
(( $(stat -c %b "$HOST/victim.bin") < 64 )) || fail "the host file is not sparse: $(stat -c %b "$HOST/victim.bin") blocks"
assert_eq "$(stats DirtyPages)" "1024" "dirty pages"

# A client keeps another file open with 64 KB it wrote, for its close.
head -c 64K /dev/urandom > closer.want
mkfifo go
python3 - "$F/closer.bin" closer.want go > closer.out 2>&1 <<'EOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
print("written", flush=True)
open(sys.argv[3]).read()  # until the script says go
try:
    os.close(fd)
    print("close ok")
except OSError as e:
    print("close errno", e.errno)
EOF
closer=$!
wait_until 100 grep -q written closer.out || fail "the client did not write: $(cat closer.out)"

# Another host file takes every free block.
dd if=/dev/zero of="$HOST/filler" bs=64K status=none 2> /dev/null || true
assert_eq "$(df --output=avail "$HOST" | tail -1 | tr -d ' ')" "0" "free space on the volume"

# The lazy writer runs and cannot write.
events_to events.txt
events=$!
lazy=$(stats LazyWritePages)
cmd "$MMFS/system/control" 'tick 5' > /dev/null
wait_until 50 grep -q 'cache.lost-write file=victim.bin' events.txt \
    || fail "no cache.lost-write event for victim.bin: $(grep cache. events.txt | head)"
grep -q 'cache.lost-write file=closer.bin' events.txt || fail "no cache.lost-write event for closer.bin"
kill "$events"
assert_eq "$(stats LazyWritePages)" "$lazy" "pages the lazy writer wrote"
assert_eq "$(stats DirtyPages)" "1040" "the pages stay dirty"
assert_eq "$(awk '$1 == "victim.bin" { print $4 }' "$MMFS/cache/files")" "1024" "victim.bin's dirty pages"

# The bytes are still there to read. The close that ends this read is the
# file's next close, and reports the lost write (once: the next one is clean).
python3 - "$F/victim.bin" want.bin <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
assert os.read(fd, 8 << 20) == open(sys.argv[2], "rb").read(), "the bytes read differ"
try:
    os.close(fd)
    sys.exit("the next close after a lost write succeeded")
except OSError as e:
    assert e.errno == 5, e
EOF
cmp "$F/victim.bin" want.bin || fail "files/ does not read the bytes written"

# Every fsync of the file is EIO while its pages cannot be written (the
# close after it is clean: the fsync said it all); the next close of the
# client's open is EIO.
assert_eq "$(fsync_errno "$F/victim.bin")" "5 0 " "fsync and close on a full volume"
assert_eq "$(fsync_errno "$F/victim.bin")" "5 0 " "a second fsync on a full volume"
echo go > go
wait "$closer"
assert_eq "$(tail -1 closer.out)" "close errno 5" "the client's close"
expect_write_error "Input/output error" "$MMFS/cache/control" 'flush victim.bin'
cmp "$F/victim.bin" want.bin || fail "files/ after the failed writes"
cmp "$F/closer.bin" closer.want || fail "files/closer.bin after the failed writes"

# Space again: a flush writes every byte, and fsync is clean.
rm "$HOST/filler"
assert_match "$(cmd "$MMFS/cache/control" flush)" "1040 pages written" "the flush once space is free"
assert_eq "$(stats DirtyPages)" "0" "dirty pages after the flush"
cmp want.bin "$HOST/victim.bin" || fail "the host file after the flush"
cmp closer.want "$HOST/closer.bin" || fail "the client's host file after the flush"
assert_eq "$(fsync_errno "$F/victim.bin")" "0 0 " "fsync once space is free"
verify_ok
