# Every directory has a README that explains it, and cat/head/wc see it whole.
# files/ is the exception: it shows the host directory as it is (the root README
# describes it).
source "$MMFS_LIB"

count=0
while IFS= read -r -d '' dir; do
    [[ -f "$dir/README" ]] || fail "$dir has no README"
    [[ -n "$(head -c 1 "$dir/README")" ]] || fail "$dir/README reads empty"
    count=$((count + 1))
done < <(find "$MMFS" -path "$MMFS/files" -prune -o -type d -print0)
[[ ! -e "$MMFS/files/README" ]] || fail "files/ shows a README the volume does not have"
(( count >= 5 )) || fail "only $count directories found"

# A process directory made by mkdir has one too.
mkdir "$MMFS/processes/reader"
[[ -n "$(head -c 1 "$MMFS/processes/reader/README")" ]] || fail "process README missing"

# Tools agree on a generated file's content (snapshot + direct I/O).
bytes=$(cat "$MMFS/README" | wc -c)
assert_eq "$(wc -c < "$MMFS/README")" "$bytes" "wc -c"
assert_eq "$(dd if="$MMFS/README" bs=7 status=none | wc -c)" "$bytes" "dd bs=7"
assert_eq "$(head -n 1 "$MMFS/README")" "$(sed -n 1p "$MMFS/README")" "head"
grep -q 'processes/' "$MMFS/README" || fail "root README does not mention processes/"
assert_eq "$(awk 'END { print NR }' "$MMFS/system/README")" "$(wc -l < "$MMFS/system/README")" "awk line count"
