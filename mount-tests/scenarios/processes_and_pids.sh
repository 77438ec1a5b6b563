# mkdir/rmdir in processes/, pids/ symlinks, the System process.
source "$MMFS_LIB"
p=$MMFS/processes

assert_eq "$(kv "$p/System/status" Pid)" "4" "System pid"
assert_eq "$(kv "$p/System/status" State)" "running"
assert_eq "$(readlink "$MMFS/pids/4")" "../processes/System"
assert_eq "$(kv "$MMFS/pids/4/status" Name)" "System"

mkdir "$p/app"
pid=$(kv "$p/app/status" Pid)
(( pid % 4 == 0 && pid > 4 )) || fail "pid $pid is not a multiple of 4 above System's"
assert_eq "$(readlink "$MMFS/pids/$pid")" "../processes/app"
assert_eq "$(kv "$MMFS/pids/$pid/status" Name)" "app"
listed "$p" app || fail "app not listed"
listed "$MMFS/pids" "$pid" || fail "pid $pid not listed"

expect_error "File exists" mkdir "$p/app"
expect_error "Invalid argument" mkdir "$p/bad name"
expect_error "Invalid argument" mkdir "$p/.hidden"
expect_error "File exists" mkdir "$p/README"
expect_error "Operation not permitted" mkdir "$MMFS/system/x"
expect_error "Operation not permitted" rmdir "$p/System"
expect_error "No such file or directory" rmdir "$p/nobody"

# Many processes, listed in full.
for i in $(seq 1 200); do mkdir "$p/w$i"; done
assert_eq "$(ls "$p" | grep -c '^w')" "200" "200 processes listed"
assert_eq "$(ls "$MMFS/pids" | grep -vc README)" "202" "pids listed"
for i in $(seq 1 200); do rmdir "$p/w$i"; done

rmdir "$p/app"
[[ ! -e "$p/app" ]] || fail "app still there after rmdir"
[[ ! -e "$MMFS/pids/$pid" ]] || fail "pids/$pid still there"
# Pids are not reused.
mkdir "$p/app"
pid2=$(kv "$p/app/status" Pid)
(( pid2 > pid )) || fail "pid $pid2 reused"
