# shellcheck shell=bash
# Sourced by the mmfs shell tools (tools/mmstat, rammap, vmmap, pte): finds the
# mount and parses the options they share. Reads only the files of SPEC.md.
# A tool sets its usage in its leading comment block; --help prints that block.

PROG=${0##*/}

# die MESSAGE: a failure while working (no such process, unreadable file): exit 1.
die() {
    echo "$PROG: $*" >&2
    exit 1
}

# usage_error MESSAGE: a bad command line or no mount to work on: exit 2.
usage_error() {
    echo "$PROG: $*" >&2
    exit 2
}

# The tool's leading comment block, without the `#!` line and the `# `.
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; }

# mm_options ARGS...: handles --help and -m DIR, leaves the other arguments in
# ARGS and the mount in MM: -m DIR, else $MMFS_MOUNT (set by `mmfs run`), else the
# only mmfs mount in /proc/self/mounts (source `mmfs`, type fuse or fuse.*).
mm_options() {
    local dir=
    ARGS=()
    while [ $# -gt 0 ]; do
        case $1 in
        -h | --help) usage; exit 0 ;;
        -m) [ $# -ge 2 ] || usage_error "-m needs the mount directory"; dir=$2; shift ;;
        -m?*) dir=${1#-m} ;;
        --) shift; ARGS+=("$@"); break ;;
        -?*) usage_error "unknown option $1 (see $PROG --help)" ;;
        *) ARGS+=("$1") ;;
        esac
        shift
    done
    [ -n "$dir" ] || dir=${MMFS_MOUNT:-}
    if [ -z "$dir" ]; then
        local mounts
        # /proc/self/mounts writes a space in a path as \040: printf %b decodes it.
        mounts=$(awk '$1 == "mmfs" && $3 ~ /^fuse/ { print $2 }' /proc/self/mounts)
        case $(printf '%s' "$mounts" | grep -c '') in
        0) usage_error "no mmfs mount in /proc/self/mounts; name one with -m DIR" ;;
        1) dir=$(printf '%b' "$mounts") ;;
        *) usage_error "several mmfs mounts (${mounts//$'\n'/ }); pick one with -m DIR" ;;
        esac
    fi
    [ -r "$dir/system/meminfo" ] || usage_error "$dir is not an mmfs mount (no system/meminfo)"
    MM=$dir
}

# kv FILE KEY: the value of KEY in a key/value file (empty if absent).
kv() { awk -v k="$2:" '$1 == k { print $2; exit }' "$1"; }

# proc_dir NAME|PID: the process's directory under processes/ (a pid goes through pids/).
proc_dir() {
    if [ -d "$MM/processes/$1" ]; then
        echo "$MM/processes/$1"
    elif [ -e "$MM/pids/$1" ]; then
        echo "$MM/processes/$(basename "$(readlink "$MM/pids/$1")")"
    else
        die "no process '$1' (see ls $MM/processes)"
    fi
}

# AWK_HEX: an awk function hex(s) turning `0x...` into a number (mawk has no strtonum).
# Exact below 2^53, which covers every user-space address.
# shellcheck disable=SC2034 # used by the tools that source this file
AWK_HEX='function hex(s,   i, n) {
    n = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return n
}'
