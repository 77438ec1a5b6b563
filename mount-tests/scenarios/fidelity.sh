# The fidelity fixes of issue 21 as an instructor shows them from the shell:
# a new process's charge and locked system pages (MM_PROCESS_COMMIT_CHARGE),
# NT's parameter numbers and MM_HIGHEST_VAD_ADDRESS, page tables charged with
# a reservation (MiInsertVadCharges), the NULL page below 64 KB, MEM_RESET
# moving a modified page to standby (MiResetVirtualMemory), the rules of
# ws-limits (MmAdjustWorkingSetSizeEx), the lock probe (NtLockVirtualMemory),
# STATUS_WAS_LOCKED and STATUS_WAS_UNLOCKED, and the Dirty bit of a page
# that was only read (MiResolveDemandZeroFault). x86, 16 MB of RAM.
# mmfs-args: --ram 16M --clock manual
source "$MMFS_LIB"
P=$MMFS/processes/p
C=$P/control
S=$MMFS/system/control
status() { kv "$P/status" "$1"; }

# --- A new process: 4 pages charged, 4 locked system pages in its working set ---
system_before=$(meminfo CommitCharge)
mkdir "$P"
assert_eq "$(status CommitCharge)" "4" "MM_PROCESS_COMMIT_CHARGE on x86"
assert_eq "$(status WorkingSetSize)" "4"
assert_eq "$(status LockedPages)" "0" "LockedPages counts VirtualLock only"
assert_eq "$(meminfo CommitCharge)" "$(( system_before + 4 ))"
assert_eq "$(rows "$P/workingset" '$5 == 1 && ($6 == "system" || $6 == "pagetable")')" "4"
# Hyperspace: the VAD bitmap page, then the working-set list page.
assert_eq "$(awk 'NR > 1 && $6 == "system" { printf "%s ", $2 }' "$P/workingset")" \
    "0xc0501000 0xc0502000 "
verify_ok

# --- NtAllocateVirtualMemory's bounds and parameter numbers ---
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_2 "$C" "alloc 0x7ffe0000 0x10000 reserve readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_4 "$C" "alloc 0x7ffd0000 0x20000 reserve readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_4 "$C" "alloc 0 0 reserve readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_5 "$C" "alloc 0 4K sideways readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_5 "$C" "alloc 0 4K reset,commit readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_4 "$C" "free 0x10000 0 sideways"
assert_eq "$(rows "$P/vads")" "0" "refusals reserve nothing"
# The highest 1 MB a VAD may take ends at MM_HIGHEST_VAD_ADDRESS, 0x7ffdffff.
assert_eq "$(cmd "$C" 'alloc 0 1M reserve,top-down readwrite')" "0x7fee0000 0x100000"
# NtProtectVirtualMemory and NtFreeVirtualMemory check the highest user address.
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_2 "$C" "protect 0x80000000 0x1000 readonly"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_3 "$C" "protect 0x7fee0000 0 readonly"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_2 "$C" "free 0x80000000 0 release"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER_3 "$C" "free 0x7ffe0000 64K release"
cmd "$C" "free 0x7fee0000 0 release" > /dev/null
assert_eq "$(status CommitCharge)" "4"

# --- A reservation is charged its page tables (MiInsertVadCharges) ---
system=$(meminfo CommitCharge)
assert_eq "$(cmd "$C" 'alloc 0 256M reserve readwrite')" "0x10000 0x10000000"
# 0x10000-0x1000ffff needs page tables 0 to 0x40: 65 of 4 MB, nothing committed.
assert_eq "$(status CommitCharge)" "$(( 4 + 65 ))"
assert_eq "$(meminfo CommitCharge)" "$(( system + 65 ))"
cmd "$C" "free 0x10000 0 release" > /dev/null
assert_eq "$(status CommitCharge)" "4"
assert_eq "$(meminfo CommitCharge)" "$system"
# Two reservations in one 4 MB table share its page; it is returned with the last.
cmd "$C" 'alloc 0x1000000 64K reserve readwrite' > /dev/null
cmd "$C" 'alloc 0x1300000 64K reserve readwrite' > /dev/null
assert_eq "$(status CommitCharge)" "5"
cmd "$C" "free 0x1000000 0 release" > /dev/null
assert_eq "$(status CommitCharge)" "5" "0x1300000 still needs the table"
cmd "$C" "free 0x1300000 0 release" > /dev/null
assert_eq "$(status CommitCharge)" "4"
verify_ok

# --- MEM_RESET of a page waiting on the modified list (MiResetVirtualMemory) ---
read -r r _ <<< "$(cmd "$C" 'alloc 0 64K reserve,commit readwrite')"
kept=$(hexadd "$r" 0x1000)
poke "$P" "$r" "reset me"
poke "$P" "$kept" "keep me"
cmd "$C" trim > /dev/null
pfn=$(kv "$P/pte/$r" Pfn)
on_list "$pfn" modified || fail "$pfn is not on the modified list after the trim"
assert_eq "$(cmd "$C" "alloc $r 4K reset readwrite")" "$r 0x1000"
on_list "$pfn" standby || fail "MEM_RESET left $pfn off the standby list"
on_list "$pfn" modified && fail "MEM_RESET left $pfn on the modified list"
assert_eq "$(kv "$P/pte/$r" State)" "transition"
assert_eq "$(kv "$P/pte/$r" Pfn)" "$pfn"
# The writer writes every modified page but the reset one.
modified=$(meminfo ModifiedPages)
written=$(counter pages_written_to_pagefile)
cmd "$S" flush-modified > /dev/null
assert_eq "$(counter pages_written_to_pagefile)" "$(( written + modified ))"
on_list "$pfn" standby || fail "$pfn left standby"
# Read back while the frame is not reused: a soft fault with the old bytes.
soft=$(status TransitionFaults)
hard=$(status HardFaults)
assert_eq "$(peek "$P" "$r" 8)" "reset me"
assert_eq "$(status TransitionFaults)" "$(( soft + 1 ))"
assert_eq "$(status HardFaults)" "$hard"
assert_eq "$(kv "$P/pte/$r" Pfn)" "$pfn"
verify_ok

# --- A page below 64 KB: the NULL page can be mapped, as before Windows 8 ---
assert_eq "$(cmd "$C" 'alloc 0x1000 4K reserve,commit readwrite')" "0x0 0x2000"
poke "$P" 0 "null"
assert_eq "$(peek "$P" 0 4)" "null"
read -r anywhere _ <<< "$(cmd "$C" 'alloc 0 4K reserve,commit readwrite')"
(( anywhere >= 0x10000 )) || fail "alloc 0 chose $anywhere, below 64 KB"
verify_ok

# --- A demand-zero page only read is Dirty when writable (MiResolveDemandZeroFault) ---
read -r dz _ <<< "$(cmd "$C" 'alloc 0 4K reserve,commit readwrite')"
read -r ro _ <<< "$(cmd "$C" 'alloc 0 4K reserve,commit readonly')"
peek "$P" "$dz" 1 > /dev/null
peek "$P" "$ro" 1 > /dev/null
assert_eq "$(kv "$P/pte/$dz" WinDbgFlags)" "---DA--UWEV"
assert_eq "$(kv "$P/pte/$ro" WinDbgFlags)" "----A--UREV"

# --- ws-limits (MmAdjustWorkingSetSizeEx) ---
# MmMaximumWorkingSetSize is RAM less 512 pages: 3584 pages, 0xe00000 bytes.
assert_eq "$(cmd "$C" 'ws-limits 0 1G')" "0x32000 0xe00000 soft STATUS_WORKING_SET_LIMIT_RANGE"
assert_eq "$(cat "$C")" "ok 0x32000 0xe00000 soft STATUS_WORKING_SET_LIMIT_RANGE"
# A minimum below 20 pages is raised to 20 (0x14000 bytes).
assert_eq "$(cmd "$C" 'ws-limits 4K 4M')" "0x14000 0x400000 soft STATUS_WORKING_SET_LIMIT_RANGE"
expect_cmd_error "Invalid argument" STATUS_BAD_WORKING_SET_LIMIT "$C" "ws-limits 8M 0"
assert_eq "$(cmd "$C" 'ws-limits 200K 0')" "0x32000 0x400000 soft"
assert_eq "$(status WorkingSetMinimum)" "50"
assert_eq "$(status WorkingSetMaximum)" "1024"
verify_ok

# --- NtLockVirtualMemory probes each page, as a read would ---
read -r lk _ <<< "$(cmd "$C" 'alloc 0 64K reserve readwrite')"
cmd "$C" "alloc $lk 8K commit readwrite" > /dev/null
expect_cmd_error "Bad address" STATUS_ACCESS_VIOLATION "$C" "lock $(hexadd "$lk" 0x4000) 4K"
expect_cmd_error "Bad address" STATUS_ACCESS_VIOLATION "$C" "lock 0x30000000 4K"
# Two committed pages, then a reserved one: the first two are probed in, not locked.
expect_cmd_error "Bad address" STATUS_ACCESS_VIOLATION "$C" "lock $lk 12K"
assert_eq "$(kv "$P/pte/$lk" State)" "valid"
assert_eq "$(kv "$P/pte/$(hexadd "$lk" 0x1000)" State)" "valid"
assert_eq "$(status LockedPages)" "0"
# A guard page: the probe raises STATUS_GUARD_PAGE_VIOLATION and uses the guard up.
read -r g _ <<< "$(cmd "$C" 'alloc 0 8K reserve,commit readwrite+guard')"
expect_cmd_error "Bad address" STATUS_GUARD_PAGE_VIOLATION "$C" "lock $g 4K"
assert_eq "$(cmd "$C" "lock $g 4K")" "1"
assert_eq "$(cmd "$C" "lock $g 4K")" "0 STATUS_WAS_LOCKED"
assert_eq "$(cat "$C")" "ok 0 STATUS_WAS_LOCKED"
assert_eq "$(status LockedPages)" "1"
verify_ok

# --- A locked page made no-access leaves the working set: STATUS_WAS_UNLOCKED ---
assert_eq "$(cmd "$C" "lock $lk 8K")" "2"
assert_eq "$(status LockedPages)" "3"
assert_eq "$(cmd "$C" "protect $(hexadd "$lk" 0x1000) 4K readonly")" "readwrite"
assert_eq "$(status LockedPages)" "3" "read-only keeps the lock"
assert_eq "$(cmd "$C" "protect $lk 4K noaccess")" "readwrite STATUS_WAS_UNLOCKED"
assert_match "$(cat "$C")" "ok readwrite STATUS_WAS_UNLOCKED"
assert_eq "$(status LockedPages)" "2"
assert_eq "$(kv "$P/pte/$lk" State)" "transition"
expect_cmd_error "Invalid argument" STATUS_NOT_LOCKED "$C" "unlock $lk 4K"
verify_ok

# --- Terminating returns every page the process was charged ---
rmdir "$P"
assert_eq "$(meminfo CommitCharge)" "$system_before"
verify_ok
