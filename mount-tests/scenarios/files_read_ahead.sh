# Read-ahead on real time: a sequential `cat` of a cold 16 MB file gets most
# of its pages from the read-ahead thread's I/O, not from its own faults, on
# every pass (the file purged before each); with the sequential hint too;
# with the random-access hint nothing is read ahead, and with the hint back to
# normal read-ahead comes back.
# mmfs-args: --clock auto --ram 64M
source "$MMFS_LIB"
F=$MMFS/files
stats() { kv "$MMFS/cache/stats" "$1"; }
system_hard() { kv "$MMFS/processes/System/status" HardFaults; }
head -c 16M /dev/urandom > ra.bin
cp ra.bin "$F/ra.bin"

# cold_cat WHAT: purges the file, cats it (checking the bytes) and prints the
# read-ahead I/Os and the System process's hard faults that took.
cold_cat() {
    cmd "$MMFS/cache/control" 'purge ra.bin' > /dev/null
    assert_eq "$(awk '$1 == "ra.bin" { print $3 }' "$MMFS/cache/files")" "0" "$1: cached pages after purge"
    local ios=$(counter cache_read_ahead_ios) hard=$(system_hard)
    cat "$F/ra.bin" | cmp - ra.bin || fail "$1: cat read other bytes"
    echo "$(( $(counter cache_read_ahead_ios) - ios )) $(( $(system_hard) - hard ))"
}
# mostly_read_ahead WHAT: a cold cat's pages came mostly from read-ahead.
mostly_read_ahead() {
    local ios hard
    read -r ios hard < <(cold_cat "$1")
    (( hard >= 4096 )) || fail "$1: only $hard hard faults for 4096 cold pages"
    (( ios * 2 > hard )) || fail "$1: $ios read-ahead I/Os of $hard hard faults"
    echo "$1: $ios read-ahead I/Os of $hard hard faults"
}

mostly_read_ahead "first pass"
mostly_read_ahead "second pass"
cmd "$MMFS/cache/control" 'hint ra.bin sequential' > /dev/null
assert_eq "$(awk '$1 == "ra.bin" { print $7 }' "$MMFS/cache/files")" "sequential" "the file's hint"
mostly_read_ahead "sequential hint"
mostly_read_ahead "sequential hint, second pass"

cmd "$MMFS/cache/control" 'hint ra.bin random' > /dev/null
reads=$(stats ReadAheads)
read -r ios hard < <(cold_cat "random hint")
assert_eq "$ios" "0" "read-ahead I/Os with the random-access hint"
(( hard >= 4096 )) || fail "random hint: only $hard hard faults for 4096 cold pages"
assert_eq "$(stats ReadAheads)" "$reads" "read-aheads with the random-access hint"

cmd "$MMFS/cache/control" 'hint ra.bin normal' > /dev/null
mostly_read_ahead "hint back to normal"
verify_ok
