# A file-backed section: a view reads the host file's bytes (hard faults from the
# file), writes reach the file only when flushed or written by the mapped page
# writer (five-minute rule on the manual clock), never the paging file;
# modified-no-write pages wait until writing is allowed; extend grows the file.
# mmfs-args: --ram 16M --pagefile 16M
source "$MMFS_LIB"
S=$MMFS/sections
P=$MMFS/processes/app
FILES=$(kv "$MMFS/system/config" Files)

head -c 40000 /dev/urandom > "$FILES/data.bin"
cp "$FILES/data.bin" original
assert_eq "$(cmd "$S/control" 'create data 0 file=data.bin')" "data 0x9c40" "size from the file"
assert_eq "$(kv "$S/data/info" Backing)" "file"
assert_eq "$(awk 'NR > 1 { print $4 }' "$S/data/prototype-ptes" | sort -u)" "mapped-file" "all subsection PTEs"
assert_eq "$(rows "$S/data/prototype-ptes")" "10" "one prototype PTE per page"

mkdir "$P"
read -r base size <<< "$(cmd "$P/control" 'map data 0 0 0 readwrite')"
hard0=$(counter hard_faults)
mem_read "$P" "$base" of=seen bs=40000 count=1
cmp seen original || fail "the view does not show the file's bytes"
# A mapped file's hard fault reads a cluster of 4 pages (MmDataClusterSize):
# 10 pages take 3 faults, the other 7 pages come back from standby.
assert_eq "$(( $(counter hard_faults) - hard0 ))" "3" "one hard fault per cluster of 4 pages"
assert_eq "$(awk 'NR > 1 { print $4 }' "$S/data/prototype-ptes" | sort -u)" "valid"
verify_ok

# Writes stay in memory until flushed.
poke "$P" $((base + 8192 + 100)) PATCHED
cmp -s "$FILES/data.bin" original || fail "the file changed before any flush"
read -r _ _ written <<< "$(cmd "$P/control" "flush $base 0")"
assert_eq "$written" "1" "flush writes the one dirty page"
assert_eq "$(dd if="$FILES/data.bin" bs=1 skip=$((8192 + 100)) count=7 status=none)" "PATCHED" "flushed bytes in the file"
assert_eq "$(stat -c %s "$FILES/data.bin")" "40000" "the file keeps its size"
assert_eq "$(counter pages_written_to_mapped_files)" "1"
assert_eq "$(counter pages_written_to_pagefile)" "0" "nothing went to the paging file"
verify_ok

# A dirty page trimmed to the modified list goes to the file by the mapped page
# writer after five minutes of simulated time, not before.
poke "$P" $((base + 4096)) LATER
cmd "$P/control" trim > /dev/null
pfn=$(proto_pte data 1 pfn)
assert_eq "$(proto_pte data 1 state)" "transition"
on_list "$pfn" modified || fail "page 1 is not on the modified list"
cmd "$MMFS/system/control" flush-modified > /dev/null
on_list "$pfn" modified || fail "flush-modified (paging file) took a mapped page"
cmd "$MMFS/system/control" 'tick 240' > /dev/null
assert_eq "$(dd if="$FILES/data.bin" bs=1 skip=4096 count=5 status=none)" "$(dd if=original bs=1 skip=4096 count=5 status=none)" "written too early"
cmd "$MMFS/system/control" 'tick 70' > /dev/null
assert_eq "$(dd if="$FILES/data.bin" bs=1 skip=4096 count=5 status=none)" "LATER" "the five-minute rule wrote it"
on_list "$pfn" standby || fail "a written page goes to standby"
(( $(wakeups mapped-page-writer) >= 1 )) || fail "mapped-page-writer did not run"
verify_ok

# Modified-no-write: the page waits on its own list until writing is allowed.
cmd "$S/data/control" no-write > /dev/null
poke "$P" $((base + 12288)) HELD
cmd "$P/control" trim > /dev/null
assert_eq "$(proto_pte data 3 state)" "modified-no-write"
pfn=$(proto_pte data 3 pfn)
on_list "$pfn" modified-no-write || fail "not on the modified-no-write list"
cmd "$MMFS/system/control" 'run mapped-page-writer' > /dev/null
cmd "$MMFS/system/control" 'tick 400' > /dev/null
[[ "$(dd if="$FILES/data.bin" bs=1 skip=12288 count=4 status=none)" != HELD ]] || fail "a no-write page was written"
verify_ok
assert_eq "$(cmd "$S/data/control" allow-write)" "1" "one page released"
cmd "$MMFS/system/control" 'run mapped-page-writer' > /dev/null
assert_eq "$(dd if="$FILES/data.bin" bs=1 skip=12288 count=4 status=none)" "HELD"
verify_ok

# extend grows the file and the section; the new page maps and flushes.
cmd "$P/control" "unmap $base" > /dev/null
assert_eq "$(cmd "$S/data/control" 'extend 48K')" "0xc000"
assert_eq "$(stat -c %s "$FILES/data.bin")" "49152" "the file grew"
assert_eq "$(kv "$S/data/info" NumberOfSubsections)" "2"
read -r base _ <<< "$(cmd "$P/control" 'map data 0 0 0 readwrite')"
poke "$P" $((base + 45056)) TAIL
cmd "$P/control" "flush $base 0" > /dev/null
assert_eq "$(dd if="$FILES/data.bin" bs=1 skip=45056 count=4 status=none)" "TAIL"
cmd "$P/control" "unmap $base" > /dev/null
rmdir "$S/data"
verify_ok
