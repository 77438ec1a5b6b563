# tools/pte on x86 (two levels, 32-bit entries): a written page's PDE names its
# page table and its PTE names the page pfn/db maps there; a large page's PDE
# names the page and the walk ends there.
# mmfs-args: --ram 32M
source "$MMFS_LIB"
TOOL=$(dirname "$MMFS_LIB")/../tools/pte
P=$MMFS/processes/app
mkdir "$P"
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 64K reserve,commit readwrite')"
va=$(printf '0x%08x' "$base")
poke "$P" "$va" "x86"
"$TOOL" -m "$MMFS" app "$va" > out
cat out
pfn=$(awk -v va="$va" '$5 == va { print $1 }' "$MMFS/pfn/db")
assert_eq "$(awk 'NR > 2 && NR <= 4 { printf "%s ", $1 }' out)" "PDE PTE " "two levels"
assert_match "$(awk '$1 == "PDE"' out)" "PDE   0x000  0xc0300000 * page table at PFN 0x* (active PageTable)"
assert_match "$(awk '$1 == "PTE"' out)" "PTE   * page at PFN $pfn (active ProcessPrivate)"
assert_file_contains out "^State: valid"
# Past 4 GB there is no such address: one line says so.
expect_error "pte: cannot walk 0x1ffffffff in app: No such file or directory" "$TOOL" -m "$MMFS" app 0x1ffffffff

# A section's page: its PteAddress is the prototype PTE, not this process's PTE.
cmd "$MMFS/sections/control" "create shared 64K" > /dev/null
read -r view _ <<< "$(cmd "$P/control" 'map shared 0 0 0 readwrite')"
poke "$P" "$view" "shared"
"$TOOL" -m "$MMFS" app "$view" > out
assert_match "$(awk '$1 == "PTE"' out)" "PTE   * page at PFN 0x* (active Shareable)"
assert_file_contains out "PteAddress is not this PTE: the page belongs to a prototype PTE"

# A 4 MB large page: the PDE maps it (LargePage set), there is no page table.
read -r big _ <<< "$(cmd "$P/control" 'alloc 0 4M reserve,commit,large-pages readwrite')"
va=$(printf '0x%08x' $(( big + 0x5000 )))
poke "$P" "$va" "large"
"$TOOL" -m "$MMFS" app "$va" > out
cat out
assert_match "$(awk '$1 == "PDE"' out)" "*--LDA--UWEV large page at PFN $(printf '0x%05x' $(( $(kv "$P/pte/$va" Pfn) & ~0x3ff ))) (active LargePage)"
assert_file_contains out "^PTE   \(none: the entry above maps a large page"
assert_file_contains out "^  Pfn: $(kv "$P/pte/$va" Pfn)$"
verify_ok
