# PAE: 8-byte PTEs, 3 levels, the self-map at 0xC0000000 with 8-byte entries; /3GB.
# mmfs-args: --arch pae --3gb --ram 32M
source "$MMFS_LIB"
P=$MMFS/processes/app
mkdir "$P"
grep -q '^0x00010000 0xbffeffff user-space$' "$MMFS/system/layout" || fail "/3GB user space"
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit,top-down readwrite')"
(( base > 0x80000000 )) || fail "with /3GB top-down should land above 2 GB, got $base"
roundtrip "$P" "$base" 128K data
pte=$P/pte/$base
assert_eq "$(kv "$pte" PteAddress)" "$(printf '0x%08x' $(( 0xC0000000 + (base >> 12) * 8 )))"
assert_eq "$(kv "$pte" PdeAddress)" "$(printf '0x%08x' $(( 0xC0600000 + (base >> 21) * 8 )))"
# 8-byte PTE with NoExecute (bit 63) set: readwrite is not executable.
assert_match "$(kv "$pte" PteValue)" "0x8000000000*"
assert_eq "$(kv "$pte" WinDbgFlags)" "---DA--UW-V"
cmd "$P/control" "protect $base 4K execute-readwrite" > /dev/null
assert_match "$(kv "$pte" PteValue)" "0x0000000000*"
assert_eq "$(kv "$pte" WinDbgFlags)" "---DA--UWEV"
# Three levels: the PDPT entry has no self-map address, and says why.
assert_eq "$(kv "$pte" PpeAddress)" "none"
assert_match "$(kv "$pte" PpeAddressExplanation)" "*page directory pointer table*not a page of the self-map*"
assert_eq "$(kv "$pte" PpeIndex)" "$(printf '0x%03x' $(( base >> 30 )))"
assert_eq "$(kv "$pte" PdeIndex)" "$(printf '0x%03x' $(( (base >> 21) & 511 )))"
assert_eq "$(kv "$pte" PteIndex)" "$(printf '0x%03x' $(( (base >> 12) & 511 )))"
verify_ok
