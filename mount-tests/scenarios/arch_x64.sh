# x64: 4-level page tables and the 0x1ED self-map.
# mmfs-args: --arch x64 --ram 32M
source "$MMFS_LIB"
P=$MMFS/processes/app
mkdir "$P"
grep -q '^0xfffff68000000000 ' "$MMFS/system/layout" || fail "no x64 self-map region"
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit,top-down readwrite')"
(( base > 0x10000000000 )) || fail "top-down base $base is low"
roundtrip "$P" "$base" 256K data
pte=$P/pte/$base
assert_eq "$(kv "$pte" PteAddress)" "$(printf '0x%016x' $(( 0xFFFFF68000000000 + (base >> 12) * 8 )))"
assert_eq "$(kv "$pte" PxeAddress)" "$(printf '0x%016x' $(( 0xFFFFF6FB7DBED000 + ((base >> 39) & 511) * 8 )))"
kv "$pte" PpeValue > /dev/null
assert_eq "$(kv "$pte" State)" "valid"
# The address split: four 9-bit indexes and the byte offset.
assert_eq "$(kv "$pte" PxeIndex)" "$(printf '0x%03x' $(( (base >> 39) & 511 )))"
assert_eq "$(kv "$pte" PpeIndex)" "$(printf '0x%03x' $(( (base >> 30) & 511 )))"
assert_eq "$(kv "$pte" PdeIndex)" "$(printf '0x%03x' $(( (base >> 21) & 511 )))"
assert_eq "$(kv "$pte" PteIndex)" "$(printf '0x%03x' $(( (base >> 12) & 511 )))"
assert_eq "$(kv "$pte" ByteOffset)" "0x000"
# WinDbg's letters: readwrite data has NX set, so no E; every table above is UWE.
assert_eq "$(kv "$pte" WinDbgFlags)" "---DA--UW-V"
for level in Pxe Ppe Pde; do
    assert_match "$(kv "$pte" ${level}WinDbgFlags)" "*UWEV"
done
# PML4, hyperspace's PDPT + PD + PT (MmCreateProcessAddressSpace), and a
# PDPT + PD + PT for this process's memory.
assert_eq "$(kv "$P/status" PageTablePages)" "7"
verify_ok
rmdir "$P"
verify_ok
