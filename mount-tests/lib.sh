# Helpers for mount scenarios. Each scenario sources this file; $MMFS is the mount point.
set -euo pipefail

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
    [[ "$1" == "$2" ]] || fail "${3:-value}: expected '$2', got '$1'"
}

# assert_match TEXT GLOB [WHAT]
assert_match() {
    [[ "$1" == $2 ]] || fail "${3:-text}: '$1' does not match '$2'"
}

# assert_file_contains FILE REGEX
assert_file_contains() {
    grep -qE -- "$2" "$1" || fail "$1 does not contain /$2/: $(head -c 2000 "$1")"
}

# expect_error ERRNO_TEXT COMMAND... : the command must fail and its stderr must
# name the errno (strerror text, e.g. "Invalid argument").
expect_error() {
    local want=$1
    shift
    local err
    if err=$("$@" 2>&1); then
        fail "'$*' succeeded; expected '$want'"
    fi
    [[ "$err" == *"$want"* ]] || fail "'$*' failed with '$err'; expected '$want'"
}

# write_cmd FILE LINE... : write the lines (one write) to a control file.
write_cmd() {
    local file=$1
    shift
    printf '%s\n' "$@" > "$file"
}

# expect_write_error ERRNO_TEXT FILE LINE : writing LINE must fail with that errno.
expect_write_error() {
    local want=$1 file=$2
    shift 2
    expect_error "$want" bash -c 'printf "%s\n" "$2" > "$1"' _ "$file" "$*"
}

# Field value from a key/value file: kv FILE KEY
kv() {
    awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; found = 1 } END { exit !found }' "$1" \
        || fail "$1 has no key $2"
}

# cmd CONTROL LINE : run one command; prints its result (the text after "ok").
cmd() {
    printf '%s\n' "$2" > "$1" || fail "'$2' > $1 failed: $(cat "$1")"
    local out
    out=$(cat "$1")
    [[ "$out" == ok* ]] || fail "'$2': $out"
    out=${out#ok}
    echo "${out# }"
}

# expect_cmd_error ERRNO_TEXT STATUS CONTROL LINE : the command fails with that errno
# and the control file reads `error STATUS: ...`.
expect_cmd_error() {
    local want=$1 status=$2 file=$3 line=$4
    expect_write_error "$want" "$file" "$line"
    local out
    out=$(cat "$file")
    [[ "$out" == "error $status: "* ]] || fail "'$line': outcome '$out', expected error $status"
}

# verify_ok : system/verify must say ok.
verify_ok() {
    local v
    v=$(cat "$MMFS/system/verify")
    [[ "$v" == ok* ]] || fail "verify: $v"
}

# hexadd A B : A + B in 0x hex (8 digits).
hexadd() { printf '0x%08x' $(( $1 + $2 )); }

# meminfo KEY : a system/meminfo value.
meminfo() { kv "$MMFS/system/meminfo" "$1"; }

# counter NAME : a system/counters value.
counter() { awk -v k="$1" '$1 == k { print $2 }' "$MMFS/system/counters"; }

# wakeups THREAD : how often a system thread has woken (system/threads).
wakeups() { awk -v t="$1" '$1 == t { print $4 }' "$MMFS/system/threads"; }

# rows TABLE [AWK_CONDITION] : how many rows (all, or those matching) a table has below its header.
rows() { awk "NR > 1 && (${2:-1})" "$1" | wc -l; }

# row_widths TABLE : how many different lengths its rows have (1: fixed-width, as tools expect).
row_widths() { awk 'NR > 1 { print length($0) }' "$1" | sort -u | wc -l; }

# on_list PFN LIST... : PFN is on one of these pfn/lists/ lists.
on_list() {
    local pfn=$1 list files=()
    shift
    for list in "$@"; do files+=("$MMFS/pfn/lists/$list"); done
    grep -qx -- "$pfn" "${files[@]}"
}

# proto_pte SECTION INDEX FIELD... : fields of one prototype PTE, named as in the table's header.
proto_pte() {
    local table=$MMFS/sections/$1/prototype-ptes index=$2
    shift 2
    # The header is `# index offset ...`: a row's field N is the header's word N + 1.
    awk -v i="$index" -v fields="$*" '
        NR == 1 { for (c = 2; c <= NF; c++) col[$c] = c - 1; next }
        $1 == i {
            n = split(fields, f, " ")
            for (k = 1; k <= n; k++) printf "%s%s", $col[f[k]], (k < n ? " " : "\n")
        }' "$table"
}

# entries DIR : DIR's listing on one line (readdir, as ls shows it).
entries() { ls "$1" | tr '\n' ' '; }

# listed DIR NAME : readdir of DIR names NAME (a lookup also finds names that are never listed).
listed() { ls "$1" | grep -qx -- "$2"; }

# mem_write PROC VA DD_OPERAND... : dd into PROC's mem at VA (stdin or if=); the caller picks bs= and conv=.
mem_write() {
    local mem=$1/mem va=$2
    shift 2
    dd of="$mem" seek=$((va)) oflag=seek_bytes status=none "$@"
}

# mem_read PROC VA DD_OPERAND... : dd out of PROC's mem from VA (to stdout or of=); the caller picks bs=.
mem_read() {
    local mem=$1/mem va=$2
    shift 2
    dd if="$mem" skip=$((va)) iflag=skip_bytes status=none "$@"
}

# roundtrip PROC VA SIZE FILE : SIZE random bytes (64 KB multiple, kept in FILE) written at VA read back.
roundtrip() {
    local proc=$1 va=$2 file=$4
    head -c "$3" /dev/urandom > "$file"
    mem_write "$proc" "$va" if="$file" bs=64K
    mem_read "$proc" "$va" bs=64K count=$(( $(stat -c %s "$file") / 65536 )) | cmp - "$file" \
        || fail "$proc/mem at $va did not read back what was written"
}

# poke PROC VA TEXT : TEXT at virtual address VA, in one write(2).
poke() { printf '%s' "$3" | mem_write "$1" "$2" bs=4096 conv=notrunc; }

# peek PROC VA N : the N bytes at virtual address VA, in one read(2).
peek() { mem_read "$1" "$2" bs="$3" count=1; }

# events_to FILE : system/events into FILE in the background ($!); open on return, so it sees what follows.
events_to() {
    exec 3< "$MMFS/system/events"
    cat <&3 > "$1" &
    exec 3<&-
}

# wait_until TENTHS COMMAND... : COMMAND succeeds within TENTHS tenths of a second (background work).
wait_until() {
    local tries=$1
    shift
    for _ in $(seq "$tries"); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# need COMMAND PACKAGE... : COMMAND must be on PATH. A missing one is installed with
# apt-get when we are root (once per machine: scenarios run in parallel, so dpkg is
# taken under a lock in /tmp and a scenario that waited sees the other's install);
# if it is still missing the scenario fails, it does not skip.
need() {
    local command=$1
    shift
    command -v "$command" > /dev/null && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get > /dev/null; then
        local log
        log=$(mktemp)
        (
            flock -w 600 9 || exit 1
            command -v "$command" > /dev/null && exit 0
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"
        ) 9> /tmp/mmfs-mount-tests-apt.lock > "$log" 2>&1 \
            || echo "need: installing $* failed: $(tail -5 "$log")" >&2
        rm -f "$log"
    fi
    command -v "$command" > /dev/null \
        || fail "$command is needed (package $*): install it, or run the tests as root with apt-get"
}

# test_user NAME : a second host user for the access scenarios (SPEC §9), made
# with useradd if missing (and then removed when the scenario exits; an
# existing one is reused and kept). Sets TU_NAME, TU_UID and TU_GID; `as_user`
# runs a command as it. Each scenario uses a name of its own, so scenarios
# running at once never remove each other's user.
test_user() {
    TU_NAME=$1
    if ! id -u "$TU_NAME" > /dev/null 2>&1; then
        useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "$TU_NAME" \
            || fail "useradd $TU_NAME failed (root needed)"
        trap 'userdel "$TU_NAME" > /dev/null 2>&1 || true' EXIT
    fi
    TU_UID=$(id -u "$TU_NAME")
    TU_GID=$(id -g "$TU_NAME")
    # The harness's temporary directory is root's (0700): the user must reach the mount.
    chmod 755 "$(dirname "$MMFS")"
}

# as_user COMMAND... : run COMMAND as the test user, with no supplementary groups.
as_user() {
    setpriv --reuid "$TU_UID" --regid "$TU_GID" --clear-groups -- "$@"
}

# as_user_sh SCRIPT [ARG...] : run a bash script as the test user ($1... are the ARGs).
as_user_sh() {
    local script=$1
    shift
    as_user bash -c "$script" _ "$@"
}
