# Read-ahead on real time: a sequential `cat` of a cold 16 MB file gets most
# of its pages from the read-ahead thread's I/O (read onto standby, then made
# valid in the cache's views, so the copies take no fault), not from its own
# hard faults, on every pass (the file purged before each); with the
# sequential hint too; with the random-access hint nothing is read ahead, and
# with the hint back to normal read-ahead comes back.
# mmfs-args: --clock auto --ram 64M
source "$MMFS_LIB"
F=$MMFS/files
stats() { kv "$MMFS/cache/stats" "$1"; }
system_hard() { kv "$MMFS/processes/System/status" HardFaults; }
head -c 16M /dev/urandom > ra.bin
cp ra.bin "$F/ra.bin"

# cold_cat WHAT: purges the file, cats it (checking the bytes) and prints the
# pages read ahead, the read-ahead I/Os (up to 64 KB each) and the System
# process's hard faults (a copy's miss reads the rest of its bytes in the view
# with it, MmSetPageFaultReadAhead: up to 16 pages).
cold_cat() {
    cmd "$MMFS/cache/control" 'purge ra.bin' > /dev/null
    assert_eq "$(awk '$1 == "ra.bin" { print $3 }' "$MMFS/cache/files")" "0" "$1: cached pages after purge"
    local pages=$(stats ReadAheadPages) ios=$(counter cache_read_ahead_ios) hard=$(system_hard)
    cat "$F/ra.bin" | cmp - ra.bin || fail "$1: cat read other bytes"
    echo "$(( $(stats ReadAheadPages) - pages )) $(( $(counter cache_read_ahead_ios) - ios )) $(( $(system_hard) - hard ))"
}
# mostly_read_ahead WHAT: a cold cat's 4096 pages came mostly from read-ahead.
mostly_read_ahead() {
    local pages ios hard
    read -r pages ios hard < <(cold_cat "$1")
    (( pages * 2 > 4096 )) || fail "$1: only $pages of 4096 pages read ahead ($hard hard faults)"
    (( ios > 0 && ios * 16 >= pages )) || fail "$1: $pages pages read ahead in $ios I/Os"
    (( pages + 16 * hard >= 4096 )) || fail "$1: $pages read ahead and $hard hard faults cannot cover 4096 pages"
    echo "$1: $pages pages read ahead in $ios I/Os, $hard hard faults"
}

mostly_read_ahead "first pass"
mostly_read_ahead "second pass"
cmd "$MMFS/cache/control" 'hint ra.bin sequential' > /dev/null
assert_eq "$(awk '$1 == "ra.bin" { print $7 }' "$MMFS/cache/files")" "sequential" "the file's hint"
mostly_read_ahead "sequential hint"
mostly_read_ahead "sequential hint, second pass"

cmd "$MMFS/cache/control" 'hint ra.bin random' > /dev/null
reads=$(stats ReadAheads)
read -r pages ios hard < <(cold_cat "random hint")
assert_eq "$pages:$ios" "0:0" "read-ahead with the random-access hint"
(( hard * 16 >= 4096 )) || fail "random hint: only $hard hard faults (up to 16 pages each) for 4096 cold pages"
assert_eq "$(stats ReadAheads)" "$reads" "read-aheads with the random-access hint"

cmd "$MMFS/cache/control" 'hint ra.bin normal' > /dev/null
mostly_read_ahead "hint back to normal"
verify_ok
