# The executive pool from the shell: paged and non-paged allocations, their
# headers and tags, big pages, special pool and its corruption report, paged
# pool trimmed, written out and faulted back, and every error path leaving
# the pool as it was.
# mmfs-args: --ram 16M --pagefile 32M
source "$MMFS_LIB"
P=$MMFS/pool
C=$P/control

assert_eq "$(head -1 "$P/allocations")" "# address size type tag state"
assert_eq "$(head -1 "$P/used")" "# tag paged_allocs paged_frees paged_bytes nonpaged_allocs nonpaged_frees nonpaged_bytes"
listed "$P" README && listed "$P" control || fail "pool/ lists README and control"

# Small paged blocks: one page, split; headers in RAM (x86: unit 8).
a=$(cmd "$C" "alloc paged 100 Test")
b=$(cmd "$C" "alloc paged 40 Test")
assert_eq "$(( a % 4096 ))" 8 "the first block's data follows its 8-byte header"
assert_eq "$(( b - a ))" 112 "BlockSize of 100 bytes + header is 14 units"
assert_eq "$(meminfo PagedPoolPages)" 1
assert_eq "$(rows "$P/allocations" '$5 == "allocated" && $4 == "Test"')" 2
assert_eq "$(awk '$1 == "Test" { print $2, $3, $4 }' "$P/used")" "2 0 160"
page=$(cat "$P/$a")
assert_match "$page" "*Kind: blocks*Resident: yes*" "pool/<ADDRESS>"
assert_match "$page" "*$(printf '0x%08x' $(( a - 8 ))) 0 14 2 Test allocated*" "header of a"
assert_match "$page" "* 14 6 2 Test allocated*" "header of b: PreviousSize 14"
assert_match "$page" "* 6 492 0 Test free*" "the rest of the page is one free block"
ls "$P" | grep -q 0x && fail "pool/<ADDRESS> is lookup-only"
expect_error "No such file" cat "$P/0x1000"

# Non-paged: resident, charged against resident available memory.
ra=$(meminfo ResidentAvailablePages)
n=$(cmd "$C" "alloc nonpaged 64 Npg")
assert_eq "$(meminfo NonPagedPoolPages)" 1
assert_eq "$(meminfo ResidentAvailablePages)" $(( ra - 1 ))
assert_eq "$(awk '$1 == "NonPagedPool" { print $2 }' "$MMFS/system/usecounts")" 1

# Big pages: no header, whole pages.
big=$(cmd "$C" "alloc paged 10000 BigP")
assert_eq "$(( big % 4096 ))" 0 "a big allocation is page aligned"
assert_eq "$(meminfo PagedPoolPages)" 4
assert_match "$(cat "$P/$big")" "*Kind: big*Allocation: $big 10000 BigP*"

# Paged pool pages out and back: trim, write, repurpose, then look again.
cmd "$MMFS/system/control" "empty-working-sets" > /dev/null
cmd "$MMFS/system/control" "flush-modified" > /dev/null
cmd "$MMFS/system/control" "empty-standby" > /dev/null
assert_eq "$(awk '$1 == "PagedPool" { print $2 }' "$MMFS/system/usecounts")" 0 "paged pool trimmed and repurposed"
assert_eq "$(awk '$1 == "NonPagedPool" { print $2 }' "$MMFS/system/usecounts")" 1 "non-paged pool stays"
assert_match "$(cat "$P/$a")" "*Resident: no*" "looking does not fault it in"
verify_ok
hard=$(counter hard_faults)
c=$(cmd "$C" "alloc paged 24 Back")
assert_eq "$(( c - b ))" 48 "the free block after b, found through the paged-in headers"
[[ $(counter hard_faults) -gt $hard ]] || fail "the header page came back by a hard fault"
assert_match "$(cat "$P/$a")" "*Resident: yes*0 14 2 Test allocated*" "headers survived the paging file"
verify_ok

# Special pool: the end of its own page, then a guard page.
cmd "$C" "special Spcl" > /dev/null
s=$(cmd "$C" "alloc nonpaged 100 Spcl")
assert_eq "$(( s % 4096 ))" $(( 4096 - 104 )) "data at the end of the page, 8-byte aligned"
guard=$(printf '0x%x' $(( s - s % 4096 + 4096 )))
assert_match "$(cat "$P/$guard")" "*Kind: guard*"
assert_eq "$(rows "$P/allocations" '$5 == "special"')" 1
verify_ok
# Through kernel/mem: the allocation reads and writes; one byte past the page
# is the guard page (EFAULT), and nothing was written there.
K=$MMFS/kernel/mem
printf 'special!' | dd of="$K" seek=$((s)) oflag=seek_bytes conv=notrunc status=none
assert_eq "$(dd if="$K" skip=$((s)) iflag=skip_bytes bs=8 count=1 status=none)" "special!"
expect_error "Bad address" bash -c "printf x | dd of='$K' seek=$((guard)) oflag=seek_bytes conv=notrunc status=none"
expect_error "Bad address" dd if="$K" skip=$((guard)) iflag=skip_bytes bs=1 count=1 status=none of=/dev/null
verify_ok
cmd "$C" "free $s" > /dev/null
# An underrun into the slack before the allocation is found when it is freed:
# SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION, an error and an event, and the
# daemon goes on.
s=$(cmd "$C" "alloc paged 100 Spcl")
events_to ev
reader=$!
printf 'X' | dd of="$K" seek=$((s - 1)) oflag=seek_bytes conv=notrunc status=none
expect_cmd_error "Input/output error" STATUS_DATA_ERROR "$C" "free $s"
assert_match "$(cat "$C")" "*SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION*"
wait_until 50 grep -q pool.special-corruption ev || fail "no corruption event: $(cat ev)"
kill "$reader"
assert_eq "$(rows "$P/allocations" '$5 == "special"')" 0 "the corrupted allocation is freed"
verify_ok
cmd "$C" "special none" > /dev/null
o=$(cmd "$C" "alloc paged 100 Spcl")
assert_eq "$(( o % 4096 == 4096 - 104 ))" 0 "special pool off: an ordinary block"
cmd "$C" "free $o" > /dev/null

# Errors: nothing changes.
before=$(cat "$P/allocations" "$P/used"; meminfo PagedPoolPages; meminfo NonPagedPoolPages; meminfo CommitCharge)
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "alloc paged 0 Zero"
assert_match "$(cat "$C")" "*0 bytes*"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "alloc paged 10 Toolong"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "alloc sideways 10 Tag"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "alloc paged ten Tag"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "alloc paged 10"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "special"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "free"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "grow 1M"
expect_cmd_error "Cannot allocate memory" STATUS_INSUFFICIENT_RESOURCES "$C" "alloc nonpaged 1G Huge"
assert_match "$(cat "$C")" "*nonpaged pool*"
expect_cmd_error "Cannot allocate memory" STATUS_INSUFFICIENT_RESOURCES "$C" "alloc paged 2G Huge"
expect_cmd_error "No such file or directory" STATUS_MEMORY_NOT_ALLOCATED "$C" "free $(( a + 8 ))"
assert_match "$(cat "$C")" "*BAD_POOL_CALLER*"
expect_cmd_error "No such file or directory" STATUS_MEMORY_NOT_ALLOCATED "$C" "free 0x1234"
after=$(cat "$P/allocations" "$P/used"; meminfo PagedPoolPages; meminfo NonPagedPoolPages; meminfo CommitCharge)
assert_eq "$after" "$before" "failed commands changed nothing"
cmd "$C" "free $c" > /dev/null
expect_cmd_error "No such file or directory" STATUS_MEMORY_NOT_ALLOCATED "$C" "free $c"

# Non-paged pool exhaustion: fills, fails, changes nothing, frees.
held=()
while out=$(printf 'alloc nonpaged 64K Fill\n' 2>/dev/null > "$C" && cat "$C"); do
    held+=("${out#ok }")
    [[ ${#held[@]} -lt 500 ]] || fail "non-paged pool never ran out"
done
assert_match "$(cat "$C")" "error STATUS_INSUFFICIENT_RESOURCES: *"
before=$(cat "$P/allocations"; meminfo NonPagedPoolPages)
expect_cmd_error "Cannot allocate memory" STATUS_INSUFFICIENT_RESOURCES "$C" "alloc nonpaged 64K Fill"
assert_eq "$(cat "$P/allocations"; meminfo NonPagedPoolPages)" "$before"
for h in "${held[@]}"; do cmd "$C" "free $h" > /dev/null; done
verify_ok

# Everything freed: no pages, tags say so.
for x in "$a" "$b" "$n" "$big"; do cmd "$C" "free $x" > /dev/null; done
assert_eq "$(meminfo PagedPoolPages) $(meminfo NonPagedPoolPages)" "0 0"
assert_eq "$(awk '$1 == "Test" { print $2, $3, $4 }' "$P/used")" "2 2 0"
assert_eq "$(rows "$P/allocations")" 0
verify_ok
