# With --clock auto the system threads run by themselves: the balance set manager
# every second, the zero page thread after pages are freed, the modified page
# writer when the modified list grows long; an idle process is outswapped after
# 15 s is too long for a test, so outswap is exercised by command elsewhere.
# mmfs-args: --clock auto --ram 16M
# timeout: 60
source "$MMFS_LIB"
P=$MMFS/processes/app
mkdir "$P"
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 2M reserve,commit readwrite')"
head -c 2M /dev/urandom > data
mem_write "$P" "$base" if=data bs=64K
cmd "$P/control" trim > /dev/null
written_and_ticked() { (( $(meminfo ModifiedPages) < 16 )) && (( $(wakeups balance-set-manager) >= 2 )); }
wait_until 300 written_and_ticked || true  # up to 30 s: a loaded CI machine may be slow
(( $(meminfo ModifiedPages) < 16 )) || fail "the modified page writer did not run: $(cat "$MMFS/system/threads")"
(( $(wakeups balance-set-manager) >= 2 )) || fail "the balance set manager did not tick"
(( $(wakeups working-set-manager) >= 2 )) || fail "the working-set manager did not run"
expect_cmd_error "Invalid argument" STATUS_INVALID_DEVICE_REQUEST "$MMFS/system/control" tick

# Freed pages are zeroed in the background. The zero page thread is woken when
# 8 or more pages are free, so up to 7 freed after its last pass (the last page
# tables of the process, say) may wait on the free list for the next wake-up.
zeroed_before=$(counter pages_zeroed)
rmdir "$P"
few_free() { (( $(meminfo FreePages) < 8 )); }
wait_until 100 few_free || true
few_free || fail "free pages left unzeroed: $(meminfo FreePages)"
zeroed=$(( $(counter pages_zeroed) - zeroed_before ))
(( zeroed >= 500 )) || fail "the zero page thread zeroed $zeroed pages of the 512 freed"
(( $(wakeups zero-page-thread) >= 1 )) || fail "zero page thread"
verify_ok
