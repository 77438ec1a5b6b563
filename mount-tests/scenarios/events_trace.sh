# An events reader sees the faults of a dd it watched; O_NONBLOCK gives EAGAIN
# when nothing is there; the reader ends at once on a signal.
# mmfs-args: --ram 32M
source "$MMFS_LIB"
P=$MMFS/processes/app
mkdir "$P"
pid=$(kv "$P/status" Pid)
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 256K reserve,commit readwrite')"

events_to events.txt
reader=$!
mem_write "$P" "$base" if=/dev/zero bs=64K count=4
cmd "$P/control" trim > /dev/null
cmd "$MMFS/system/control" 'run modified-page-writer' > /dev/null
mem_read "$P" "$base" of=/dev/null bs=4K count=1
wait_until 50 grep -q 'fault.transition' events.txt || true
start=$(date +%s%N)
kill -TERM "$reader"
wait "$reader" 2>/dev/null || true
(( ($(date +%s%N) - start) < 2000000000 )) || fail "the reader took more than 2 s to end"

n=$(grep -c " fault.demand-zero pid=$pid " events.txt || true)
assert_eq "$n" "64" "demand-zero events of the dd"
first=$(grep -m1 ' fault.demand-zero ' events.txt)
assert_match "$first" "[0-9]* [0-9]* fault.demand-zero pid=$pid va=$(printf '0x%x' $((base))) pfn=0x*" "event format"
grep -q " ws.trim pid=$pid va=0x[0-9a-f]* pfn=0x[0-9a-f]* .*name=app$" events.txt || fail "no trim events naming app"
grep -q ' pagefile.write file=0 ' events.txt || fail "no pagefile write event"
grep -q ' thread.run name=modified-page-writer ' events.txt || fail "no thread event"
grep -q " fault.transition pid=$pid va=$(printf '0x%x' $((base))) " events.txt || fail "no transition fault event"
# Sequence numbers increase by one.
awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { exit bad }' events.txt || fail "sequence numbers skip"

# Non-blocking: nothing there -> EAGAIN at once.
python3 - "$MMFS/system/events" <<'PY'
import os, sys, errno
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    os.read(fd, 4096)
    sys.exit("read returned data with nothing happening")
except OSError as e:
    if e.errno != errno.EAGAIN:
        sys.exit(f"expected EAGAIN, got {e}")
os.close(fd)
PY
verify_ok
