# tools/vmmap after a known sequence: a committed 1 MB allocation with 10 pages
# written and 2 locked, a 1 MB reservation, a paging-file-backed section and a
# file-backed one mapped: each region's type, size, committed, working set and
# locked KB, the summary's per-type sums, Free, lookup by pid, errors.
# mmfs-args: --ram 16M
source "$MMFS_LIB"
TOOL=$(dirname "$MMFS_LIB")/../tools/vmmap
P=$MMFS/processes/app
mkdir "$P"

"$TOOL" --help > help || fail "--help exits non-zero"
grep -q '^vmmap \[-m DIR\] PROCESS' help || fail "vmmap --help"
expect_error "give one PROCESS" "$TOOL" -m "$MMFS"
expect_error "no process 'nope'" "$TOOL" -m "$MMFS" nope

read -r data _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit readwrite')"
read -r resv _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve readonly')"
mem_write "$P" "$data" if=/dev/zero bs=4K count=10 conv=notrunc
cmd "$P/control" "lock $data 8K" > /dev/null
cmd "$MMFS/sections/control" "create shared 256K" > /dev/null
read -r view _ <<< "$(cmd "$P/control" 'map shared 0 0 0 readwrite')"
head -c 100K /dev/urandom > "$MMFS/files/data.bin"
cmd "$MMFS/sections/control" "create fsec 0 file=data.bin" > /dev/null
read -r fview _ <<< "$(cmd "$P/control" 'map fsec 0 0 0 readonly')"
mem_read "$P" "$fview" bs=4K count=3 > /dev/null
"$TOOL" -m "$MMFS" app > out
cat out

# Detail rows: address type size committed private ws private_ws locked protection details.
region() { awk -v a="$(printf '0x%08x' "$1")" '$1 == a { $NF = $NF; print }' out; }
assert_eq "$(region "$data")" "$(printf 0x%08x "$data") Private Data 1024 1024 1024 40 40 8 readwrite" "the data region"
assert_eq "$(region "$resv")" "$(printf 0x%08x "$resv") Private Data 1024 0 0 0 0 0 readonly" "the reservation"
assert_eq "$(region "$view")" "$(printf 0x%08x "$view") Shareable 256 256 0 0 0 0 readwrite section shared" "the view"
assert_eq "$(region "$fview")" "$(printf 0x%08x "$fview") Mapped File 100 100 0 12 0 0 readonly section fsec file data.bin" \
    "the file view"

# Summary rows: type size committed private ws private_ws shareable_ws locked blocks.
summary() { awk -v t="$1" '{ $NF = $NF } index($0, t " ") == 1 { sub(t " ", ""); print; exit }' out; }
assert_eq "$(summary 'Private Data')" "2048 1024 1024 40 40 0 8 2"
assert_eq "$(summary Shareable)" "256 256 0 0 0 0 0 1"
assert_eq "$(summary 'Mapped File')" "100 100 0 12 0 12 0 1"
assert_eq "$(summary Image)" "0 0 0 0 0 0 0 0"
pt=$(( $(kv "$P/status" PageTablePages) * 4 ))
read -r pt_size pt_commit _ <<< "$(summary 'Page Table')"
assert_eq "$pt_size $pt_commit" "$pt $pt"
read -r total_size _ <<< "$(summary Total)"
assert_eq "$total_size" "$(( 2048 + 256 + 100 + pt ))"
# Free: x86's 2 GB user space (0x10000-0x7ffeffff) less the VADs.
read -r free _ <<< "$(summary Free)"
assert_eq "$free" "$(( (0x7ffeffff - 0x10000 + 1) / 1024 - 2048 - 256 - 100 ))"
# The working-set column adds up to the process's working set, less its
# hyperspace pages (kind system), which VMMap does not show.
read -r _ _ _ ws _ <<< "$(summary Total)"
system=$(rows "$P/workingset" '$6 == "system"')
assert_eq "$ws" "$(( ($(kv "$P/status" WorkingSetSize) - system) * 4 ))" "working set"

# A copy-on-write view: the page written is copied, private to the process;
# the page only read is the section's, shareable.
read -r cow _ <<< "$(cmd "$P/control" 'map shared 0 0 0 writecopy')"
poke "$P" "$cow" "mine"
mem_read "$P" "$(hexadd "$cow" 0x1000)" bs=4K count=1 > /dev/null
"$TOOL" -m "$MMFS" app > out
assert_eq "$(region "$cow")" "$(printf 0x%08x "$cow") Shareable 256 256 4 8 4 0 writecopy section shared" "the copy-on-write view"
assert_eq "$(summary Shareable)" "512 512 4 8 4 4 0 2"

# By pid, the same table.
"$TOOL" -m "$MMFS" "$(kv "$P/status" Pid)" > out2
cmp out out2 || fail "vmmap by pid differs"

# The System process: the cache manager's view of data.bin (read through files/
# above) is a Mapped File in system space, which is not taken from Free.
"$TOOL" -m "$MMFS" System > out3 2> err3
cat out3 err3
assert_eq "$(cat err3)" "" "vmmap System: stderr"
blocks=$(awk '$1 == "Mapped" && $2 == "File" { print $NF }' out3)
(( blocks >= 1 )) || fail "System has no Mapped File view"
awk '/section data.bin file data.bin$/ { found = 1 } END { exit !found }' out3 || fail "no view of data.bin"
read -r free _ <<< "$(awk '$1 == "Free" { print $2 }' out3)"
assert_eq "$free" "$(( (0x7ffeffff - 0x10000 + 1) / 1024 ))" "System's Free"
verify_ok
