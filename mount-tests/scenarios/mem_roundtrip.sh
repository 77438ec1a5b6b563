# Allocate, dd random data into mem, read it back with cmp, and watch the pages in
# the counters, ptes, pfn lists and verify; trim and fault back; free; terminate.
# mmfs-args: --ram 64M
source "$MMFS_LIB"
P=$MMFS/processes/app
# The first process's kernel stack makes the System process's page table
# for the system PTEs, which stays: one made and gone first.
mkdir "$MMFS/processes/warm" && rmdir "$MMFS/processes/warm"
before_avail=$(meminfo AvailablePages)
before_commit=$(meminfo CommitCharge)
before_active=$(meminfo ActivePages)
mkdir "$P"

read -r base size <<< "$(cmd "$P/control" 'alloc 0 4M reserve,commit readwrite')"
assert_eq "$size" "0x400000" "allocation size"
(( base % 65536 == 0 )) || fail "base $base is not 64 KB aligned"

roundtrip "$P" "$base" 1M data

assert_eq "$(kv "$P/status" DemandZeroFaults)" "256" "one demand-zero fault per page"
assert_eq "$(kv "$P/status" PrivatePages)" "256"
(( $(counter demand_zero_faults) >= 256 )) || fail "counters"
assert_eq "$(rows "$P/ptes" '$3 == "valid"')" "256" "valid PTEs"
(( $(wc -l < "$MMFS/pfn/lists/active") == $(meminfo ActivePages) )) || fail "active list count"
verify_ok

# The !pte view: the x86 self-map formula, and the PFN points back.
pte="$P/pte/$base"
assert_eq "$(kv "$pte" PteAddress)" "$(printf '0x%08x' $(( 0xC0000000 + (base >> 12) * 4 )))" "self-map PTE address"
assert_eq "$(kv "$pte" PdeAddress)" "$(printf '0x%08x' $(( 0xC0300000 + (base >> 22) * 4 )))" "self-map PDE address"
assert_eq "$(kv "$pte" State)" "valid"
pfn=$(kv "$pte" Pfn)
assert_eq "$(kv "$MMFS/pfn/$pfn" State)" "active"
assert_eq "$(kv "$MMFS/pfn/$pfn" Owner)" "$(kv "$P/status" Pid)"
assert_eq "$(kv "$MMFS/pfn/$pfn" VirtualAddress)" "$(printf '0x%08x' $((base)))"
assert_eq "$(kv "$MMFS/pfn/$pfn" PteAddress)" "$(kv "$pte" PteAddress)"
grep -q "^$pfn " "$MMFS/pfn/db" || fail "pfn $pfn not in pfn/db"
# Lookup-only entries are not listed.
ls "$MMFS/pfn" | grep -q '^0x' && fail "pfn entries listed"
ls "$P/pte" | grep -qv README && fail "pte entries listed"

# Trim: the pages go to the modified list, their PTEs become transition PTEs.
modified=$(meminfo ModifiedPages)
assert_eq "$(cmd "$P/control" trim)" "256" "pages trimmed"
assert_eq "$(meminfo ModifiedPages)" "$((modified + 256))"
assert_eq "$(kv "$pte" State)" "transition"
on_list "$pfn" modified || fail "$pfn not on the modified list"
verify_ok
mem_read "$P" "$base" bs=64K count=16 > back2
cmp data back2 || fail "bytes lost across trim"
assert_eq "$(kv "$P/status" TransitionFaults)" "256" "soft faults"
assert_eq "$(kv "$P/status" HardFaults)" "0"
verify_ok

# Decommit a page in the middle: reading it is EFAULT, its neighbours still read.
mid=$(hexadd "$base" 0x8000)
cmd "$P/control" "free $mid 0x1000 decommit" > /dev/null
expect_error "Bad address" mem_read "$P" "$mid" bs=4096 count=1 of=/dev/null
mem_read "$P" "$base" bs=4096 count=8 | cmp - <(head -c 32768 data) \
    || fail "neighbouring pages changed"
assert_match "$(kv "$P/status" LastException)" "STATUS_ACCESS_VIOLATION read $(printf '0x%08x' $((mid)))"
verify_ok

# Terminating frees everything: meminfo returns to its earlier values.
rmdir "$P"
assert_eq "$(meminfo AvailablePages)" "$before_avail" "available after rmdir"
assert_eq "$(meminfo CommitCharge)" "$before_commit" "commit after rmdir"
assert_eq "$(meminfo ActivePages)" "$before_active" "active after rmdir"
verify_ok
