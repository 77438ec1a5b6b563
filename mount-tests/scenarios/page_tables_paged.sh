# A user page table pages out: its pages trimmed, written and reused, then
# empty-working-sets takes the table (it maps nothing valid or in transition);
# pte/<VA> says the table is on a list, then (flush-modified, empty-standby)
# in the paging file, and shows the PTE it holds; reading the memory brings
# the table back by a hard fault and every byte with it. verify after each step.
# mmfs-args: --ram 32M
source "$MMFS_LIB"
P=$MMFS/processes/app
S=$MMFS/system/control
mkdir "$P"
read -r base _ <<< "$(cmd "$P/control" 'alloc 0x10000000 64K reserve,commit readwrite')"
head -c 64K /dev/urandom > data
mem_write "$P" "$base" if=data bs=64K
pte=$P/pte/$(hexadd "$base" 0x1000)

# The pages leave first: while any is valid or in transition the table stays.
cmd "$P/control" trim > /dev/null
cmd "$S" flush-modified > /dev/null
cmd "$S" empty-standby > /dev/null
assert_eq "$(kv "$pte" State)" "pagefile"
grep -q '^PageTable:' "$pte" && fail "the table left too early: $(cat "$pte")"
verify_ok

t0=$(counter page_tables_trimmed)
cmd "$S" empty-working-sets > /dev/null
(( $(counter page_tables_trimmed) > t0 )) || fail "no page table was trimmed"
grep -q '^PageTable: paged out: its frame .* is on a list' "$pte" || fail "$(cat "$pte")"
assert_eq "$(kv "$pte" State)" "pagefile" "the PTE the paged-out table holds"
verify_ok

cmd "$S" flush-modified > /dev/null
cmd "$S" empty-standby > /dev/null
grep -q '^PageTable: paged out: in paging file 0' "$pte" || fail "$(cat "$pte")"
assert_eq "$(kv "$pte" State)" "pagefile"
kv "$pte" PagingFileOffset > /dev/null
verify_ok

f0=$(counter page_table_faults)
h0=$(counter hard_faults)
mem_read "$P" "$base" bs=64K count=1 > back
cmp data back || fail "bytes differ after the table came back"
assert_eq "$(counter page_table_faults)" "$((f0 + 1))" "one page-table fault"
(( $(counter hard_faults) >= h0 + 2 )) || fail "the table and the data came by hard faults"
grep -q '^PageTable:' "$pte" && fail "still paged out: $(cat "$pte")"
assert_eq "$(kv "$pte" State)" "valid"
verify_ok

# Released while paged out: nothing stays behind.
cmd "$P/control" trim > /dev/null
cmd "$S" flush-modified > /dev/null
cmd "$S" empty-standby > /dev/null
cmd "$S" empty-working-sets > /dev/null
grep -q '^PageTable: paged out' "$pte" || fail "$(cat "$pte")"
cmd "$P/control" "free $base 0 release" > /dev/null
verify_ok
rmdir "$P"
verify_ok
