# Paged prototype PTEs: the page of paged pool holding a section's prototype
# PTEs is a System page (pte/ of System: valid; pfn/db: PagedPool, pid 4) and
# kernel/mem shows the PTEs prototype-ptes lists. Once every page they name is
# out of memory (empty-working-sets, flush-modified, empty-standby), the next
# empty-working-sets trims the prototype page itself: prototype-ptes shows
# paged-out rows and, once written and its frame reused, System's PTE for it is
# a paging-file PTE. A read through a view hard-faults it back as pid 4, then
# the data page, with the bytes intact. Deleting everything frees every slot.
# verify after each step.
# mmfs-args: --ram 32M --pagefile 16M
source "$MMFS_LIB"
S=$MMFS/sections
A=$MMFS/processes/a
B=$MMFS/processes/b
K=$MMFS/kernel
SYS=$MMFS/processes/System
X=$MMFS/system/control
FILES=$(kv "$MMFS/system/config" Files)

slots() { kv "$MMFS/pagefiles/pagefile.sys/info" UsedPages; }
states() { awk 'NR > 1 { print $4 }' "$S/$1/prototype-ptes" | sort -u | tr '\n' ' '; }
out() {
    cmd "$X" empty-working-sets > /dev/null
    verify_ok
    cmd "$X" flush-modified > /dev/null
    verify_ok
    cmd "$X" empty-standby > /dev/null
    verify_ok
}

slots0=$(slots)
head -c 65536 /dev/urandom > "$FILES/data.bin"
cp "$FILES/data.bin" filedata
head -c 65536 /dev/urandom > shmdata
cmd "$S/control" 'create shm 64K' > /dev/null
cmd "$S/control" 'create data 0 file=data.bin' > /dev/null
mkdir "$A" "$B"
read -r ba _ <<< "$(cmd "$A/control" 'map shm 0 0 0 readwrite')"
read -r bb _ <<< "$(cmd "$B/control" 'map shm 0 0 0 readwrite')"
read -r fa _ <<< "$(cmd "$A/control" 'map data 0 0 0 readwrite')"
read -r fb _ <<< "$(cmd "$B/control" 'map data 0 0 0 readwrite')"
mem_write "$A" "$ba" if=shmdata bs=64K
mem_read "$B" "$bb" bs=64K count=1 | cmp - shmdata || fail "b does not read what a wrote"
mem_read "$A" "$fa" bs=64K count=1 | cmp - filedata || fail "a does not read the file"
verify_ok

# The prototype PTEs' page: a System page of paged pool.
addr=$(proto_pte shm 0 address)
page=$(printf '0x%08x' $(( addr >> 12 << 12 )))
assert_eq "$(kv "$SYS/pte/$page" State)" "valid" "the prototype page is a System page"
pfn=$(kv "$SYS/pte/$page" Pfn)
assert_eq "$(awk -v p="$pfn" '$1 == p { print $3, $4 }' "$MMFS/pfn/db")" "PagedPool 4" "its frame"

# kernel/mem shows the PTEs prototype-ptes lists (x86: 4 bytes each), and
# refuses writes there.
for s in shm data; do
    for i in 0 7 15; do
        a=$(proto_pte $s $i address)
        want=$(proto_pte $s $i pte)
        got=$(mem_read "$K" "$a" bs=4 count=1 | od -An -tx4 | tr -d ' ')
        assert_eq "$(( 0x$got ))" "$(( want ))" "kernel/mem at $s's prototype PTE $i"
    done
done
expect_error "Permission denied" bash -c "printf 'XXXX' | dd of='$K/mem' seek=$((addr)) oflag=seek_bytes bs=4 conv=notrunc status=none"
verify_ok

# The data pages go first; the prototype page stays while any PTE in it is
# valid or in transition.
out
assert_eq "$(states shm)" "pagefile " "shm's pages in the paging file"
assert_eq "$(states data)" "mapped-file " "data's pages back in the file"
assert_eq "$(kv "$SYS/pte/$page" State)" "valid" "the prototype page stays"

# Then the prototype page leaves, is written, and its frame reused.
t0=$(counter pages_trimmed)
out
(( $(counter pages_trimmed) > t0 )) || fail "nothing was trimmed"
assert_eq "$(states shm)" "paged-out " "shm's prototype PTEs are paged out"
assert_eq "$(states data)" "paged-out " "data's prototype PTEs are paged out"
assert_eq "$(kv "$SYS/pte/$page" State)" "pagefile" "the prototype page is in the paging file"
(( $(slots) > slots0 )) || fail "no slot in use"

# A read through b's view: System (pid 4) hard-faults the prototype page in,
# then b hard-faults the data page.
sys0=$(kv "$SYS/status" HardFaults)
b0=$(kv "$B/status" HardFaults)
mem_read "$B" "$bb" bs=64K count=1 | cmp - shmdata || fail "shm's bytes differ after paging"
(( $(kv "$SYS/status" HardFaults) > sys0 )) || fail "System took no hard fault"
(( $(kv "$B/status" HardFaults) >= b0 + 16 )) || fail "b took no hard faults"
assert_eq "$(kv "$SYS/pte/$page" State)" "valid" "the prototype page is back"
assert_eq "$(states shm)" "valid "
mem_read "$A" "$fa" bs=64K count=1 | cmp - filedata || fail "data's bytes differ after paging"
verify_ok

# Out again, then everything goes: every paging-file slot is free again.
out
out
assert_eq "$(states shm)" "paged-out "
for P in "$A" "$B"; do
    for v in $(awk 'NR > 1 && $4 == "mapped" { print $1 }' "$P/vads"); do
        cmd "$P/control" "unmap $v" > /dev/null
    done
    verify_ok
done
rmdir "$S/shm" "$S/data"
verify_ok
rmdir "$A" "$B"
verify_ok
assert_eq "$(slots)" "$slots0" "every slot freed"
