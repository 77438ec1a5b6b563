#!/usr/bin/env bash
# Scale: N processes, each created (mkdir), given 1 MB (alloc), written and read back
# (dd through mem) from a shell loop, then the listings timed with all N alive, then
# every process terminated (rmdir). One fresh mount per size, release build; prints one
# row per size so the times can be compared against N (linear: the per-process column
# stays flat). Never part of the tests: figures go in docs/PERFORMANCE.md.
#
#   tools/scale.sh                     # 125 250 500 1000 processes
#   tools/scale.sh 100 200             # other sizes
#   SCALE_RAM=4G tools/scale.sh 1000
#   tools/scale.sh pages               # pfn/lists/*, verify, usecounts at 1G 2G 4G 8G of RAM
#   tools/scale.sh rss                 # 64 GiB of RAM, 16 GiB written: the daemon's RSS
#   SCALE_RSS_RAM=64G SCALE_RSS_WRITE_GB=16 tools/scale.sh rss
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

cargo build --release --quiet --bin mmfs
MMFS_BIN=${SCALE_MMFS:-target/release/mmfs}
work=$(mktemp -d /tmp/mmfs-scale.XXXXXX)
mkdir -p "$work/mm"
pid=
cleanup() {
    [[ -z $pid ]] || kill -TERM "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    mountpoint -q "$work/mm" && umount -l "$work/mm"
    rm -rf "$work"
}
trap cleanup EXIT

mount_mmfs() { # ARGS...
    "$MMFS_BIN" "$work/mm" --clock manual "$@" 2>"$work/mmfs.log" &
    pid=$!
    for _ in $(seq 1 400); do mountpoint -q "$work/mm" && return 0; sleep 0.05; done
    echo "scale: mmfs did not mount: $(cat "$work/mmfs.log")" >&2
    exit 1
}
unmount_mmfs() {
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
}

# Seconds taken by a command (bash's clock), the command's output discarded.
secs() {
    local t0 t1
    t0=$EPOCHREALTIME
    "$@" >/dev/null
    t1=$EPOCHREALTIME
    echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }'
}
# The daemon's CPU time so far (user + system), in seconds: less swayed by other load
# on the machine than the wall clock.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat"; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status"; }

# create N : mkdir, alloc 1 MB, write it, read it back, for N processes.
create() {
    local m=$work/mm/processes i base
    for ((i = 1; i <= $1; i++)); do
        mkdir "$m/s$i"
        printf 'alloc 0 1M reserve,commit readwrite\n' > "$m/s$i/control"
        read -r _ base _ < "$m/s$i/control"
        dd if="$work/data" of="$m/s$i/mem" seek=$((base)) oflag=seek_bytes bs=64K status=none
        dd if="$m/s$i/mem" skip=$((base)) iflag=skip_bytes bs=64K count=16 status=none | cmp -s - "$work/data" \
            || { echo "scale: s$i read back wrong" >&2; exit 1; }
    done
}
terminate() {
    local i
    for ((i = 1; i <= $1; i++)); do rmdir "$work/mm/processes/s$i"; done
}
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { print (a - b) * 1000 / n }'; }
lists() { cat "$work"/mm/pfn/lists/*; }

scale_rows() {
    head -c 1M /dev/urandom > "$work/data"
    printf '%6s %9s %8s %8s %10s %9s %9s %9s %10s %9s %8s %9s\n' procs create ms/proc cpu_ms/p \
        ls_procs usecounts verify lists list_lines terminate cpu_ms/p rss_MB
    local n
    for n in "$@"; do
        mount_mmfs --ram "${SCALE_RAM:-2G}"
        local tc tl tu tv tp lines tt rss v c0 c1 c2 c3
        c0=$(cpu_s)
        tc=$(secs create "$n")
        c1=$(cpu_s)
        [[ $(ls "$work/mm/processes" | grep -c '^s') == "$n" ]] || { echo "scale: not $n listed" >&2; exit 1; }
        tl=$(secs ls -l "$work/mm/processes")
        tu=$(secs cat "$work/mm/system/usecounts")
        tv=$(secs cat "$work/mm/system/verify")
        v=$(cat "$work/mm/system/verify")
        [[ $v == ok* ]] || { echo "scale: verify: $v" >&2; exit 1; }
        tp=$(secs lists)
        lines=$(lists | wc -l)
        rss=$(($(rss_kb) / 1024))
        c2=$(cpu_s)
        tt=$(secs terminate "$n")
        c3=$(cpu_s)
        v=$(cat "$work/mm/system/verify")
        [[ $v == ok* ]] || { echo "scale: verify after terminate: $v" >&2; exit 1; }
        printf '%6d %9s %8.2f %8.2f %10s %9s %9s %9s %10d %9s %8.2f %9d\n' "$n" "$tc" \
            "$(per "$tc" 0 "$n")" "$(per "$c1" "$c0" "$n")" "$tl" "$tu" "$tv" "$tp" \
            "$lines" "$tt" "$(per "$c3" "$c2" "$n")" "$rss"
        unmount_mmfs
    done
}

# rss : --ram 64G, 16 GiB written (16 processes, 1 GiB each) in 1 MiB dd writes; the daemon's
# RSS against the bytes written plus the PFN database (32 B a page).
rss_row() {
    local ram=${SCALE_RSS_RAM:-64G} gb=${SCALE_RSS_WRITE_GB:-16}
    mount_mmfs --ram "$ram"
    local m=$work/mm/processes base idle pages pfndb want got i t0
    idle=$(rss_kb)
    # One process a GiB: a 32-bit user space (pae, the default arch for 64G) holds 2 GB.
    t0=$EPOCHREALTIME
    for ((i = 1; i <= gb; i++)); do
        mkdir "$m/big$i"
        printf 'alloc 0 1G reserve,commit readwrite\n' > "$m/big$i/control"
        read -r _ base _ < "$m/big$i/control"
        dd if=/dev/zero of="$m/big$i/mem" seek=$((base)) oflag=seek_bytes bs=1M count=1024 status=none
    done
    local t
    t=$(echo "$t0 $EPOCHREALTIME" | awk '{ printf "%.1f", $2 - $1 }')
    got=$(rss_kb)
    pages=$(awk '$1 == "PhysicalPages:" { print $2 }' "$work/mm/system/meminfo")
    pfndb=$((pages * 32 / 1024))
    want=$((gb * 1024 * 1024 + pfndb))
    echo "ram $ram, written ${gb} GiB in ${t} s: RSS idle $((idle / 1024)) MB, after $((got / 1024)) MB;" \
        "written + PFN database ($((pfndb / 1024)) MB) = $((want / 1024)) MB; ratio" \
        "$(awk -v g="$got" -v w="$want" 'BEGIN { printf "%.3f", g / w }')"
    local v
    v=$(cat "$work/mm/system/verify")
    [[ $v == ok* ]] || { echo "scale: verify: $v" >&2; exit 1; }
    unmount_mmfs
}

# pages SIZE... : the listings against the pages they show: a fresh mount of each RAM
# size with 256 MB written (one process), then pfn/lists/*, verify and usecounts timed.
pages_rows() {
    printf '%8s %10s %10s %9s %9s %9s\n' ram pages list_lines lists verify usecounts
    local ram
    for ram in "$@"; do
        mount_mmfs --ram "$ram"
        local m=$work/mm/processes/p base tp tv tu lines pages
        mkdir "$m"
        printf 'alloc 0 256M reserve,commit readwrite\n' > "$m/control"
        read -r _ base _ < "$m/control"
        dd if=/dev/zero of="$m/mem" seek=$((base)) oflag=seek_bytes bs=1M count=256 status=none
        tp=$(secs lists)
        lines=$(lists | wc -l)
        tv=$(secs cat "$work/mm/system/verify")
        tu=$(secs cat "$work/mm/system/usecounts")
        pages=$(awk '$1 == "PhysicalPages:" { print $2 }' "$work/mm/system/meminfo")
        printf '%8s %10d %10d %9s %9s %9s\n' "$ram" "$pages" "$lines" "$tp" "$tv" "$tu"
        unmount_mmfs
    done
}

if [[ ${1:-} == rss ]]; then
    rss_row
elif [[ ${1:-} == pages ]]; then
    shift
    [[ $# -gt 0 ]] || set -- 1G 2G 4G 8G
    pages_rows "$@"
else
    [[ $# -gt 0 ]] || set -- 125 250 500 1000
    scale_rows "$@"
fi
