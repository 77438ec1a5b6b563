# One file, two ways in: files/ (the cache's views in the System process) and a
# process's mapped view of a section on the same file. Both see one set of
# physical pages, so a write through either is seen at once through the other,
# through trims of both working sets; the host file gets the bytes only when a
# writer writes them (the lazy writer on `tick`, the mapped page writer, a
# flush or fsync). A mapped file cannot be truncated below its view, unlinked
# or replaced (EBUSY), and nothing changes when that is refused.
source "$MMFS_LIB"
F=$MMFS/files
HOST=$(kv "$MMFS/system/config" Files)
P=$MMFS/processes/p
SIZE=$((1 << 20))
stats() { kv "$MMFS/cache/stats" "$1"; }
# at PAGE [BYTE]: a byte offset in the file.
at() { echo $(( $1 * 4096 + ${2:-0} )); }
# patch OFFSET TEXT: the expected bytes (want.bin) get TEXT at OFFSET.
patch() { printf '%s' "$2" | dd of=want.bin bs=1 seek="$1" conv=notrunc status=none; }
host_has() { cmp -s "$HOST/c.bin" want.bin; }
host_bytes() { dd if="$HOST/c.bin" bs=1 skip="$1" count="$2" status=none | cat -v; }
# Every way of reading the file gives want.bin.
both_see() {
    cmp "$F/c.bin" want.bin || fail "$1: files/ differs"
    mem_read "$P" "$base" bs=64K count=16 | cmp - want.bin || fail "$1: the mapped view differs"
}
trim_both() {
    cmd "$P/control" trim > /dev/null
    cmd "$MMFS/processes/System/control" trim > /dev/null
}

# Written through files/: in the cache only; the host file has its size at
# once and its bytes later (the clock is manual: no lazy writer yet).
head -c "$SIZE" /dev/urandom > want.bin
cp want.bin "$F/c.bin"
assert_eq "$(stat -c %s "$HOST/c.bin")" "$SIZE" "the host size"
cmp -s -n "$SIZE" "$HOST/c.bin" /dev/zero || fail "the host file has bytes before any writer ran"
assert_eq "$(stats DirtyPages)" "256" "pages the cache dirtied"

# A process maps the file: it reads what files/ wrote, from the same pages.
assert_eq "$(cmd "$MMFS/sections/control" 'create s 0 file=c.bin')" "s 0x100000"
mkdir "$P"
base=$(cmd "$P/control" 'map s 0 0 0 readwrite' | awk '{ print $1 }')
both_see "mapped"
assert_eq "$(kv "$P/pte/$base" Pfn)" "$(proto_pte s 0 pfn)" "the process's page is the file's page"
assert_eq "$(proto_pte s 0 share)" "2" "page 0's users (the cache's view and the process's)"
awk 'NR > 1 { print $1 }' "$MMFS/sections/s/views" | grep -qx System || fail "the cache's views are not views of the section"

# 1. A write through the process's view is seen at once through files/; the
# host file sees neither write yet, through trims of both working sets.
poke "$P" "$(hexadd "$base" "$(at 5 100)")" "MAPPED-1"
patch "$(at 5 100)" "MAPPED-1"
both_see "a write through mem"
trim_both
both_see "after trimming both"
cmp -s -n "$SIZE" "$HOST/c.bin" /dev/zero || fail "the host file changed before any writer ran"
# The lazy writer's scans write what the cache dirtied: every page, so the
# host file has both writes (page 5 is a dirty cache page too).
lazy=$(stats LazyWritePages)
cmd "$MMFS/system/control" 'tick 5' > /dev/null
(( $(stats LazyWritePages) >= lazy + 256 )) || fail "the lazy writer wrote $(( $(stats LazyWritePages) - lazy )) pages"
assert_eq "$(stats DirtyPages)" "0" "dirty pages after the lazy writer"
host_has || fail "the host file after the lazy writer"

# 2. A process's write, trimmed to the modified list, waits for the mapped
# page writer.
poke "$P" "$(hexadd "$base" "$(at 9 7)")" "MAPPED-2"
patch "$(at 9 7)" "MAPPED-2"
both_see "a second write through mem"
host_has && fail "the host file has a mapped write no writer wrote"
trim_both
both_see "after trimming both"
host_has && fail "a trim wrote the page"
# Reading it back faulted the page in again: trimmed once more it is on the
# modified list, for the mapped page writer.
trim_both
pfn=$(proto_pte s 9 pfn)
on_list "$pfn" modified || fail "page 9 ($pfn) is not on the modified list: $(proto_pte s 9 state)"
host_has && fail "a trim wrote the page"
written=$(cmd "$MMFS/system/control" 'run mapped-page-writer')
assert_match "$written" "pages=[1-9]*" "the mapped page writer's pass"
on_list "$pfn" standby || fail "a written page goes to standby"
host_has || fail "the host file after the mapped page writer: $(host_bytes "$(at 9 7)" 8)"
both_see "after the mapped page writer"

# 3. A process's write still in its working set (only the PTE is dirty) is
# written by cache/control flush.
poke "$P" "$(hexadd "$base" "$(at 13)")" "MAPPED-3"
patch "$(at 13)" "MAPPED-3"
both_see "a third write through mem"
host_has && fail "the host file has an unflushed mapped write"
written=$(cmd "$MMFS/cache/control" 'flush c.bin' | awk '{ print $1 }')
(( written >= 1 )) || fail "flush wrote $written pages"
host_has || fail "the host file after flush: $(host_bytes "$(at 13)" 8)"

# 4. A write through files/ is seen at once through the view; fsync writes it.
printf 'FILES-4' | dd of="$F/c.bin" bs=1 seek="$(at 17 3)" conv=notrunc status=none
patch "$(at 17 3)" "FILES-4"
both_see "a write through files/"
trim_both
both_see "after trimming both"
host_has && fail "the host file has an unflushed write"
sync "$F/c.bin"
host_has || fail "the host file after fsync"

# 5. Both at once on one page, trims between, then the lazy writer.
printf 'FILES-5' | dd of="$F/c.bin" bs=1 seek="$(at 21)" conv=notrunc status=none
poke "$P" "$(hexadd "$base" "$(at 21 8)")" "MAPPED-5"
patch "$(at 21)" "FILES-5"
patch "$(at 21 8)" "MAPPED-5"
trim_both
both_see "two writers on one page"
cmd "$MMFS/system/control" 'tick 5' > /dev/null
host_has || fail "the host file after the lazy writer: $(host_bytes "$(at 21)" 16)"
# With every page written and the standby list emptied, both ways read the
# host file back (hard faults).
trim_both
hard=$(counter hard_faults)
cmd "$MMFS/system/control" empty-standby > /dev/null
both_see "read back from the host file"
(( $(counter hard_faults) > hard )) || fail "nothing was read back from the host file"
verify_ok

# Truncating below the view, O_TRUNC, unlinking and replacing are refused
# with EBUSY and change nothing; growing the file and shrinking it back to the
# view's end are allowed.
expect_error "Device or resource busy" truncate -s $((SIZE - 4096)) "$F/c.bin"
expect_error "Device or resource busy" truncate -s 0 "$F/c.bin"
expect_error "Device or resource busy" bash -c ': > "$1"' _ "$F/c.bin"
expect_error "Device or resource busy" rm "$F/c.bin"
echo other > "$F/other"
expect_error "Device or resource busy" mv "$F/other" "$F/c.bin"
assert_eq "$(stat -c %s "$F/c.bin")" "$SIZE" "the size after refused truncations"
assert_eq "$(stat -c %s "$HOST/c.bin")" "$SIZE" "the host size after refused truncations"
both_see "after refused truncations"
truncate -s $((SIZE * 2)) "$F/c.bin"
assert_eq "$(stat -c %s "$HOST/c.bin")" "$((SIZE * 2))" "grown"
truncate -s "$SIZE" "$F/c.bin"
both_see "grown and shrunk back to the view's end"
cmd "$MMFS/cache/control" flush > /dev/null
host_has || fail "the host file after a grow and shrink"

# Once the view is gone the file is an ordinary file again.
rmdir "$P" "$MMFS/sections/s"
truncate -s 4096 "$F/c.bin"
assert_eq "$(stat -c %s "$HOST/c.bin")" "4096" "truncated once unmapped"
head -c 4096 want.bin | cmp - "$F/c.bin" || fail "the first page after truncation"
rm "$F/c.bin" "$F/other"
[[ ! -e "$HOST/c.bin" ]] || fail "rm did not reach the host"
verify_ok
