# MEM_LARGE_PAGES on x64 (2 MB pages): alloc, bytes through mem across 4 KB
# pages and across two large pages, the large PDE in pte/<VA>, ptes, vads,
# usecounts and pfn/<PFN>, pages that trimming and emptying working sets
# leave alone, every refusal with its errno and status, release, verify.
# mmfs-args: --arch x64 --ram 64M
source "$MMFS_LIB"
P=$MMFS/processes/big
mkdir "$P"
commit0=$(meminfo CommitCharge)
resident0=$(meminfo ResidentAvailablePages)
read -r base size <<< "$(cmd "$P/control" 'alloc 0 4M reserve,commit,large-pages readwrite')"
(( size == 0x400000 )) || fail "size $size"
(( base % 0x200000 == 0 )) || fail "base $base is not 2 MB aligned"
(( $(meminfo CommitCharge) >= commit0 + 1024 )) || fail "1024 pages of commit not charged"
(( $(meminfo ResidentAvailablePages) <= resident0 - 1024 )) || fail "resident available memory not charged"

# Zeroed, then written and read back across both large pages.
assert_eq "$(peek "$P" $(( base + 0x1fff00 )) 512 | tr -d '\0' | wc -c)" "0" "fresh large pages are zero"
poke "$P" $(( base + 0x1ffffe )) "ACROSS"
assert_eq "$(peek "$P" $(( base + 0x1ffffe )) 6)" "ACROSS"
roundtrip "$P" "$base" 4M data
verify_ok

# pte/<VA>: the walk ends at the PDE, which has the large-page bit.
va=$(printf '0x%x' $(( base + 0x201234 )))
pte=$P/pte/$va
assert_eq "$(kv "$pte" LargePage)" "yes"
assert_eq "$(kv "$pte" State)" "valid"
assert_match "$(kv "$pte" PdeWinDbgFlags)" "--LDA--UW-V"
first=$(kv "$P/pte/$(printf '0x%x' $(( base + 0x200000 )))" Pfn)
(( $(kv "$pte" Pfn) == first + 1 )) || fail "the frame of +0x1000 in a large page is its first + 1"
(( first % 512 == 0 )) || fail "large page frame $first is not 512-aligned"
grep -q "PteAddress" "$pte" && fail "a large page has no PTE" || true
# pfn/<PFN>: use LargePage, owner and address.
assert_eq "$(kv "$MMFS/pfn/$(kv "$pte" Pfn)" Use)" "LargePage"
assert_eq "$(kv "$MMFS/pfn/$(kv "$pte" Pfn)" VirtualAddress)" "$(printf '0x%016x' $(( base + 0x201000 )))"
# vads, ptes, usecounts, maps.
assert_eq "$(rows "$P/vads" '$4 == "largepages"')" "1"
assert_eq "$(rows "$P/ptes" '$3 == "valid"')" "1024"
assert_eq "$(awk '$1 == "LargePage" { print $2, $3 }' "$MMFS/system/usecounts")" "1024 1024"
assert_eq "$(awk -v pid="$(kv "$P/status" Pid)" '$3 == "LargePage" && $4 == pid' "$MMFS/pfn/db" | wc -l)" "1024" "pfn/db rows"
grep -q "rw-p" "$P/maps" || fail "maps: $(cat "$P/maps")"

# Never trimmed, aged or paged.
write_cmd "$MMFS/system/control" empty-working-sets
cmd "$P/control" trim > /dev/null
mem_read "$P" "$base" bs=64K count=64 | cmp - data || fail "large pages changed after trimming"
assert_eq "$(kv "$P/pte/$va" Pfn)" "$(kv "$pte" Pfn)"
verify_ok

# Refusals (nothing changes).
C=$P/control
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_4 "$C" "alloc 0 3M reserve,commit,large-pages readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_5 "$C" "alloc 0 2M reserve,large-pages readwrite"
expect_cmd_error "Cannot allocate memory" STATUS_INSUFFICIENT_RESOURCES "$C" "alloc 0 60M reserve,commit,large-pages readwrite"
expect_cmd_error "No such file or directory" STATUS_MEMORY_NOT_ALLOCATED "$C" "free $base 4K decommit"
expect_cmd_error "Invalid argument" STATUS_FREE_VM_NOT_AT_BASE "$C" "free $base 4K release"
expect_cmd_error "File exists" STATUS_CONFLICTING_ADDRESSES "$C" "protect $base 4K readonly"
expect_cmd_error "File exists" STATUS_CONFLICTING_ADDRESSES "$C" "alloc $base 2M reserve,commit,large-pages readwrite"
expect_cmd_error "Invalid argument" STATUS_INCOMPATIBLE_FILE_MAP "$C" "lock $base 4K"
assert_eq "$(awk '$1 == "LargePage" { print $2 }' "$MMFS/system/usecounts")" "1024"
verify_ok

# Release: frames and charges go back.
cmd "$C" "free $base 0 release" > /dev/null
assert_eq "$(awk '$1 == "LargePage" { print $2 }' "$MMFS/system/usecounts")" "0"
assert_eq "$(meminfo CommitCharge)" "$commit0"
assert_eq "$(meminfo ResidentAvailablePages)" "$resident0"
expect_error "Bad address" peek "$P" "$base" 1
verify_ok
