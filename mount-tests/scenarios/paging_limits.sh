# Commit beyond the limit fails with ENOMEM / STATUS_COMMITMENT_LIMIT and changes
# nothing; a second paging file raises the limit; ws-limits and lock hold while
# the system trims; tick runs the threads the manual clock owes.
# mmfs-args: --ram 16M --pagefile 8M:16M
source "$MMFS_LIB"
P=$MMFS/processes/app
S=$MMFS/system/control
mkdir "$P"
mi() { kv "$MMFS/system/meminfo" "$1"; }

limit=$(mi CommitLimit)
commit=$(mi CommitCharge)
expect_cmd_error "Cannot allocate memory" STATUS_COMMITMENT_LIMIT "$P/control" 'alloc 0 64M reserve,commit readwrite'
assert_eq "$(mi CommitLimit)" "$limit" "limit unchanged"
assert_eq "$(mi CommitCharge)" "$commit" "charge unchanged"
assert_eq "$(awk 'NR > 1' "$P/vads" | wc -l)" "0" "no VAD left behind"

# A commit past the current limit grows the paging file toward its maximum.
cmd "$P/control" 'alloc 0 28M reserve,commit readwrite' > /dev/null
(( $(mi CommitLimit) > limit )) || fail "the paging file did not grow"
assert_eq "$(kv "$MMFS/pagefiles/pagefile.sys/info" CurrentSize)" "16777216"
verify_ok

# A second paging file (NtCreatePagingFile) raises the limit by its size - 1 page.
limit=$(mi CommitLimit)
cmd "$MMFS/pagefiles/control" 'create extra.sys 8M 32M' > /dev/null
assert_eq "$(mi CommitLimit)" "$((limit + 2047))"
ls "$MMFS/pagefiles" | grep -qx extra.sys || fail "extra.sys not listed"
assert_eq "$(kv "$MMFS/pagefiles/extra.sys/info" MinimumSize)" "8388608"
expect_cmd_error "File exists" STATUS_OBJECT_NAME_COLLISION "$MMFS/pagefiles/control" 'create extra.sys 8M 32M'
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$MMFS/pagefiles/control" 'create other 32M 8M'
verify_ok

# ws-limits and lock under trimming.
Q=$MMFS/processes/keeper
mkdir "$Q"
read -r qbase _ <<< "$(cmd "$Q/control" 'alloc 0 1M reserve,commit readwrite')"
assert_eq "$(cmd "$Q/control" 'ws-limits 800K 2M')" "819200 2097152"
head -c 1M /dev/urandom > qdata
dd if=qdata of="$Q/mem" bs=64K seek=$((qbase)) oflag=seek_bytes status=none
cmd "$Q/control" "lock $qbase 64K" > /dev/null
# Fill RAM from the other process so the working-set manager must trim.
read -r base _ <<< "$(awk 'NR == 2 { print $1 }' "$P/vads") x"
dd if=/dev/zero of="$P/mem" bs=1M count=14 seek=$((base)) oflag=seek_bytes status=none
cmd "$S" 'tick 3' > /dev/null
ws=$(kv "$Q/status" WorkingSetSize)
(( ws >= 200 )) || fail "keeper's working set $ws went below its minimum (200 pages)"
locked=$(awk 'NR > 1 && $5 == "1" { n++ } END { print n + 0 }' "$Q/workingset")
assert_eq "$locked" "16" "locked entries"
(( $(awk '$1 == "balance-set-manager" { print $4 }' "$MMFS/system/threads") == 3 )) || fail "threads: $(cat "$MMFS/system/threads")"
hard0=$(awk '$1 == "hard_faults" { print $2 }' "$MMFS/system/counters")
dd if="$Q/mem" bs=64K skip=$((qbase)) iflag=skip_bytes count=1 status=none | cmp - <(head -c 64K qdata) || fail "locked bytes"
assert_eq "$(awk '$1 == "hard_faults" { print $2 }' "$MMFS/system/counters")" "$hard0" "locked pages never fault"
dd if="$Q/mem" bs=64K skip=$((qbase)) iflag=skip_bytes count=16 status=none | cmp - qdata || fail "keeper's bytes"
verify_ok
