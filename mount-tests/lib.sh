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
