# tools/mmstat against a known sequence (manual clock: only this script moves
# the counters): a quiet interval shows no faults; 100 demand-zero faults, a
# cache read and a round trip through the paging file show in the next
# intervals' rates; the list columns end equal to system/meminfo; a header
# every 20 lines; --help and bad arguments. And every tool passes shellcheck.
# mmfs-args: --ram 16M
source "$MMFS_LIB"
TOOL=$(dirname "$MMFS_LIB")/../tools/mmstat
P=$MMFS/processes/app
mkdir "$P"

"$TOOL" --help > help || fail "--help exits non-zero"
grep -q '^mmstat \[-m DIR\] \[INTERVAL \[COUNT\]\]' help || fail "mmstat --help"
expect_error "INTERVAL must be a positive number" "$TOOL" -m "$MMFS" 0 1
expect_error "COUNT must be a positive whole number" "$TOOL" -m "$MMFS" 1 x
expect_error "not an mmfs mount" "$TOOL" -m . 1 1

# has_lines FILE N: FILE has N lines or more (mmstat has printed them).
has_lines() { [ "$(wc -l < "$1")" -ge "$2" ]; }

read -r base _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit readwrite')"
head -c 8K /dev/urandom > "$MMFS/files/f"

# Three 1-second intervals; the work starts once the first line is out, so the
# first interval is quiet and the work lands in the second or third.
"$TOOL" -m "$MMFS" 1 3 > out &
stat_pid=$!
wait_until 100 has_lines out 2 || fail "no first line: $(cat out)"
mem_write "$P" "$base" if=/dev/zero bs=4K count=100 conv=notrunc
cat "$MMFS/files/f" "$MMFS/files/f" > /dev/null
wait "$stat_pid" || fail "mmstat failed: $(cat out)"
cat out

assert_eq "$(wc -l < out)" "4" "a header and 3 lines"
assert_eq "$(head -1 out | awk '{ print $1, $7, $8, $9, $10, $11, $12, $13 }')" \
    "free dz/s tr/s hard/s pgin/s pgout/s crd/s hit%"
assert_eq "$(awk 'NR == 2 { print $7 + $8 + $9 + $10 + $11 }' out)" "0" "a quiet first interval"
dz=$(awk 'NR > 2 { s += $7 } END { print s }' out)
# 100 faults over intervals of 1 s or more (a loaded machine samples late): at
# most 100 per second, and some.
(( dz > 0 && dz <= 101 )) || fail "100 demand-zero faults in 1 s or more: dz/s $dz"
# The zeroed list gave those 100 pages (and the page table's).
(( $(awk 'NR == 2 { z = $2 } END { print z - $2 }' out) >= 100 )) || fail "zeroed pages taken"
(( $(awk 'NR > 2 { s += $12 } END { print s }' out) > 0 )) || fail "no copy reads"
awk 'NR > 2 && $13 != "-" { found = 1 } END { exit !found }' out || fail "no hit%"
# The list columns are meminfo's at the end of the last interval (nothing moved since).
assert_eq "$(tail -1 out | awk '{ print $1, $2, $3, $4, $5, $6 }')" \
    "$(meminfo FreePages) $(meminfo ZeroedPages) $(meminfo StandbyPages) $(meminfo ModifiedPages) $(meminfo ActivePages) $(meminfo CommitCharge)"

# Out to the paging file and back: trim, write the modified pages, drop standby,
# read them again (hard faults).
"$TOOL" -m "$MMFS" 1 3 > out2 &
stat_pid=$!
wait_until 100 has_lines out2 2 || fail "no first line: $(cat out2)"
cmd "$P/control" trim > /dev/null
cmd "$MMFS/system/control" flush-modified > /dev/null
cmd "$MMFS/system/control" empty-standby > /dev/null
mem_read "$P" "$base" bs=4K count=100 > /dev/null
wait "$stat_pid" || fail "mmstat failed: $(cat out2)"
cat out2
# The work lands in the second or third interval (2 s or more to do it).
later() { awk -v c="$1" 'NR > 2 { s += $c } END { print s }' out2; }
(( $(later 9) > 0 )) || fail "no hard faults"
(( $(later 10) > 0 )) || fail "no pagefile reads"
(( $(later 11) > 0 )) || fail "no pagefile writes"

# A header every 20 lines: 21 lines, 2 headers.
"$TOOL" -m "$MMFS" 0.01 21 > out3
assert_eq "$(grep -c '^ *free' out3)" "2" "headers"
assert_eq "$(wc -l < out3)" "23"

# The tools are the examples of scripts against mmfs: they pass shellcheck.
need shellcheck shellcheck
tools=$(dirname "$TOOL")
shellcheck -x "$tools"/{mmstat,rammap,vmmap,pte} "$tools"/lib/mm.sh || fail "shellcheck"
verify_ok
