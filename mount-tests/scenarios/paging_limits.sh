# Commit beyond the limit fails with ENOMEM / STATUS_COMMITMENT_LIMIT and changes
# nothing; a second paging file raises the limit; ws-limits and lock hold while
# the system trims; tick runs the threads the manual clock owes.
# mmfs-args: --ram 16M --pagefile 8M:16M
source "$MMFS_LIB"
P=$MMFS/processes/app
S=$MMFS/system/control
mkdir "$P"

limit=$(meminfo CommitLimit)
commit=$(meminfo CommitCharge)
expect_cmd_error "Cannot allocate memory" STATUS_COMMITMENT_LIMIT "$P/control" 'alloc 0 64M reserve,commit readwrite'
assert_eq "$(meminfo CommitLimit)" "$limit" "limit unchanged"
assert_eq "$(meminfo CommitCharge)" "$commit" "charge unchanged"
assert_eq "$(rows "$P/vads")" "0" "no VAD left behind"

# A commit past the current limit grows the paging file toward its maximum.
cmd "$P/control" 'alloc 0 28M reserve,commit readwrite' > /dev/null
(( $(meminfo CommitLimit) > limit )) || fail "the paging file did not grow"
assert_eq "$(kv "$MMFS/pagefiles/pagefile.sys/info" CurrentSize)" "16777216"
verify_ok

# A second paging file (NtCreatePagingFile) raises the limit by its size - 1 page.
limit=$(meminfo CommitLimit)
cmd "$MMFS/pagefiles/control" 'create extra.sys 8M 32M' > /dev/null
assert_eq "$(meminfo CommitLimit)" "$((limit + 2047))"
listed "$MMFS/pagefiles" extra.sys || fail "extra.sys not listed"
assert_eq "$(kv "$MMFS/pagefiles/extra.sys/info" MinimumSize)" "8388608"
expect_cmd_error "File exists" STATUS_OBJECT_NAME_COLLISION "$MMFS/pagefiles/control" 'create extra.sys 8M 32M'
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$MMFS/pagefiles/control" 'create other 32M 8M'
verify_ok

# ws-limits and lock under trimming.
Q=$MMFS/processes/keeper
mkdir "$Q"
read -r qbase _ <<< "$(cmd "$Q/control" 'alloc 0 1M reserve,commit readwrite')"
assert_eq "$(cmd "$Q/control" 'ws-limits 800K 2M')" "0xc8000 0x200000 soft"
head -c 1M /dev/urandom > qdata
mem_write "$Q" "$qbase" if=qdata bs=64K
cmd "$Q/control" "lock $qbase 64K" > /dev/null
# Fill RAM from the other process so the working-set manager must trim.
read -r base _ <<< "$(awk 'NR == 2 { print $1 }' "$P/vads") x"
mem_write "$P" "$base" if=/dev/zero bs=1M count=14
cmd "$S" 'tick 3' > /dev/null
ws=$(kv "$Q/status" WorkingSetSize)
(( ws >= 200 )) || fail "keeper's working set $ws went below its minimum (200 pages)"
assert_eq "$(rows "$Q/workingset" '$5 == "1" && $6 == "private"')" "16" "locked entries"
(( $(wakeups balance-set-manager) == 3 )) || fail "threads: $(cat "$MMFS/system/threads")"
hard0=$(counter hard_faults)
mem_read "$Q" "$qbase" bs=64K count=1 | cmp - <(head -c 64K qdata) || fail "locked bytes"
assert_eq "$(counter hard_faults)" "$hard0" "locked pages never fault"
mem_read "$Q" "$qbase" bs=64K count=16 | cmp - qdata || fail "keeper's bytes"
verify_ok
