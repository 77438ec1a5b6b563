# kernel/mem: system space as a file, read and written through the System
# process's page tables: the self-map shows its page directory, the system
# cache's views show a file's bytes, and what nothing maps is EFAULT.
# mmfs-args: --ram 64M
source "$MMFS_LIB"
K=$MMFS/kernel
listed "$MMFS" kernel || fail "kernel/ is not listed"
listed "$K" mem || fail "kernel/mem is not listed"
assert_eq "$(stat -c %s "$K/mem")" "4294967296" "kernel/mem spans the 32-bit space"

# The self-map (x86): PDE 0x300 of the page directory, at 0xC0300C00, maps the
# page directory itself, so its frame is the DirectoryTableBase of System.
pde=$(mem_read "$K" $((0xC0300C00)) bs=4 count=1 | od -An -tx4 | tr -d ' ')
dtb=$(kv "$MMFS/processes/System/status" DirectoryTableBase)
assert_eq "$(printf '0x%08x' $(( 0x$pde >> 12 << 12 )))" "$(printf '0x%08x' $(( dtb << 12 )))" \
    "the self-map entry points at the page directory"
(( 0x$pde & 1 )) || fail "the self-map PDE is not valid"

# A file written through files/ is in a system cache view; kernel/mem shows it.
head -c 262144 /dev/urandom > kdata
cp kdata "$MMFS/files/data"
base=$(awk 'NR > 1 && $3 == "data" && $4 == "0x0" { print $2 }' "$MMFS/cache/views")
[[ -n "$base" ]] || fail "no view of data in cache/views: $(cat "$MMFS/cache/views")"
mem_read "$K" "$base" bs=64K count=4 | cmp - kdata \
    || fail "kernel/mem at the view $base does not hold the file's bytes"
# A write there is a write to the file's cached page.
printf 'KERNEL' | mem_write "$K" "$base" bs=4096 conv=notrunc
assert_eq "$(head -c 6 "$MMFS/files/data")" "KERNEL" "a write through the view reaches the file"

# The paged pool's first page holds the cached file's prototype PTEs (a System
# page, readable); nothing maps a page 1 MB further in: EFAULT. The page tables
# are read-only.
pool=$(awk '$3 == "paged-pool" { print $1 }' "$MMFS/system/layout")
dd if="$K/mem" skip=$((pool)) iflag=skip_bytes bs=4096 count=1 status=none of=/dev/null \
    || fail "the prototype PTEs' page of paged pool is not readable"
expect_error "Bad address" dd if="$K/mem" skip=$((pool + 0x100000)) iflag=skip_bytes bs=4096 count=1 status=none of=/dev/null
expect_error "Permission denied" bash -c "printf x | dd of='$K/mem' seek=$((0xC0000000)) oflag=seek_bytes conv=notrunc status=none"
# User space has nothing in the System process.
expect_error "Bad address" dd if="$K/mem" skip=$((0x10000)) iflag=skip_bytes bs=4096 count=1 status=none of=/dev/null
verify_ok

# System space is shared: a pool page resolves the same way from every
# process. A process made before the page's table has an empty copy of the
# PDE (the first touch would copy it, as MiCheckPdeForPagedPool); one made
# after has the System process's PDE itself.
mkdir "$MMFS/processes/early"
a=$(cmd "$MMFS/pool/control" "alloc paged 64 Shrd")
mkdir "$MMFS/processes/late"
sys=$MMFS/processes/System/pte/$a
for p in early late; do
    pte=$MMFS/processes/$p/pte/$a
    assert_eq "$(kv "$pte" PdeValue)" "$(kv "$sys" PdeValue)" "$p: the same page table"
    assert_eq "$(kv "$pte" PteValue)" "$(kv "$sys" PteValue)" "$p: the same PTE"
    assert_eq "$(kv "$pte" Pfn)" "$(kv "$sys" Pfn)" "$p: the same frame"
    assert_eq "$(kv "$pte" Protection)" "readwrite" "$p: the page's protection"
done
assert_match "$(kv "$sys" SharedSystemEntry)" "owner*"
assert_match "$(kv "$MMFS/processes/early/pte/$a" SharedSystemEntry)" "not copied yet*"
assert_match "$(kv "$MMFS/processes/late/pte/$a" SharedSystemEntry)" "copied from the System process*"
# A system page is kernel-mode: WinDbg's K, not U.
assert_match "$(kv "$sys" WinDbgFlags)" "*KWEV" "pool pages are not user-accessible"
# Hyperspace is each process's own: no shared entry there.
grep -q SharedSystemEntry "$MMFS/processes/late/pte/0xc0400000" && fail "hyperspace is not shared"
verify_ok
