# mmfs-args: --allow-other
# SPEC §9 with --allow-other: a process belongs to its creator; others read its
# status, vads and maps only; root may do anything; locking memory, AWE and
# large pages need SeLockMemoryPrivilege, which only root holds; the
# machine-wide control files are root's.
source "$MMFS_LIB"
test_user mmfsacc1
U=$TU_NAME
p=$MMFS/processes
denied="Permission denied"

# processes/ is sticky and open to all; everything else is root's.
assert_eq "$(stat -c '%a %U' "$p")" "1777 root" "processes/"
assert_eq "$(stat -c '%a %U' "$p/System/mem")" "600 root" "System's mem"

# A process of root's, and one of the user's.
mkdir "$p/rootapp"
cmd "$p/rootapp/control" 'alloc 0x10000 64K reserve,commit readwrite' > /dev/null
echo rootdata | mem_write "$p/rootapp" 0x10000 bs=9
as_user mkdir "$p/uapp"
assert_eq "$(stat -c '%U:%G %a' "$p/uapp")" "$U:$U 555" "uapp's directory"
for f in status vads maps; do
    assert_eq "$(stat -c '%U %a' "$p/uapp/$f")" "$U 444" "uapp/$f"
done
for f in mem control; do
    assert_eq "$(stat -c '%U %a' "$p/uapp/$f")" "$U 600" "uapp/$f"
done
for f in ptes workingset clones; do
    assert_eq "$(stat -c '%U %a' "$p/uapp/$f")" "$U 400" "uapp/$f"
done
assert_eq "$(stat -c '%U %a' "$p/uapp/pte")" "$U 500" "uapp/pte/"
assert_eq "$(stat -c %U "$p/rootapp/mem")" "root" "rootapp/mem"

# Others read status, vads and maps, and list the directory.
as_user cat "$p/rootapp/status" | grep -q '^Name: *rootapp' || fail "user cannot read rootapp/status"
as_user cat "$p/rootapp/vads" | grep -q '0x00010000' || fail "user cannot read rootapp/vads"
as_user cat "$p/rootapp/maps" | grep -q '^00010000-' || fail "user cannot read rootapp/maps"
as_user ls "$p/rootapp" | grep -qx mem || fail "user cannot list rootapp"
as_user cat "$MMFS/pids/$(kv "$p/rootapp/status" Pid)/status" > /dev/null

# ... but nothing else of it: EACCES, and nothing changes.
vads_before=$(cat "$p/rootapp/vads")
for f in mem ptes workingset clones control; do
    expect_error "$denied" as_user cat "$p/rootapp/$f"
done
expect_error "$denied" as_user dd if="$p/rootapp/mem" bs=9 count=1 skip=$((0x10000)) iflag=skip_bytes status=none
expect_error "$denied" as_user_sh 'echo trim > "$1"' "$p/rootapp/control"
expect_error "$denied" as_user_sh 'echo "alloc 0 64K reserve readwrite" > "$1"' "$p/rootapp/control"
expect_error "$denied" as_user_sh 'echo x | dd of="$1" bs=2 seek=$((0x10000)) oflag=seek_bytes status=none' "$p/rootapp/mem"
expect_error "$denied" as_user cat "$p/rootapp/pte/0x10000"
# processes/ is sticky: another's process is not removed (EPERM, as in /tmp).
expect_error "Operation not permitted" as_user rmdir "$p/rootapp"
expect_error "Operation not permitted" as_user rmdir "$p/System"
assert_eq "$(cat "$p/rootapp/vads")" "$vads_before" "rootapp's vads after the refusals"
assert_eq "$(mem_read "$p/rootapp" 0x10000 bs=8 count=1)" "rootdata" "rootapp's memory"

# The owner does everything with their own process.
as_user_sh 'echo "alloc 0x10000 64K reserve,commit readwrite" > "$1"' "$p/uapp/control"
assert_eq "$(as_user cat "$p/uapp/control")" "ok 0x10000 0x10000" "uapp's alloc"
as_user_sh 'echo userdata | dd of="$1" bs=9 seek=$((0x10000)) oflag=seek_bytes status=none' "$p/uapp/mem"
assert_eq "$(as_user dd if="$p/uapp/mem" bs=8 count=1 skip=$((0x10000)) iflag=skip_bytes status=none)" \
    "userdata" "uapp's memory read back by its owner"
as_user cat "$p/uapp/ptes" | grep -q '^0x00010000 .* valid' || fail "owner cannot read ptes"
(( $(as_user cat "$p/uapp/workingset" | awk 'NR > 1' | wc -l) > 0 )) || fail "owner's workingset is empty"
as_user cat "$p/uapp/pte/0x10000" | grep -q '^State: *valid' || fail "owner cannot read pte/"
as_user_sh 'echo "protect 0x10000 4K readonly" > "$1"' "$p/uapp/control"
# A fork's child runs as its parent's user.
as_user_sh 'echo "fork uchild" > "$1"' "$p/uapp/control"
assert_eq "$(stat -c %U "$p/uchild/mem")" "$U" "the fork child's owner"

# Locking memory, large pages and AWE need SeLockMemoryPrivilege: EPERM, the
# control file's sentence names it, nothing changes.
vads_before=$(cat "$p/uapp/vads")
privileged() {
    expect_error "Operation not permitted" as_user_sh 'echo "$2" > "$1"' "$p/uapp/control" "$1"
    local out
    out=$(as_user cat "$p/uapp/control")
    [[ "$out" == "error STATUS_PRIVILEGE_NOT_HELD: $2 needs SeLockMemoryPrivilege"* ]] \
        || fail "'$1' as $U: $out"
}
privileged 'lock 0x10000 4K' lock
privileged 'unlock 0x10000 4K' unlock
privileged 'alloc 0 4M reserve,commit,large-pages readwrite' alloc
privileged 'awe-alloc 4' awe-alloc
assert_eq "$(cat "$p/uapp/vads")" "$vads_before" "uapp's vads after the refused commands"
assert_eq "$(kv "$p/uapp/status" LockedPages)" "0" "LockedPages after the refused lock"

# Root may do anything: read and lock in the user's process.
assert_eq "$(mem_read "$p/uapp" 0x10000 bs=8 count=1)" "userdata" "root reads uapp's memory"
cmd "$p/uapp/control" 'lock 0x10000 4K' > /dev/null
assert_eq "$(kv "$p/uapp/status" LockedPages)" "1" "LockedPages after root's lock"
cmd "$p/uapp/control" 'unlock 0x10000 4K' > /dev/null

# The machine-wide control files are root's; their views are everyone's.
for c in system/control pagefiles/control sections/control cache/control pool/control kernel/mdls/control; do
    assert_eq "$(stat -c '%U %a' "$MMFS/$c")" "root 644" "$c"
    expect_error "$denied" as_user_sh 'echo help > "$1"' "$MMFS/$c"
done
as_user cat "$MMFS/system/meminfo" | grep -q '^PhysicalPages:' || fail "user cannot read meminfo"
as_user cat "$MMFS/pfn/db" > /dev/null
expect_error "$denied" as_user cat "$MMFS/kernel/mem"
# A section root made: the user maps it into their process, but cannot remove it.
cmd "$MMFS/sections/control" 'create shm 64K' > /dev/null
as_user_sh 'echo "map shm 0 0 0 readwrite" > "$1"' "$p/uapp/control"
expect_error "$denied" as_user rmdir "$MMFS/sections/shm"

# The owner ends their own processes.
as_user rmdir "$p/uchild"
as_user rmdir "$p/uapp"
[[ ! -e "$p/uapp" ]] || fail "uapp still exists"
rmdir "$p/rootapp" "$MMFS/sections/shm"
verify_ok
