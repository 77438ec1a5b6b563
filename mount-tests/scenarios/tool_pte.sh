# tools/pte on x64 after a known sequence: a written page's walk shows four
# levels, each naming an active page table, and the PTE naming the page that
# pfn/db maps at that address; trimmed, the PTE is in transition and names the
# same page on the modified list; an address with no page table stops the walk.
# mmfs-args: --arch x64 --ram 16M
source "$MMFS_LIB"
TOOL=$(dirname "$MMFS_LIB")/../tools/pte
P=$MMFS/processes/app
mkdir "$P"

"$TOOL" --help > help || fail "--help exits non-zero"
grep -q '^pte \[-m DIR\] PROCESS VA' help || fail "pte --help"
expect_error "give PROCESS and VA" "$TOOL" -m "$MMFS" app
expect_error "VA must be 0x hex or decimal" "$TOOL" -m "$MMFS" app ../status
expect_error "no process 'nope'" "$TOOL" -m "$MMFS" nope 0x10000

read -r base _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit readwrite')"
va=$(printf '0x%016x' $(( base + 0x3000 )))
poke "$P" "$va" "walk me"
"$TOOL" -m "$MMFS" app "$va" > out
cat out

# The page, as pfn/db and the ptes table have it.
pfn=$(awk -v va="$va" '$5 == va { print $1 }' "$MMFS/pfn/db")
[[ -n "$pfn" ]] || fail "pfn/db maps no page at $va"
assert_eq "$(awk -v va="$va" '$1 == va { print $4 }' "$P/ptes")" "$(printf '0x%08x' "$pfn")" "ptes"
level() { awk -v l="$1" '$1 == l' out; }
assert_eq "$(awk 'NR > 2 && NR <= 6 { printf "%s ", $1 }' out)" "PXE PPE PDE PTE " "four levels"
for l in PXE PPE PDE; do
    assert_match "$(level $l)" "*---DA--UWEV page table at PFN 0x* (active PageTable)" "$l"
done
assert_match "$(level PTE)" "PTE   $(printf 0x%03x $(( (va >> 12) & 0x1ff )))  $(kv "$P/pte/$va" PteAddress) * page at PFN $pfn (active ProcessPrivate)" "PTE"
# Each level's page is the table the next level's entry lies in (the self-map):
# the PDE names the page table whose page holds the PTE.
pde_pfn=$(level PDE | sed 's/.*PFN \(0x[0-9a-f]*\).*/\1/')
pt_va=$(printf '0x%016x' $(( $(kv "$P/pte/$va" PteAddress) & ~0xfff )))
assert_eq "$(awk -v va="$pt_va" '$5 == va && $3 == "PageTable" { print $1 }' "$MMFS/pfn/db")" "$pde_pfn" \
    "the PDE names the page table holding the PTE"
assert_file_contains out "^State: valid   Protection: readwrite"
assert_file_contains out "^  Pfn: $pfn$"
assert_file_contains out "^  VirtualAddress: $va$"
assert_file_contains out "PteAddress is this PTE"
assert_file_contains out "^Physical address: $(printf '0x%08x' $(( pfn << 12 )))$"

# Trimmed: a transition PTE naming the same page, now on the modified list.
cmd "$P/control" trim > /dev/null
"$TOOL" -m "$MMFS" app "$va" > out
assert_match "$(level PTE)" "*page in transition at PFN $pfn (modified ProcessPrivate)" "trimmed PTE"
assert_file_contains out "^State: transition"
assert_file_contains out "^  State: modified$"

# Nothing below the PPE for 1 GB up (each PPE maps 1 GB): the walk stops there.
"$TOOL" -m "$MMFS" "$(kv "$P/status" Pid)" 0x40000000 > out
cat out
assert_match "$(level PPE)" "PPE   0x001 *nothing (zero)" "zero PPE"
assert_file_contains out "^PDE   \(no table"
assert_file_contains out "^State: none"
grep -q '^  Pfn:' out && fail "a page was shown for an address with no page"
verify_ok
