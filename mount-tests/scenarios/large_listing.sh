# A large generated file read in 4 KiB chunks equals the same file read in one go,
# and every tool agrees on it.
source "$MMFS_LIB"
db=$MMFS/pfn/db
cat "$db" > whole
dd if="$db" bs=4096 status=none > chunks
cmp whole chunks || fail "pfn/db in 4 KiB chunks differs from one read"
assert_eq "$(rows whole)" "$(meminfo PhysicalPages)" "one row per physical page"
(( $(wc -c < whole) > 4000000 )) || fail "pfn/db is only $(wc -c < whole) bytes"
# Fixed-width rows.
assert_eq "$(row_widths whole)" "1" "row widths"
assert_eq "$(head -c 100000 "$db" | wc -c)" "100000" "head -c"
assert_eq "$(grep -c ' zeroed ' "$db")" "$(meminfo ZeroedPages)" "grep count"
# Lists agree with meminfo.
assert_eq "$(wc -l < "$MMFS/pfn/lists/zeroed")" "$(meminfo ZeroedPages)"
# A big ptes listing too.
mkdir "$MMFS/processes/big"
cmd "$MMFS/processes/big/control" 'alloc 0 64M reserve,commit readwrite' > /dev/null
head -c 8M /dev/zero | mem_write "$MMFS/processes/big" 0x10000 bs=1M
p=$MMFS/processes/big/ptes
cat "$p" > pw
dd if="$p" bs=4096 status=none | cmp - pw || fail "ptes in chunks differs"
# The 8 MB written from 0x10000 needs three page tables (4 MB each on x86); every
# PTE of the VAD in them is listed: 1008 + 1024 + 1024.
assert_eq "$(rows pw)" "3056" "ptes rows"
assert_eq "$(rows pw '$3 == "valid"')" "2048"
verify_ok
