# system/config shows every option; system/layout is the x86 table of the seed slides.
# mmfs-args: --ram 64M --pagefile 16M:32M --pagefile 8M
source "$MMFS_LIB"
c=$MMFS/system/config

assert_eq "$(kv "$c" Ram)" "$((64 << 20))"
assert_eq "$(kv "$c" PhysicalPages)" "16384"
assert_eq "$(kv "$c" Arch)" "x86"
assert_eq "$(kv "$c" ThreeGb)" "off"
assert_eq "$(kv "$c" Clock)" "manual"
assert_eq "$(kv "$c" PagingFiles)" "2"
assert_eq "$(kv "$c" PagingFile0)" "$((16 << 20)):$((32 << 20))"
assert_eq "$(kv "$c" PagingFile1)" "$((8 << 20)):$((8 << 20))"
assert_eq "$(kv "$c" AllowOther)" "off"

l=$MMFS/system/layout
assert_eq "$(head -n 1 "$l")" "# start end region"
# The first 64 KB is never allocatable; user space runs to the 64 KB guard below 2 GB.
grep -qx '0x00000000 0x0000ffff null-guard' "$l" || fail "no null guard"
grep -qx '0x00010000 0x7ffeffff user-space' "$l" || fail "user space is not 0x10000-0x7ffeffff"
grep -qx '0x7fff0000 0x7fffffff user-guard' "$l" || fail "no 64 KB guard below 2 GB"
grep -q '^0xc0000000 ' "$l" || fail "no self-map region at 0xC0000000"
grep -q '^0xe1000000 ' "$l" || fail "no paged pool at 0xE1000000"
grep -q '^0x80000000 ' "$l" || fail "no system space at 0x80000000"
# Regions are sorted and do not overlap.
prev=-1
while read -r start end name; do
    (( start > prev && end >= start )) || fail "layout region $name at $start overlaps or is out of order"
    prev=$((end))
done < <(grep -v '^#' "$l")
