# kernel/sysptes and kernel/mdls/: the system PTE pool, each process's kernel
# stack (made, outswapped to the modified list and the paging file, inswapped,
# freed), MDLs (probe-and-lock, allocate-pages, map, unmap, unlock, free, every
# refusal), locked pages that survive a trim and block termination, and the
# resident available memory that locks are charged against.
# mmfs-args: --ram 64M
source "$MMFS_LIB"
K=$MMFS/kernel
M=$K/mdls
C=$M/control
P=$MMFS/processes/app
listed "$K" sysptes || fail "kernel/sysptes is not listed"
listed "$K" mdls || fail "kernel/mdls is not listed"
listed "$M" control || fail "kernel/mdls/control is not listed"
grep -q "probe-and-lock" "$M/README" || fail "kernel/mdls/README does not describe its commands"

# 64 MB on x86 wants 22000 system PTEs (WRK: 11000, doubled above 32 MB);
# the 48 MB system-ptes region holds 12288, less one.
assert_eq "$(kv "$K/sysptes" TotalPtes)" "12287"
total=12287
assert_eq "$(kv "$K/sysptes" FreePtes)" "$total"
assert_eq "$(rows "$K/sysptes" '$1 !~ /:$/ && $1 != "#"')" "0" "no runs at first"
verify_ok

# --- kernel stacks -------------------------------------------------------------
resident0=$(meminfo ResidentAvailablePages)
mkdir "$P"
pid=$(kv "$P/status" Pid)
stack=$(awk '$3 == "kernel_stack_app" { print $1, $2 }' "$K/sysptes")
read -r guard pages <<< "$stack"
assert_eq "$pages" "4" "a 12 KB stack and its guard PTE"
assert_eq "$(kv "$K/sysptes" FreePtes)" "$((total - 4))"
assert_eq "$(meminfo ResidentAvailablePages)" "$((resident0 - 50 - 3))" "minimum and stack charged"
use() { awk -v c="$2" '$1 == "KernelStack" { print $c }' "$MMFS/system/usecounts"; }
assert_eq "$(use KernelStack 2)" "3" "stack pages"
assert_eq "$(use KernelStack 3)" "3" "stack pages active"
# The stack reads through kernel/mem (zeroes); its guard page is EFAULT.
mem_read "$K" "$(hexadd "$guard" 0x1000)" bs=4096 count=3 | cmp - <(head -c 12288 /dev/zero) \
    || fail "the stack does not read as zeroes"
expect_error "Bad address" mem_read "$K" "$guard" bs=4096 count=1 of=/dev/null
verify_ok

# Outswap: the stack goes to the modified list, its charge comes back; the
# modified page writer writes it out; inswap brings it back.
printf 'STACK' | mem_write "$K" "$(hexadd "$guard" 0x3000)" bs=4096 conv=notrunc
cmd "$P/control" outswap > /dev/null
assert_eq "$(use KernelStack 5)" "3" "stack pages modified"
assert_eq "$(meminfo ResidentAvailablePages)" "$((resident0 - 50))" "stack charge returned"
verify_ok
write_cmd "$MMFS/system/control" flush-modified
assert_eq "$(use KernelStack 4)" "3" "stack pages standby"
verify_ok
cmd "$P/control" inswap > /dev/null
assert_eq "$(use KernelStack 3)" "3" "stack pages active again"
assert_eq "$(meminfo ResidentAvailablePages)" "$((resident0 - 50 - 3))"
verify_ok
# Out again, written, the frames reused (empty-standby): reading the stack
# through kernel/mem brings it back from the paging file, bytes and all.
cmd "$P/control" outswap > /dev/null
write_cmd "$MMFS/system/control" flush-modified empty-standby
assert_eq "$(use KernelStack 2)" "0" "no stack page in memory"
read0=$(counter pages_read_from_pagefile)
assert_eq "$(mem_read "$K" "$(hexadd "$guard" 0x3000)" bs=5 count=1)" "STACK"
assert_eq "$(use KernelStack 3)" "3" "stack pages read back"
(( $(counter pages_read_from_pagefile) >= read0 + 3 )) || fail "the stack was not read from the paging file"
verify_ok

# --- probe-and-lock -------------------------------------------------------------
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 64K reserve,commit readwrite')"
head -c 65536 /dev/urandom > pattern
mem_write "$P" "$base" bs=64K < pattern
resident1=$(meminfo ResidentAvailablePages)
id=$(cmd "$C" "probe-and-lock app $(hexadd "$base" 0x10) 0x3000 write")
assert_eq "$id" "1"
listed "$M" 1 || fail "kernel/mdls/1 is not listed"
assert_eq "$(kv "$M/1" MdlFlags)" "0x0082 MDL_PAGES_LOCKED|MDL_WRITE_OPERATION"
assert_eq "$(kv "$M/1" StartVa)" "$base"
assert_eq "$(kv "$M/1" ByteOffset)" "0x10"
assert_eq "$(kv "$M/1" ByteCount)" "0x3000"
assert_eq "$(kv "$M/1" Process)" "$pid"
assert_eq "$(kv "$M/1" MappedSystemVa)" "none"
assert_eq "$(rows "$M/1" '$1 ~ /^[0-9]+$/')" "4" "four pages in the PFN array"
assert_eq "$(meminfo ResidentAvailablePages)" "$((resident1 - 4))" "locked pages charged"
pfn=$(awk '$1 == "1" { print $2 }' "$M/1")
assert_eq "$(kv "$MMFS/pfn/$pfn" ReferenceCount)" "2" "the mapping's reference and the lock's"
verify_ok
# Locked by pid too (a read lock).
id2=$(cmd "$C" "probe-and-lock $pid $base 4K read")
assert_eq "$(kv "$M/$id2" MdlFlags)" "0x0002 MDL_PAGES_LOCKED"
verify_ok

# A trim takes the pages out of the working set, but their frames stay: off
# the lists, in transition, with the same PFNs and bytes.
cmd "$P/control" trim > /dev/null
assert_eq "$(kv "$MMFS/pfn/$pfn" State)" "transition"
on_list "$pfn" standby modified && fail "a locked page went to a list"
write_cmd "$MMFS/system/control" flush-modified empty-standby
assert_eq "$(awk '$1 == "1" { print $2 }' "$M/1")" "$pfn"
mem_read "$P" "$base" bs=64K count=1 | cmp - pattern || fail "locked pages lost bytes"
verify_ok

# Map it: its bytes are at that address in kernel/mem; a write there reaches
# the process's page.
va=$(cmd "$C" "map 1")
assert_eq "$(kv "$M/1" MappedSystemVa)" "$va"
assert_eq "$(kv "$M/1" MdlFlags)" "0x0083 MDL_MAPPED_TO_SYSTEM_VA|MDL_PAGES_LOCKED|MDL_WRITE_OPERATION"
assert_eq "$(awk '$3 == "mdl_1" { print $2 }' "$K/sysptes")" "4"
mem_read "$K" "$va" bs=4080 count=1 | cmp - <(tail -c +17 pattern | head -c 4080) \
    || fail "kernel/mem at $va does not show the locked pages"
printf 'DEVICE' | mem_write "$K" "$va" bs=4096 conv=notrunc
assert_eq "$(mem_read "$P" "$(hexadd "$base" 0x10)" bs=6 count=1)" "DEVICE"
verify_ok
# A read lock maps read-only.
va2=$(cmd "$C" "map $id2")
expect_error "Permission denied" bash -c "printf x | dd of='$K/mem' seek=$((va2)) oflag=seek_bytes conv=notrunc status=none"
cmd "$C" "unmap $id2" > /dev/null
verify_ok

# A process with locked pages cannot be terminated.
expect_error "Device or resource busy" rmdir "$P"
[[ -d "$P" ]] || fail "the process went"
verify_ok

# --- refusals, each changing nothing ---------------------------------------------
mdls_before=$(ls "$M" | wc -l)
resident2=$(meminfo ResidentAvailablePages)
expect_cmd_error "Bad address" STATUS_ACCESS_VIOLATION "$C" "probe-and-lock app $(hexadd "$base" 0xf000) 0x2000 read"
expect_cmd_error "Bad address" STATUS_ACCESS_VIOLATION "$C" "probe-and-lock app 0x80000000 4K read"
expect_cmd_error "Bad address" STATUS_ACCESS_VIOLATION "$C" "probe-and-lock app 0x7fff0000 0x20000 read"
read -r rsv _ <<< "$(cmd "$P/control" 'alloc 0 64K reserve readwrite')"
expect_cmd_error "Bad address" STATUS_ACCESS_VIOLATION "$C" "probe-and-lock app $rsv 4K read"
cmd "$P/control" "protect $(hexadd "$base" 0x8000) 4K readonly" > /dev/null
expect_cmd_error "Bad address" STATUS_ACCESS_VIOLATION "$C" "probe-and-lock app $(hexadd "$base" 0x7000) 0x2000 write"
cmd "$P/control" "protect $(hexadd "$base" 0x9000) 4K readwrite+guard" > /dev/null
expect_cmd_error "Bad address" STATUS_GUARD_PAGE_VIOLATION "$C" "probe-and-lock app $(hexadd "$base" 0x9000) 4K read"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "probe-and-lock app $base 0 read"
expect_cmd_error "No such file or directory" STATUS_OBJECT_NAME_NOT_FOUND "$C" "probe-and-lock nobody $base 4K read"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "probe-and-lock app $base 4K sideways"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "probe-and-lock app"
expect_cmd_error "No such file or directory" STATUS_OBJECT_NAME_NOT_FOUND "$C" "map 99"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "map 1"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "unmap $id2"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "free 1"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "allocate-pages 0"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "frobnicate"
assert_eq "$(ls "$M" | wc -l)" "$mdls_before" "no MDL was made"
assert_eq "$(meminfo ResidentAvailablePages)" "$resident2" "nothing was charged"
verify_ok

# --- unlock and free: the charge returns, termination is allowed ----------------
cmd "$C" "unlock 1" > /dev/null
assert_eq "$(kv "$M/1" MdlFlags)" "0x0080 MDL_WRITE_OPERATION" "unlock unmapped it too"
expect_cmd_error "Invalid argument" STATUS_NOT_LOCKED "$C" "unlock 1"
cmd "$C" "free 1" > /dev/null
listed "$M" 1 && fail "kernel/mdls/1 is still listed"
[[ -e "$M/1" ]] && fail "kernel/mdls/1 still exists"
cmd "$C" "unlock $id2" > /dev/null
cmd "$C" "free $id2" > /dev/null
assert_eq "$(meminfo ResidentAvailablePages)" "$resident1"
assert_eq "$(kv "$K/sysptes" FreePtes)" "$((total - 4))" "only the stack's run is left"
verify_ok

# --- allocate-pages, resident available memory and the system PTE pool ----------
resident3=$(meminfo ResidentAvailablePages)
expect_cmd_error "Cannot allocate memory" STATUS_INSUFFICIENT_RESOURCES "$C" "allocate-pages $((resident3 - 99))"
a=$(cmd "$C" "allocate-pages 3500")
assert_eq "$(kv "$M/$a" MdlFlags)" "0x4002 MDL_PAGES_LOCKED|MDL_PAGES_ALLOCATED"
assert_eq "$(kv "$M/$a" Process)" "none"
assert_eq "$(awk '$1 == "DriverLocked" { print $3 }' "$MMFS/system/usecounts")" "3500"
b=$(cmd "$C" "allocate-pages 3500")
c=$(cmd "$C" "allocate-pages 3500")
d=$(cmd "$C" "allocate-pages 2000")
verify_ok
# NtLockVirtualMemory is charged too: with 100 pages left a lock is refused.
e=$(cmd "$C" "allocate-pages $(( $(meminfo ResidentAvailablePages) - 100 ))")
assert_eq "$(meminfo ResidentAvailablePages)" "100"
expect_cmd_error "Cannot allocate memory" STATUS_INSUFFICIENT_RESOURCES "$P/control" "lock $base 4K"
assert_eq "$(kv "$P/status" LockedPages)" "0"
cmd "$C" "free $e" > /dev/null
verify_ok
for m in "$a" "$b" "$c"; do cmd "$C" "map $m" > /dev/null; done
assert_eq "$(kv "$K/sysptes" FreePtes)" "$((total - 4 - 10500))"
assert_eq "$(kv "$K/sysptes" LargestFreeRun)" "$((total - 4 - 10500))"
# 1783 PTEs left: a map of 2000 pages finds no run (counted in Failures).
d4=$(cmd "$C" "allocate-pages 3")
expect_cmd_error "Cannot allocate memory" STATUS_INSUFFICIENT_RESOURCES "$C" "map $d"
assert_eq "$(kv "$K/sysptes" Failures)" "1"
mapped=$(cmd "$C" "map $d4")
[[ -n "$mapped" ]] || fail "a small map failed"
verify_ok
for m in "$a" "$b" "$c" "$d" "$d4"; do cmd "$C" "free $m" > /dev/null; done
assert_eq "$(kv "$K/sysptes" FreePtes)" "$((total - 4))"
assert_eq "$(meminfo ResidentAvailablePages)" "$resident3"
verify_ok

# Locking with NtLockVirtualMemory is charged and given back.
resident4=$(meminfo ResidentAvailablePages)
cmd "$P/control" "lock $base 0x4000" > /dev/null
assert_eq "$(meminfo ResidentAvailablePages)" "$((resident4 - 4))"
cmd "$P/control" "unlock $base 0x4000" > /dev/null
assert_eq "$(meminfo ResidentAvailablePages)" "$resident4"
verify_ok

# Terminating gives the stack back.
rmdir "$P"
assert_eq "$(kv "$K/sysptes" FreePtes)" "$total"
assert_eq "$(use KernelStack 2)" "0"
assert_eq "$(meminfo ResidentAvailablePages)" "$resident0"
verify_ok
