# Every error path shows its errno and its readable reason; state is unchanged.
# mmfs-args: --ram 32M --pagefile 16M
source "$MMFS_LIB"
P=$MMFS/processes/app
mkdir "$P"
C=$P/control
read -r base _ <<< "$(cmd "$C" 'alloc 0x100000 64K reserve readwrite')"
assert_eq "$base" "0x100000"
commit_before=$(meminfo CommitCharge)

expect_cmd_error "File exists" STATUS_CONFLICTING_ADDRESSES "$C" "alloc 0x100000 4K reserve readwrite"
expect_cmd_error "No such file or directory" STATUS_MEMORY_NOT_ALLOCATED "$C" "free 0x500000 0 release"
expect_cmd_error "Invalid argument" STATUS_FREE_VM_NOT_AT_BASE "$C" "free 0x101000 0 release"
expect_cmd_error "Invalid argument" STATUS_INVALID_PAGE_PROTECTION "$C" "alloc 0 4K reserve,commit readwrite+sparkly"
expect_cmd_error "Invalid argument" STATUS_INVALID_PAGE_PROTECTION "$C" "alloc 0 4K reserve,commit writecopy"
# NtAllocateVirtualMemory's parameter numbers: the type is 5, the size 4.
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_5 "$C" "alloc 0 4K sideways readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_4 "$C" "alloc 0 0 reserve readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "alloc 0x12"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "teleport"
expect_cmd_error "Cannot allocate memory" STATUS_COMMITMENT_LIMIT "$C" "alloc 0 1G reserve,commit readwrite"
expect_cmd_error "No such file or directory" STATUS_NOT_COMMITTED "$C" "protect 0x100000 4K readonly"
assert_eq "$(meminfo CommitCharge)" "$commit_before" "failed commands charged commit"
assert_eq "$(rows "$P/vads")" "1" "failed commands left VADs"

# Lock beyond the working-set minimum: NtLockVirtualMemory wants the minimum
# (50 pages) to cover the 4 system pages of an x86 process, the pages less one
# and 8 kept free: 39 pages fit, 40 do not.
read -r lb _ <<< "$(cmd "$C" 'alloc 0 1M reserve,commit readwrite')"
expect_cmd_error "Device or resource busy" STATUS_WORKING_SET_QUOTA "$C" "lock $lb 0x28000"
assert_eq "$(cmd "$C" "lock $lb 0x27000")" "39" "pages locked"
assert_eq "$(kv "$P/status" LockedPages)" "39"
cmd "$C" trim > /dev/null
assert_eq "$(kv "$P/status" LockedPages)" "39" "locked pages survive trim"
assert_eq "$(kv "$P/pte/$lb" State)" "valid"
# Locking pages again says so (STATUS_WAS_LOCKED, a success).
assert_eq "$(cmd "$C" "lock $lb 4K")" "0 STATUS_WAS_LOCKED"
expect_cmd_error "Invalid argument" STATUS_NOT_LOCKED "$C" "unlock $(hexadd "$lb" 0x80000) 4K"
assert_eq "$(cmd "$C" "ws-limits 1M 4M")" "0x100000 0x400000 soft"
assert_eq "$(kv "$P/status" WorkingSetMinimum)" "256"
expect_cmd_error "Invalid argument" STATUS_BAD_WORKING_SET_LIMIT "$C" "ws-limits 4M 1M"
# 0 keeps a limit; one beyond MmMaximumWorkingSetSize (RAM less 512 pages)
# is brought down with success, STATUS_WORKING_SET_LIMIT_RANGE.
assert_eq "$(cmd "$C" "ws-limits 0 8M hard")" "0x100000 0x800000 hard"
assert_eq "$(cmd "$C" "ws-limits 32M 32M soft")" "0x1e00000 0x1e00000 soft STATUS_WORKING_SET_LIMIT_RANGE"
# A minimum is taken from resident available memory (RAM less every minimum,
# kernel stack of 3 pages and locked page), which must keep 100 pages: a
# second process cannot raise its own now.
assert_eq "$(meminfo ResidentAvailablePages)" "$(( 8192 - 50 - 7680 - 3 - 39 ))"
mkdir "$MMFS/processes/other"
expect_cmd_error "Cannot allocate memory" STATUS_INSUFFICIENT_RESOURCES "$MMFS/processes/other/control" "ws-limits 2M 4M"
assert_eq "$(kv "$MMFS/processes/other/status" WorkingSetMinimum)" "50"
assert_eq "$(meminfo ResidentAvailablePages)" "$(( 8192 - 50 - 7680 - 3 - 39 - 50 - 3 ))"
rmdir "$MMFS/processes/other"
assert_eq "$(cmd "$C" "ws-limits 1M 4M")" "0x100000 0x400000 soft"

# mem: reserved-only memory is EFAULT; read-only refuses writes with EACCES.
expect_error "Bad address" mem_read "$P" "$base" bs=4096 count=1 of=/dev/null
assert_match "$(kv "$P/status" LastException)" "STATUS_ACCESS_VIOLATION read 0x00100000"
read -r ro _ <<< "$(cmd "$C" 'alloc 0 4K reserve,commit readonly')"
mem_read "$P" "$ro" bs=4096 count=1 of=/dev/null
expect_error "Permission denied" poke "$P" "$ro" x
assert_match "$(kv "$P/status" LastException)" "STATUS_ACCESS_VIOLATION write $(printf '0x%08x' $((ro)))"
assert_eq "$(cmd "$C" "protect $ro 4K readwrite")" "readonly" "old protection"
poke "$P" "$ro" x

# A guard page fails once with EFAULT (STATUS_GUARD_PAGE_VIOLATION), then works.
read -r g _ <<< "$(cmd "$C" 'alloc 0 8K reserve,commit readwrite+guard')"
expect_error "Bad address" poke "$P" "$g" hi
assert_match "$(kv "$P/status" LastException)" "STATUS_GUARD_PAGE_VIOLATION write *"
poke "$P" "$g" hi
assert_eq "$(peek "$P" "$g" 2)" "hi"
(( $(counter guard_page_faults) == 1 )) || fail "guard counter"

# A transfer that crosses into an uncommitted page returns the bytes before it.
read -r pc _ <<< "$(cmd "$C" 'alloc 0 64K reserve readwrite')"
cmd "$C" "alloc $pc 4K commit readwrite" > /dev/null
n=$(head -c 8192 /dev/zero | dd of="$P/mem" bs=8192 seek=$((pc)) oflag=seek_bytes conv=notrunc 2>&1 | grep -o '^[0-9]* bytes' | head -1 || true)
assert_eq "$n" "4096 bytes" "partial write"
# Beyond user space.
expect_error "Bad address" mem_read "$P" 0x7fff0000 bs=4096 count=1 of=/dev/null

# Hostile input: random bytes to the control file and random offsets/sizes on mem.
for i in $(seq 1 200); do
    head -c $((RANDOM % 200 + 1)) /dev/urandom > junk
    cat junk > "$C" 2> /dev/null || true
    mem_read "$P" $((RANDOM * RANDOM)) of=/dev/null bs=$((RANDOM % 9000 + 1)) count=1 2> /dev/null || true
done
listed "$MMFS/processes" app || fail "process gone"
verify_ok

# A page that goes bad: a transfer across it returns the bytes before it; a read
# of it fails with EIO and STATUS_IN_PAGE_ERROR; freed, it stays on the bad list.
read -r bp _ <<< "$(cmd "$C" 'alloc 0 16K reserve,commit readwrite')"
head -c 16384 /dev/urandom > bdata
mem_write "$P" "$bp" if=bdata bs=16K
bad=$(kv "$P/pte/$(hexadd "$bp" 0x2000)" Pfn)
cmd "$MMFS/system/control" "bad-page $bad" > /dev/null
n=$(dd if="$P/mem" of=/dev/null bs=16K skip=$((bp)) iflag=skip_bytes count=1 2>&1 | grep -o '^[0-9]* bytes' | head -1 || true)
assert_eq "$n" "8192 bytes" "bytes before the bad page"
expect_error "Input/output error" mem_read "$P" $(( bp + 0x2000 )) of=/dev/null bs=4K count=1
assert_match "$(kv "$P/status" LastException)" "STATUS_IN_PAGE_ERROR read *"
badpages=$(meminfo BadPages)
cmd "$C" "free $(hexadd "$bp" 0x2000) 4K decommit" > /dev/null
assert_eq "$(meminfo BadPages)" "$((badpages + 1))"
on_list "$bad" bad || fail "$bad not on the bad list"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$MMFS/system/control" "bad-page 0x99999999"
verify_ok
