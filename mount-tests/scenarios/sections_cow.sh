# Copy-on-write: a write-copy view and a forked child each get private copies
# of the pages they write; the other side keeps the old bytes. Commit is charged
# as NT charges it (a write-copy view for every page, a child for the parent's
# private commit).
# mmfs-args: --ram 32M --pagefile 16M
source "$MMFS_LIB"
S=$MMFS/sections
A=$MMFS/processes/a
B=$MMFS/processes/b

cmd "$S/control" 'create img 64K' > /dev/null
mkdir "$A" "$B"
read -r ba _ <<< "$(cmd "$A/control" 'map img 0 0 0 readwrite')"
poke "$A" "$ba" "shared original"
commit0=$(meminfo CommitCharge)
read -r bb _ <<< "$(cmd "$B/control" 'map img 0 0 0 writecopy')"
(( $(meminfo CommitCharge) >= commit0 + 16 )) || fail "a write-copy view is charged for its 16 pages"
assert_eq "$(peek "$B" "$bb" 15)" "shared original" "b sees the section"
cow0=$(counter copy_on_write_faults)
poke "$B" "$bb" "private copy!!!"
assert_eq "$(peek "$B" "$bb" 15)" "private copy!!!" "b sees its copy"
assert_eq "$(peek "$A" "$ba" 15)" "shared original" "a keeps the section's bytes"
assert_eq "$(( $(counter copy_on_write_faults) - cow0 ))" "1" "one copy-on-write fault"
assert_eq "$(kv "$B/status" CopyOnWriteFaults)" "1"
assert_eq "$(proto_pte img 0 share)" "1" "only a maps the shared page now"
verify_ok
# A later write by a is seen by b on pages b has not copied.
poke "$A" "$(hexadd "$ba" 0x1000)" "a again"
assert_eq "$(peek "$B" "$(hexadd "$bb" 0x1000)" 7)" "a again"
verify_ok

# fork: private memory and views are cloned copy-on-write.
read -r priv _ <<< "$(cmd "$A/control" 'alloc 0 256K reserve,commit readwrite')"
head -c 262144 /dev/urandom > before
mem_write "$A" "$priv" if=before bs=64K
commit1=$(meminfo CommitCharge)
child_pid=$(cmd "$A/control" 'fork child')
C=$MMFS/processes/child
[[ -d $C ]] || fail "the child is not listed"
assert_eq "$(readlink "$MMFS/pids/$child_pid")" "../processes/child"
(( $(meminfo CommitCharge) >= commit1 + 64 )) || fail "the child is charged for the parent's private pages"
verify_ok
mem_read "$C" "$priv" of=child_sees bs=64K count=4
cmp child_sees before || fail "the child does not see the parent's memory"
# The child overwrites all of it; the parent keeps its bytes, and the other way round.
head -c 262144 /dev/urandom > child_wrote
mem_write "$C" "$priv" if=child_wrote bs=64K conv=notrunc
mem_read "$A" "$priv" of=parent_sees bs=64K count=4
cmp parent_sees before || fail "the child's writes reached the parent"
(( $(kv "$C/status" CopyOnWriteFaults) >= 64 )) || fail "the child took a copy-on-write fault per page"
poke "$A" "$priv" "parent after fork"
assert_eq "$(peek "$C" "$priv" 17)" "$(head -c 17 child_wrote)" "the child keeps its own bytes"
# The view is the same section in both: shared, not copied.
poke "$C" "$(hexadd "$ba" 0x2000)" "from the child"
assert_eq "$(peek "$A" "$(hexadd "$ba" 0x2000)" 14)" "from the child"
assert_eq "$(kv "$S/img/info" NumberOfMappedViews)" "3"
verify_ok
# Everything paged out and back: still right.
cmd "$MMFS/system/control" empty-working-sets > /dev/null
cmd "$MMFS/system/control" flush-modified > /dev/null
cmd "$MMFS/system/control" empty-standby > /dev/null
mem_read "$C" "$priv" of=child_again bs=64K count=4
cmp child_again child_wrote || fail "the child's bytes after paging"
assert_eq "$(peek "$A" "$priv" 17)" "parent after fork"
verify_ok
rmdir "$C"
assert_eq "$(kv "$S/img/info" NumberOfMappedViews)" "2"
verify_ok
