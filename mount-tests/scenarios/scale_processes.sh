# The scale loop, smaller (tools/scale.sh times the full one): 200 processes, each
# created, given 1 MB, written and read back from a shell loop, all alive at once;
# listed, counted in usecounts, verify clean; then all terminated, and every page,
# page table and commit charge they took is given back.
# mmfs-args: --ram 512M
source "$MMFS_LIB"
p=$MMFS/processes
N=200
# The first process's kernel stack makes the System process's page table for the
# system PTEs, which stays: one made and gone first.
mkdir "$p/warm" && rmdir "$p/warm"
# usecounts' total column (use name, pages), which must come back.
totals() { awk 'NR > 1 { print $1, $2 }' "$MMFS/system/usecounts"; }
before_totals=$(totals)
before_commit=$(meminfo CommitCharge)
before_avail=$(meminfo AvailablePages)
head -c 1M /dev/urandom > data

for ((i = 1; i <= N; i++)); do
    mkdir "$p/s$i"
    read -r base _ <<< "$(cmd "$p/s$i/control" 'alloc 0 1M reserve,commit readwrite')"
    mem_write "$p/s$i" "$base" if=data bs=64K
    mem_read "$p/s$i" "$base" bs=64K count=16 | cmp -s - data || fail "s$i read back wrong"
done

assert_eq "$(ls "$p" | grep -c '^s[0-9]')" "$N" "processes listed"
assert_eq "$(ls "$MMFS/pids" | grep -vc README)" "$((N + 1))" "pids listed (and System)"
private=$(awk '$1 == "ProcessPrivate" { print $2 }' "$MMFS/system/usecounts")
(( private >= N * 256 )) || fail "usecounts ProcessPrivate $private < $((N * 256))"
assert_eq "$(awk 'NR > 1 && $1 != "Total" { s += $2 } $1 == "Total" { t = $2 } END { print s == t }' \
    "$MMFS/system/usecounts")" "1" "usecounts rows add up to Total"
active=$(meminfo ActivePages)
assert_eq "$(wc -l < "$MMFS/pfn/lists/active")" "$active" "pfn/lists/active has ActivePages rows"
(( $(meminfo CommitCharge) >= before_commit + N * 256 )) || fail "commit not charged"
verify_ok

for ((i = 1; i <= N; i++)); do rmdir "$p/s$i"; done
ls "$p" | grep -q '^s[0-9]' && fail "processes still listed after rmdir"
assert_eq "$(ls "$MMFS/pids" | grep -vc README)" "1" "only System left in pids"
assert_eq "$(totals)" "$before_totals" "usecounts totals back"
assert_eq "$(meminfo CommitCharge)" "$before_commit" "commit charge back"
assert_eq "$(meminfo AvailablePages)" "$before_avail" "available pages back"
verify_ok
