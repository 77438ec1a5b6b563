# AWE through the shell: a MEM_PHYSICAL reservation, awe-alloc (frames
# charged to commit and resident available memory, AWE in usecounts),
# awe-map and dd through mem, the same bytes remapped at another address,
# unmapping (EFAULT), every refusal with its errno and nothing changed,
# trim and outswap leaving the pages alone, fork refused,
# release unmapping them and rmdir freeing them.
source "$MMFS_LIB"
P=$MMFS/processes/app
commit0=$(meminfo CommitCharge)
resident0=$(meminfo ResidentAvailablePages)
mkdir "$P"
C=$P/control
listed "$P" awe || fail "processes/app/awe is not listed"
grep -q "awe-alloc" "$P/README" || grep -q "awe-alloc" "$MMFS/processes/README" \
    || fail "the README does not describe awe-alloc"
use_awe() { awk -v c="$1" '$1 == "AWE" { print $c }' "$MMFS/system/usecounts"; }
assert_eq "$(use_awe 2)" "0" "no AWE page at boot"

# Before any awe-alloc there is no bitmap: map is STATUS_INVALID_PARAMETER_1.
read -r base size <<< "$(cmd "$C" "alloc 0 64K reserve,physical readwrite")"
assert_eq "$size" "0x10000"
assert_eq "$(awk '$4 == "awe" { print $3 }' "$P/vads")" "0" "vads: one awe row, no commit"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_1 "$C" "awe-map $base none 1"
# MEM_PHYSICAL with commit, or not readwrite: refused.
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_5 "$C" "alloc 0 64K reserve,commit,physical readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_6 "$C" "alloc 0 64K reserve,physical readonly"
verify_ok

commit1=$(meminfo CommitCharge)
resident1=$(meminfo ResidentAvailablePages)
read -r -a pfns <<< "$(cmd "$C" "awe-alloc 4")"
assert_eq "${#pfns[@]}" "4" "four PFNs"
assert_eq "$(use_awe 2)" "4" "usecounts AWE total"
assert_eq "$(use_awe 3)" "4" "usecounts AWE active"
assert_eq "$(meminfo CommitCharge)" "$((commit1 + 4))" "AWE pages charge commit"
assert_eq "$(meminfo ResidentAvailablePages)" "$((resident1 - 4))" "and resident memory"
assert_eq "$(kv "$P/status" AwePages)" "4"
assert_eq "$(rows "$P/awe")" "4" "awe rows"
assert_eq "$(rows "$P/awe" '$2 == "-"')" "4" "none mapped yet"
head -1 "$P/awe" | grep -qx '# pfn va' || fail "awe header: $(head -1 "$P/awe")"
for p in "${pfns[@]}"; do
    assert_eq "$(kv "$MMFS/pfn/$p" Use)" "AWE" "pfn/$p Use"
done
# Unmapped: the reservation's pages fault.
expect_error "Bad address" mem_read "$P" "$base" bs=4096 count=1 of=/dev/null
verify_ok

# Map two pages, write through mem, read back.
assert_eq "$(cmd "$C" "awe-map $base ${pfns[0]} ${pfns[1]}")" "2"
head -c 8192 /dev/urandom > data
mem_write "$P" "$base" if=data bs=8192 conv=notrunc
mem_read "$P" "$base" bs=8192 count=1 | cmp - data || fail "AWE pages did not read back"
second=$(hexadd "$base" 0x1000)
assert_eq "$(awk -v p="${pfns[1]}" '$1 == p { print $2 }' "$P/awe")" "$second" "awe va column"
read -r state frame <<< "$(awk -v v="$second" '$1 == v { print $3, $4 }' "$P/ptes")"
assert_eq "$state $((frame))" "valid $((pfns[1]))" "ptes row"
# pfn/db: AWE, owned by the process, at the address.
pid=$(kv "$P/status" Pid)
db_row=$(awk -v p="${pfns[1]}" '$1 == p { print $3, $4, $5 }' "$MMFS/pfn/db")
assert_eq "$db_row" "AWE $pid $second" "pfn/db row"
# Valid but in no working set.
if awk 'NR > 1 { print $3 }' "$P/workingset" | grep -qx -- "${pfns[1]}"; then
    fail "an AWE page is in the working set"
fi
verify_ok

# Remap the second frame at the reservation's last page: the same bytes.
cmd "$C" "awe-map $second none 1" > /dev/null
expect_error "Bad address" mem_read "$P" "$second" bs=4096 count=1 of=/dev/null
last=$(hexadd "$base" 0xf000)
cmd "$C" "awe-map $last ${pfns[1]}" > /dev/null
mem_read "$P" "$last" bs=4096 count=1 | cmp - <(tail -c 4096 data) \
    || fail "the remapped page does not hold the same bytes"
verify_ok

# Refusals, each with its errno; nothing changes.
before=$(cat "$P/awe" "$P/ptes"; use_awe 2; meminfo CommitCharge)
expect_cmd_error "File exists" STATUS_CONFLICTING_ADDRESSES "$C" "awe-map $second 0x7ffff"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_3 "$C" "awe-map $second ${pfns[2]} ${pfns[2]}"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_3 "$C" "awe-map $second ${pfns[2]} ${pfns[0]}"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_1 "$C" "awe-map $last ${pfns[2]} ${pfns[3]}"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_1 "$C" "awe-map 0x7000000 ${pfns[2]}"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_2 "$C" "awe-map $base none 0"
expect_cmd_error "File exists" STATUS_CONFLICTING_ADDRESSES "$C" "awe-free ${pfns[2]} 0x7ffff"
expect_cmd_error "File exists" STATUS_CONFLICTING_ADDRESSES "$C" "awe-free ${pfns[2]} ${pfns[2]}"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "awe-free"
after=$(cat "$P/awe" "$P/ptes"; use_awe 2; meminfo CommitCharge)
assert_eq "$after" "$before" "a refused command changed something"
verify_ok

# Trim, outswap and empty the lists: the AWE pages stay where they are.
cmd "$C" trim > /dev/null
write_cmd "$MMFS/system/control" empty-working-sets empty-standby
cmd "$C" outswap > /dev/null
assert_eq "$(cat "$P/awe" "$P/ptes"; use_awe 2; meminfo CommitCharge)" "$before" "trim moved AWE pages"
mem_read "$P" "$base" bs=4096 count=1 | cmp - <(head -c 4096 data) || fail "AWE bytes lost by trim"
verify_ok

# Fork: WRK refuses a process with an AWE reservation (a physical VAD).
expect_cmd_error "Invalid argument" STATUS_INVALID_PAGE_PROTECTION "$C" "fork child"
[ ! -e "$MMFS/processes/child" ] || fail "a refused fork left a child"
verify_ok

# awe-free unmaps and frees: commit and usecounts come down.
assert_eq "$(cmd "$C" "awe-free ${pfns[0]}")" "1"
expect_error "Bad address" mem_read "$P" "$base" bs=4096 count=1 of=/dev/null
assert_eq "$(use_awe 2)" "3"
assert_eq "$(meminfo CommitCharge)" "$((commit1 + 3))"
verify_ok

# Releasing the reservation unmaps the pages; they stay the process's.
cmd "$C" "free $base 0 release" > /dev/null
assert_eq "$(rows "$P/awe")" "3"
assert_eq "$(rows "$P/awe" '$2 == "-"')" "3" "all unmapped by the release"
expect_error "Bad address" mem_read "$P" "$last" bs=4096 count=1 of=/dev/null
verify_ok

# rmdir frees them: AWE back to 0, commit and resident memory as before.
rmdir "$P"
assert_eq "$(use_awe 2)" "0" "usecounts AWE after rmdir"
assert_eq "$(meminfo CommitCharge)" "$commit0"
assert_eq "$(meminfo ResidentAvailablePages)" "$resident0"
verify_ok
