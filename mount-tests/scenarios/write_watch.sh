# Write watch from the shell: a reserve,write-watch region records the pages
# written into it (processes/<name>/write-watch, GetWriteWatch); a page only
# read is not listed; reset-write-watch (ResetWriteWatch) forgets, and a new
# write to a page that was dirty before the reset is listed again; a written
# page paged out (empty-working-sets, flush-modified, empty-standby) and read
# back stays listed, with its data; WRK's statuses for bad ranges; a partial
# release and a fork are refused; release drops the bits. x86, 16 MB of RAM.
# mmfs-args: --ram 16M --clock manual
source "$MMFS_LIB"
P=$MMFS/processes/ww
C=$P/control
S=$MMFS/system/control
W=$P/write-watch
mkdir "$P"

# The file exists from the start, a header and no rows.
assert_eq "$(cat "$W")" "# region va"
assert_eq "$(cmd "$C" 'alloc 0x100000 64K reserve,commit,write-watch readwrite')" "0x100000 0x10000"
assert_eq "$(awk 'NR > 1 { print $1, $4 }' "$P/vads")" "0x00100000 writewatch"
assert_eq "$(rows "$W")" "0"

# Write pages 0 and 2 with dd, read pages 1 and 3: only 0 and 2 are listed.
head -c 4096 /dev/urandom > page0
head -c 4096 /dev/urandom > page2
dd if=page0 of="$P/mem" bs=4096 seek=$((0x100000)) oflag=seek_bytes conv=notrunc status=none
dd if=page2 of="$P/mem" bs=4096 seek=$((0x102000)) oflag=seek_bytes conv=notrunc status=none
dd if="$P/mem" of=/dev/null bs=4096 skip=$((0x101000)) iflag=skip_bytes count=1 status=none
dd if="$P/mem" of=/dev/null bs=4096 skip=$((0x103000)) iflag=skip_bytes count=1 status=none
assert_eq "$(awk 'NR > 1 { printf "%s %s,", $1, $2 }' "$W")" \
    "0x00100000 0x00100000,0x00100000 0x00102000," "written pages"
# Reading the file resets nothing.
assert_eq "$(rows "$W")" "2"
verify_ok

# reset-write-watch forgets; the PTEs are clean again.
assert_eq "$(cmd "$C" 'reset-write-watch 0x100000 64K')" ""
assert_eq "$(rows "$W")" "0" "after the reset"
assert_eq "$(kv "$P/pte/0x100000" Flags)" "WUA---" "page 0 valid and clean (no D)"
# Page 0 was dirty before the reset: a new write is listed again.
echo again | dd of="$P/mem" bs=6 seek=$((0x100000)) oflag=seek_bytes conv=notrunc status=none
printf 'again\n' > expect0
tail -c +7 page0 >> expect0
assert_eq "$(awk 'NR > 1 { print $2 }' "$W")" "0x00100000" "written after the reset"

# Page out everything: the written page stays listed, the others do not.
cmd "$S" empty-working-sets > /dev/null
cmd "$S" flush-modified > /dev/null
cmd "$S" empty-standby > /dev/null
assert_eq "$(kv "$P/pte/0x100000" State)" "pagefile"
assert_eq "$(kv "$P/pte/0x102000" State)" "pagefile"
assert_eq "$(awk 'NR > 1 { print $2 }' "$W")" "0x00100000" "after paging out"
# Read back (hard faults, clean PTEs): the data is intact, the list the same.
dd if="$P/mem" bs=4096 skip=$((0x100000)) iflag=skip_bytes count=1 status=none | cmp - expect0 \
    || fail "page 0 lost its data"
dd if="$P/mem" bs=4096 skip=$((0x102000)) iflag=skip_bytes count=1 status=none | cmp - page2 \
    || fail "page 2 (written before the reset only) lost its data"
assert_eq "$(kv "$P/pte/0x102000" State)" "valid"
assert_eq "$(awk 'NR > 1 { print $2 }' "$W")" "0x00100000" "after reading back"
verify_ok

# WRK's statuses (NtResetWriteWatch), each changing nothing.
cmd "$C" 'alloc 0x200000 64K reserve,commit readwrite' > /dev/null
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_1 "$C" "reset-write-watch 0x200000 4K"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_1 "$C" "reset-write-watch 0x500000 4K"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_1 "$C" "reset-write-watch 0x10f000 8K"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_2 "$C" "reset-write-watch 0x7ffe0000 4K"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_3 "$C" "reset-write-watch 0x100000 0"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_3 "$C" "reset-write-watch 0x7ffd0000 128K"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "reset-write-watch 0x100000"
# MEM_WRITE_WATCH needs MEM_RESERVE.
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_5 "$C" "alloc 0x300000 64K commit,write-watch readwrite"
# A write-watch region is released whole or not at all.
expect_cmd_error "Invalid argument" STATUS_FREE_VM_NOT_AT_BASE "$C" "free 0x101000 4K release"
# A process with a write-watch region cannot fork.
expect_cmd_error "Invalid argument" STATUS_INVALID_PAGE_PROTECTION "$C" "fork child"
[[ ! -e $MMFS/processes/child ]] || fail "a refused fork made a child"
assert_eq "$(awk 'NR > 1 { print $2 }' "$W")" "0x00100000" "after the refusals"
verify_ok

# Decommit keeps the write listed; release drops the region and its bits.
echo x | dd of="$P/mem" bs=2 seek=$((0x104000)) oflag=seek_bytes conv=notrunc status=none
cmd "$C" 'free 0x104000 4K decommit' > /dev/null
assert_eq "$(awk 'NR > 1 { printf "%s,", $2 }' "$W")" "0x00100000,0x00104000," "after decommit"
cmd "$C" 'free 0x100000 0 release' > /dev/null
assert_eq "$(rows "$W")" "0" "after release"
grep -q writewatch "$P/vads" && fail "the write-watch VAD is still there"
# Without it the fork works.
cmd "$C" 'fork child' > /dev/null
verify_ok
rmdir "$MMFS/processes/child" "$P"
verify_ok
