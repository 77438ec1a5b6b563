# trim -> modified grows -> run modified-page-writer -> standby grows -> touch ->
# transition faults and no hard fault; empty-standby -> touch -> hard faults;
# verify after every step.
# mmfs-args: --ram 32M
source "$MMFS_LIB"
P=$MMFS/processes/app
S=$MMFS/system/control
mkdir "$P"
read -r base size <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit readwrite')"
head -c 1M /dev/urandom > data
mem_write "$P" "$base" if=data bs=64K

mod0=$(meminfo ModifiedPages)
assert_eq "$(cmd "$P/control" trim)" "256"
assert_eq "$(meminfo ModifiedPages)" "$((mod0 + 256))" "modified list after trim"
assert_eq "$(wc -l < "$MMFS/pfn/lists/modified")" "$(meminfo ModifiedPages)"
(( $(rows "$P/ptes" '$3 == "transition"') == 256 )) || fail "transition PTEs"
verify_ok

sb0=$(meminfo StandbyPages)
out=$(cmd "$S" 'run modified-page-writer')
written=${out#pages=}
(( written >= 241 )) || fail "writer wrote $written"
(( $(meminfo ModifiedPages) < 16 )) || fail "writer left $(meminfo ModifiedPages)"
assert_eq "$(meminfo StandbyPages)" "$((sb0 + written))" "standby after the writer"
assert_eq "$(counter pages_written_to_pagefile)" "$written"
grep -q '^modified-page-writer .* waiting ' "$MMFS/system/threads" || fail "threads: $(cat "$MMFS/system/threads")"
(( $(wakeups modified-page-writer) == 1 )) || fail "wakeups"
verify_ok

hard0=$(counter hard_faults)
soft0=$(counter transition_faults)
mem_read "$P" "$base" bs=64K count=16 > back
cmp data back || fail "bytes differ after soft faults"
assert_eq "$(counter hard_faults)" "$hard0" "no hard fault from standby/modified"
assert_eq "$(counter transition_faults)" "$((soft0 + 256))" "transition faults"
verify_ok

# Out to the paging file for good: every page is now read from disk.
cmd "$P/control" trim > /dev/null
cmd "$S" flush-modified > /dev/null
assert_eq "$(meminfo ModifiedPages)" "0"
out=$(cmd "$S" empty-standby)
(( ${out#pages=} >= 256 )) || fail "empty-standby: $out"
assert_eq "$(meminfo StandbyPages)" "0"
assert_eq "$(rows "$P/ptes" '$3 == "pagefile"')" "256" "pagefile PTEs"
verify_ok
mem_read "$P" "$base" bs=64K count=16 > back
cmp data back || fail "bytes differ after hard faults"
hard=$(( $(counter hard_faults) - hard0 ))
(( hard == 64 )) || fail "$hard hard faults for 256 pages read in clusters of 4"
assert_eq "$(counter pages_read_from_pagefile)" "256"
verify_ok

# empty-working-sets, and outswap/inswap.
cmd "$S" empty-working-sets > /dev/null
assert_eq "$(rows "$P/workingset" '$6 == "private"')" "0" "private pages after empty-working-sets"
cmd "$P/control" outswap > /dev/null
assert_eq "$(kv "$P/status" State)" "outswapped"
head -c 4096 < <(mem_read "$P" "$base" bs=4K count=1) > /dev/null
assert_eq "$(kv "$P/status" State)" "running"
(( $(counter inswaps) == 1 && $(counter outswaps) == 1 )) || fail "swap counters"
verify_ok

# Injected paging I/O failures: a failed write leaves the pages modified; a failed
# read is EIO with STATUS_IN_PAGE_ERROR, and the next touch reads the bytes.
mem_write "$P" "$base" if=data bs=64K
cmd "$P/control" trim > /dev/null
cmd "$S" 'inject pagefile-write eio 1' > /dev/null
mod=$(meminfo ModifiedPages)
(( mod > 0 )) || fail "nothing modified to write"
assert_eq "$(cmd "$S" flush-modified)" "pages=0" "the failed write"
assert_eq "$(meminfo ModifiedPages)" "$mod" "pages still modified after the failed write"
verify_ok
cmd "$S" flush-modified > /dev/null
assert_eq "$(meminfo ModifiedPages)" "0" "the retry after the failed write"
cmd "$S" empty-standby > /dev/null
cmd "$S" 'inject pagefile-read eio 1' > /dev/null
expect_error "Input/output error" mem_read "$P" "$base" of=/dev/null bs=4K count=1
assert_match "$(kv "$P/status" LastException)" "STATUS_IN_PAGE_ERROR read *"
mem_read "$P" "$base" bs=64K count=16 | cmp - data || fail "bytes after the failed read"
verify_ok
