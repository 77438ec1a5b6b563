# The paging file's volume fills up (a 12 MB tmpfs as --state-dir, then the
# paging file's unwritten slots are punched out and a file takes every free
# byte): paging-file writes fail with ENOSPC and the pages stay
# modified, counted and traced; the paging file cannot grow, so a commit beyond
# the limit fails with STATUS_COMMITMENT_LIMIT; memory runs out (ENOMEM) rather
# than lose a byte; readers see the bytes written or an error, never others.
# Once space is freed the writer catches up, the file grows, and every byte
# comes back from the paging file.
# mmfs-args: --ram 4M --pagefile 4M:64M
# state-tmpfs: 12M
source "$MMFS_LIB"
S=$MMFS/system/control
A=$MMFS/processes/a
B=$MMFS/processes/b
PF=$MMFS/pagefiles/pagefile.sys/info
pf() { kv "$PF" "$1"; }

[[ -d "$STATE" ]] || fail "no state volume"
assert_eq "$(kv "$MMFS/system/config" StateDir)" "$STATE" "state directory"

events_to events.txt
reader=$!

head -c 2M /dev/urandom > a.bin
head -c 4M /dev/urandom > b.bin
mkdir "$A" "$B"

# The minimum size of the paging file is on the volume from the start (not
# sparse): 4 MB of blocks before a page is written.
(( $(stat -c %b "$STATE/pagefile.sys") * 512 >= 4194304 )) || fail "the minimum is not allocated"
# A paging file larger than the volume's free space is refused at creation with
# STATUS_DISK_FULL, and leaves neither a host file nor a pagefiles/ entry.
limit=$(meminfo CommitLimit)
expect_cmd_error "No space left on device" STATUS_DISK_FULL "$MMFS/pagefiles/control" 'create huge.sys 16M 32M'
[[ ! -e "$STATE/huge.sys" ]] || fail "huge.sys left on the volume"
! listed "$MMFS/pagefiles" huge.sys || fail "huge.sys listed"
assert_eq "$(meminfo CommitLimit)" "$limit" "commit limit after the refused create"

# With room on the volume: a's 2 MB go to the paging file.
read -r abase _ <<< "$(cmd "$A/control" 'alloc 0 2M reserve,commit readwrite')"
mem_write "$A" "$abase" if=a.bin bs=64K conv=notrunc
cmd "$A/control" trim > /dev/null
assert_eq "$(cmd "$S" flush-modified)" "pages=512" "the first flush"
assert_eq "$(pf PagesWritten)" "512"
assert_eq "$(pf CurrentSize)" "4194304" "the paging file at its minimum"

# The minimum was allocated when the paging file was created (NtCreatePagingFile;
# fallocate), so a full volume alone could not fail a page write. Another program
# punches the blocks of the slots a did not write out of the file (as a host
# without fallocate would have left them: sparse); then another file takes every
# free byte of the volume.
a_end=$(( (512 + 1) * 4096 ))
fallocate --punch-hole --offset "$a_end" --length $(( 4194304 - a_end )) "$STATE/pagefile.sys"
dd if=/dev/zero of="$STATE/filler" bs=64K status=none 2> /dev/null || true
assert_eq "$(stat -f -c %a "$STATE")" "0" "free blocks on the full volume"

# The paging file cannot grow on a full volume: a commit that needs it to fails
# with STATUS_COMMITMENT_LIMIT, and the limit and the file stay as they were.
read -r bbase _ <<< "$(cmd "$B/control" 'alloc 0 4M reserve,commit readwrite')"
limit=$(meminfo CommitLimit)
over=$(( (limit - $(meminfo CommitCharge) + 256) * 4096 ))
expect_cmd_error "Cannot allocate memory" STATUS_COMMITMENT_LIMIT "$B/control" "alloc 0 $over reserve,commit readwrite"
assert_eq "$(meminfo CommitLimit)" "$limit" "commit limit"
assert_eq "$(pf CurrentSize)" "4194304" "paging file size"
# Nor can a new paging file be created (NtCreatePagingFile: STATUS_DISK_FULL).
expect_cmd_error "No space left on device" STATUS_DISK_FULL "$MMFS/pagefiles/control" 'create extra.sys 1M 2M'
[[ ! -e "$STATE/extra.sys" ]] || fail "extra.sys left on the volume"

# b's first MB is written and trimmed: a flush of these modified pages fails
# with ENOSPC (every free slot is space the volume no longer has) and leaves them
# modified, their slots free, and nothing counted as written.
mem_write "$B" "$bbase" if=b.bin bs=64K count=16 conv=notrunc
cmd "$B/control" trim > /dev/null
modified=$(meminfo ModifiedPages)
(( modified >= 256 )) || fail "only $modified modified pages"
used=$(pf UsedPages)
errors=$(counter pagefile_write_errors)
assert_eq "$(cmd "$S" flush-modified)" "pages=0" "a flush on the full volume"
assert_eq "$(meminfo ModifiedPages)" "$modified" "modified pages after the failed flush"
assert_eq "$(wc -l < "$MMFS/pfn/lists/modified")" "$modified" "the modified list"
assert_eq "$(pf UsedPages)" "$used" "paging file slots after the failed flush"
assert_eq "$(pf PagesWritten)" "512" "pages written after the failed flush"
(( $(counter pagefile_write_errors) > errors )) || fail "pagefile_write_errors did not rise"
assert_eq "$(counter pages_written_to_pagefile)" "512" "pages_written_to_pagefile"
verify_ok

# b writes its other 3 MB page by page; RAM fills with pages nothing can write
# out, and the writes stop with ENOMEM. What they wrote reads back.
set +e
out=$(dd if=b.bin of="$B/mem" bs=4K skip=256 seek=$((bbase + 0x100000)) oflag=seek_bytes conv=notrunc 2>&1)
rc=$?
set -e
(( rc != 0 )) || fail "b's 4 MB fit in 4 MB of RAM with nothing written out"
[[ "$out" == *"Cannot allocate memory"* ]] || fail "dd: $out"
done_bytes=$(sed -n 's/^\([0-9]*\) bytes.*/\1/p' <<< "$out")
(( done_bytes > 0 && done_bytes % 4096 == 0 )) || fail "dd wrote $done_bytes bytes"
b_pages=$((256 + done_bytes / 4096))
(( $(meminfo ModifiedPages) > modified )) || fail "b's pages are not modified"
assert_eq "$(counter pages_written_to_pagefile)" "512" "pages_written_to_pagefile"
verify_ok

# Readers: every page reads back as written, or fails (no page to read it into
# from the paging file); never other bytes.
check_pages() {  # FILE BASE EXPECTED_FILE PAGES -> prints "ok failed"
    python3 - "$@" <<'PY'
import errno, os, sys
path, base, expected, pages = sys.argv[1], int(sys.argv[2], 0), sys.argv[3], int(sys.argv[4])
want = open(expected, "rb").read()
fd = os.open(path, os.O_RDONLY)
ok = failed = 0
for i in range(pages):
    try:
        got = os.pread(fd, 4096, base + i * 4096)
    except OSError as e:
        if e.errno != errno.ENOMEM:
            sys.exit(f"page {i}: {e}")
        failed += 1
        continue
    if got != want[i * 4096:(i + 1) * 4096]:
        sys.exit(f"page {i} of {path} holds other bytes")
    ok += 1
print(ok, failed)
PY
}
# b's pages are all in memory (modified): every one reads back.
assert_eq "$(check_pages "$B/mem" "$bbase" b.bin "$b_pages")" "$b_pages 0" "b's pages (ok failed)"
# a's were repurposed for b's: read from the paging file if a page is free.
read -r ok failed <<< "$(check_pages "$A/mem" "$abase" a.bin 512)"
assert_eq "$((ok + failed))" "512" "a's pages"
(( failed > 0 )) || fail "every page of a read back with RAM full of modified pages"

# The daemon keeps serving: listings and commands work; a new process has no
# page for its page directory (ENOMEM) and leaves nothing behind.
expect_error "Cannot allocate memory" mkdir "$MMFS/processes/c"
[[ ! -e "$MMFS/processes/c" ]] || fail "a half-made process"
assert_eq "$(cmd "$A/control" 'protect '"$abase"' 4K readonly')" "readwrite" "protect"
(( $(rows "$MMFS/pfn/db") == 1024 )) || fail "pfn/db"
assert_eq "$(kv "$MMFS/system/config" Ram)" "4194304" "system/config"
verify_ok

! grep -q ' pagefile.extend ' events.txt || fail "the paging file grew on the full volume"

# Space comes back: the writer catches up and the pages go to standby.
rm "$STATE/filler"
flushed=$(cmd "$S" flush-modified)
(( ${flushed#pages=} >= modified )) || fail "flush after freeing space: $flushed"
assert_eq "$(meminfo ModifiedPages)" "0" "modified pages after freeing space"
(( $(meminfo StandbyPages) > 0 )) || fail "no standby pages"
mem_write "$B" "$bbase" if=b.bin bs=64K conv=notrunc
cmd "$A/control" trim > /dev/null
cmd "$B/control" trim > /dev/null
cmd "$S" flush-modified > /dev/null
cmd "$S" empty-standby > /dev/null
read0=$(counter pages_read_from_pagefile)
mem_read "$A" "$abase" bs=64K count=32 | cmp - a.bin || fail "a after freeing space"
mem_read "$B" "$bbase" bs=64K count=64 | cmp - b.bin || fail "b after freeing space"
(( $(counter pages_read_from_pagefile) >= read0 + 1536 )) || fail "not read from the paging file: $(cat "$MMFS/system/counters")"

# With room again the paging file has grown (the writer needed more slots), and
# the commit that failed succeeds.
cmd "$B/control" "alloc 0 $over reserve,commit readwrite" > /dev/null
(( $(pf CurrentSize) > 4194304 )) || fail "the paging file did not grow"
(( $(meminfo CommitLimit) > limit )) || fail "the commit limit did not rise"
verify_ok

kill -TERM "$reader"
wait "$reader" 2> /dev/null || true
grep -q ' pagefile.write-error file=0 .* error=ENOSPC' events.txt || fail "no ENOSPC write error event"
grep -q ' pagefile.extend ' events.txt || fail "no extension after freeing space"
