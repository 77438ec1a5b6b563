# The round trips a control-file command saves (docs/PERFORMANCE.md, Control-file
# commands) change nothing a client sees: O_TRUNC comes with the open
# (FUSE_ATOMIC_O_TRUNC) and still truncates files/ files and is still refused on
# generated ones; a read-only descriptor gets no FLUSH at close; getxattr is
# answered by the kernel (EOPNOTSUPP) once mmfs has said it has none.
source "$MMFS_LIB"
need python3 python3
ctl=$MMFS/system/control

# `>` on files/: the open truncates, read-write or read-only (as truncate(2) did).
printf 'a much longer first line\n' > "$MMFS/files/t"
echo hi > "$MMFS/files/t"
assert_eq "$(cat "$MMFS/files/t")" "hi" "truncated by > and rewritten"
assert_eq "$(stat -c %s "$MMFS/files/t")" "3" "size after >"
python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_TRUNC))' "$MMFS/files/t"
assert_eq "$(stat -c %s "$MMFS/files/t")" "0" "O_RDONLY|O_TRUNC truncates"

# A file a process maps cannot be truncated (STATUS_USER_MAPPED_FILE): the open
# fails and the bytes stay.
printf 'mapped bytes\n' > "$MMFS/files/m"
cmd "$MMFS/sections/control" "create msec 0 file=m" >/dev/null
mkdir "$MMFS/processes/r"
cmd "$MMFS/processes/r/control" "map msec 0 0 0 readwrite" >/dev/null
expect_error "Device or resource busy" bash -c 'echo x > "$1"' _ "$MMFS/files/m"
assert_eq "$(cat "$MMFS/files/m")" "mapped bytes" "a refused O_TRUNC changes nothing"

# Generated files and events refuse O_TRUNC (EACCES), even read-only.
expect_error "Permission denied" bash -c ': > "$1"' _ "$MMFS/system/counters"
expect_error "Permission denied" python3 -c 'import os, sys; os.open(sys.argv[1], os.O_RDONLY | os.O_TRUNC)' "$MMFS/system/counters"
expect_error "Permission denied" bash -c ': > "$1"' _ "$MMFS/system/events"
# mem and control accept it and change nothing.
cmd "$MMFS/processes/r/control" "alloc 0x500000 4K reserve,commit readwrite" >/dev/null
printf 'kept' | dd of="$MMFS/processes/r/mem" bs=4 seek=$((0x500000)) oflag=seek_bytes conv=notrunc status=none
: > "$MMFS/processes/r/mem"
assert_eq "$(dd if="$MMFS/processes/r/mem" bs=4 count=1 skip=$((0x500000)) iflag=skip_bytes status=none)" "kept" "mem unchanged by O_TRUNC"

# The outcome is read by many read-only opens (no FLUSH), and a partial line
# still runs at its writer's close (that descriptor is flushed).
echo 'tick 3' > "$ctl"
for _ in 1 2 3; do assert_eq "$(cat "$ctl")" "ok time_ms=3000" "outcome re-read"; done
printf 'tick 1' > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=4000" "partial line ran at close"
# Read-write descriptor: `<>` opens O_RDWR without O_TRUNC; its partial line runs at close too.
printf 'tick 1' 1<> "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=5000" "partial line on O_RDWR ran at close"

# No extended attributes: the kernel answers once mmfs said ENOSYS.
for _ in 1 2; do
    python3 - "$MMFS/system/counters" "$ctl" <<'PY'
import errno, os, sys
for path in sys.argv[1:]:
    try:
        os.getxattr(path, "user.x")
        sys.exit(f"getxattr {path} succeeded")
    except OSError as e:
        if e.errno != errno.EOPNOTSUPP:
            sys.exit(f"getxattr {path}: {e}")
    if os.listxattr(path) != []:
        sys.exit(f"listxattr {path} not empty")
PY
done

rmdir "$MMFS/processes/r"
verify_ok
