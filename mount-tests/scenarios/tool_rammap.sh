# tools/rammap after a known sequence: the use counts in KB with percentages
# agree with system/usecounts; a process's 100 written pages show as private,
# then (trimmed) as modified, then (written to the paging file) as standby. Also
# how every tool finds the mount without -m: the only mmfs mount, several, none
# (in a private mount namespace, so the other tests' mounts are left alone).
# mmfs-args: --ram 16M
source "$MMFS_LIB"
TOOLS=$(dirname "$MMFS_LIB")/../tools
TOOL=$TOOLS/rammap
P=$MMFS/processes/app
mkdir "$P"

"$TOOL" --help > help || fail "--help exits non-zero"
grep -q '^rammap \[-m DIR\]' help || fail "rammap --help"
expect_error "no arguments expected" "$TOOL" -m "$MMFS" extra

read -r base _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit readwrite')"
head -c 400K /dev/urandom | mem_write "$P" "$base" bs=4K
pid=$(kv "$P/status" Pid)
"$TOOL" -m "$MMFS" > out
cat out

# Use counts: each row is usecounts' row in KB (4 KB pages), with its share of Total.
use_kb() { awk -v u="$1" -v c="$2" '$1 == u && !done { print $c; done = 1 }' out; }
uc() { awk -v u="$1" -v c="$2" '$1 == u { print $c }' "$MMFS/system/usecounts"; }
assert_eq "$(use_kb ProcessPrivate 2)" "$(( $(uc ProcessPrivate 2) * 4 ))" "ProcessPrivate KB"
assert_eq "$(use_kb PageTable 4)" "$(( $(uc PageTable 3) * 4 ))" "PageTable active KB"
assert_eq "$(use_kb Total 2)" "16384" "16 MB"
assert_eq "$(use_kb Total 3)" "100.00"
assert_eq "$(use_kb Unused 3)" "$(awk -v u="$(uc Unused 2)" 'BEGIN { printf "%.2f", 100 * u / 4096 }')"

# Processes: app's 100 pages are private and active.
proc() { awk -v p="$pid" -v c="$1" '$1 == "app" && $2 == p { print $c }' "${2:-out}"; }
(( $(proc 3) >= 400 )) || fail "app's private KB $(proc 3) < 400"
assert_eq "$(proc 4) $(proc 5)" "0 0" "nothing on standby or modified yet"
(( $(proc 6) > 0 )) || fail "app has page tables"
assert_eq "$(proc 7)" "$(( $(proc 3) + $(proc 4) + $(proc 5) + $(proc 6) ))" "total"
awk '$1 == "System" && $2 == 4 { found = 1 } END { exit !found }' out || fail "no System row"

# Trimmed: the pages move to the modified list, still app's.
cmd "$P/control" trim > /dev/null
"$TOOL" -m "$MMFS" > out2
(( $(proc 5 out2) >= 400 )) || fail "app's modified KB $(proc 5 out2) < 400"
(( $(proc 3 out2) < 400 )) || fail "app's private KB after trim: $(proc 3 out2)"
# Written to the paging file: standby.
cmd "$MMFS/system/control" flush-modified > /dev/null
"$TOOL" -m "$MMFS" > out3
(( $(proc 4 out3) >= 400 )) || fail "app's standby KB $(proc 4 out3) < 400"
assert_eq "$(proc 5 out3)" "0" "nothing modified after flush-modified"

# Finding the mount without -m, in a private mount namespace: there, the other
# mmfs mounts are unmounted (this test's is the only one), then a second view of
# it is bound (several), then both go (none). Each tool finds it the same way.
need unshare util-linux
unshare --mount --propagation private bash -c '
    set -e
    tools=$1 mnt=$2
    awk '\''$1 == "mmfs" { print $2 }'\'' /proc/self/mounts | while read -r m; do
        [ "$(printf %b "$m")" = "$mnt" ] || umount -l "$(printf %b "$m")"
    done
    for t in rammap "vmmap app" "pte app 0x10000" "mmstat 0.01 1"; do
        $tools/$t > /dev/null || { echo "FAIL: $t did not find the only mount" >&2; exit 1; }
    done
    mkdir -p second && mount --bind "$mnt" second
    err=$($tools/rammap 2>&1) && { echo "FAIL: rammap with two mounts succeeded" >&2; exit 1; }
    case $err in "rammap: several mmfs mounts "*) ;; *) echo "FAIL: $err" >&2; exit 1 ;; esac
    umount -l second "$mnt"
    set +e
    err=$($tools/rammap 2>&1); rc=$?
    [ "$rc" = 2 ] || { echo "FAIL: no mount: exit $rc" >&2; exit 1; }
    case $err in "rammap: no mmfs mount in /proc/self/mounts; name one with -m DIR") ;;
        *) echo "FAIL: $err" >&2; exit 1 ;; esac
    # $MMFS_MOUNT (as `mmfs run` sets it) names it too; here it is gone.
    err=$(MMFS_MOUNT=$mnt $tools/rammap 2>&1)
    case $err in *"is not an mmfs mount"*) ;; *) echo "FAIL: $err" >&2; exit 1 ;; esac
' _ "$TOOLS" "$MMFS" || fail "finding the mount"
MMFS_MOUNT=$MMFS "$TOOL" > out4
assert_eq "$(head -1 out4)" "Use counts (KB)" "MMFS_MOUNT names the mount"
verify_ok
