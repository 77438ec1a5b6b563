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
dd if=data of="$P/mem" bs=64K seek=$((base)) oflag=seek_bytes status=none
cmd "$P/control" trim > /dev/null
wakeups() { awk -v t="$1" '$1 == t { print $4 }' "$MMFS/system/threads"; }
for _ in $(seq 300); do  # up to 30 s: a loaded CI machine may be slow
    (( $(kv "$MMFS/system/meminfo" ModifiedPages) < 16 )) && (( $(wakeups balance-set-manager) >= 2 )) && break
    sleep 0.1
done
(( $(kv "$MMFS/system/meminfo" ModifiedPages) < 16 )) || fail "the modified page writer did not run: $(cat "$MMFS/system/threads")"
(( $(wakeups balance-set-manager) >= 2 )) || fail "the balance set manager did not tick"
(( $(wakeups working-set-manager) >= 2 )) || fail "the working-set manager did not run"
expect_cmd_error "Invalid argument" STATUS_INVALID_DEVICE_REQUEST "$MMFS/system/control" tick

# Freed pages are zeroed in the background. The zero page thread is woken when
# 8 or more pages are free, so up to 7 freed after its last pass (the last page
# tables of the process, say) may wait on the free list for the next wake-up.
zeroed_before=$(awk '$1 == "pages_zeroed" { print $2 }' "$MMFS/system/counters")
rmdir "$P"
for _ in $(seq 100); do
    (( $(kv "$MMFS/system/meminfo" FreePages) < 8 )) && break
    sleep 0.1
done
(( $(kv "$MMFS/system/meminfo" FreePages) < 8 )) || fail "free pages left unzeroed: $(kv "$MMFS/system/meminfo" FreePages)"
zeroed=$(( $(awk '$1 == "pages_zeroed" { print $2 }' "$MMFS/system/counters") - zeroed_before ))
(( zeroed >= 500 )) || fail "the zero page thread zeroed $zeroed pages of the 512 freed"
(( $(wakeups zero-page-thread) >= 1 )) || fail "zero page thread"
verify_ok
