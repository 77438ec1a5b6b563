# Control files: outcome text, errno on failure, several lines per write,
# per-descriptor outcomes, partial lines, O_TRUNC from `>`.
source "$MMFS_LIB"
ctl=$MMFS/system/control

# echo cmd > control works (open with O_TRUNC) and the outcome is readable.
echo 'tick 5' > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=5000" "outcome after tick"

# An unknown verb fails with EINVAL and a readable reason; state is unchanged.
expect_write_error "Invalid argument" "$ctl" "frob 1 2"
assert_match "$(cat "$ctl")" "error STATUS_INVALID_PARAMETER: unknown command 'frob'*" "outcome after frob"
expect_write_error "Invalid argument" "$ctl" "tick banana"
assert_match "$(cat "$ctl")" "error STATUS_INVALID_PARAMETER: 'banana' is not a number of seconds*"
echo 'tick 0' > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=5000" "time unchanged by failed commands"

# Several lines in one write run in order and stop at the first failure.
# (dd iflag=fullblock makes it exactly one write(2); a shell's printf may split it.)
expect_error "Invalid argument" bash -c "printf 'tick 1\ntick 2\nbogus\ntick 100\n' | dd of='$ctl' bs=64K iflag=fullblock status=none"
echo 'tick 0' > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=8000" "lines after the failure did not run"

# A failure also stops a partial line that arrived in the same write.
expect_error "Invalid argument" bash -c "printf 'bogus\ntick 7' | dd of='$ctl' bs=64K iflag=fullblock status=none"
assert_match "$(cat "$ctl")" "error STATUS_INVALID_PARAMETER: unknown command 'bogus'*" "failure outcome kept"
echo 'tick 0' > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=8000" "the partial line after the failure did not run"

# Blank lines and comments are not commands.
printf '\n# a comment\n\ntick 1\n\n' > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=9000"

# A partial line is buffered until its newline, even across writes. (The group
# redirects once, so each printf is a separate write(2) on one open file.)
{ printf 'tic'; sleep 0.1; printf 'k 1'; sleep 0.1; printf '\n'; } > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=10000" "split line"

# A last line without a newline runs at close.
printf 'tick 2' > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=12000" "line completed by close"

# Per-descriptor outcome: a writer reading back on its own descriptor sees its own
# command's outcome even after another writer ran a different command.
exec 4<> "$ctl"
printf 'tick 1\n' >&4
echo 'help' > "$ctl"
own=$(dd bs=4096 count=1 status=none <&4 || true)
exec 4>&-
assert_eq "$own" "ok time_ms=13000" "own outcome on the same descriptor"
assert_match "$(cat "$ctl")" "ok tick*" "others see the last command's outcome"

# Generated files cannot be written or truncated; nothing new can be created.
expect_error "Permission denied" bash -c "echo x > '$MMFS/system/config'"
expect_error "Permission denied" bash -c "echo x > '$MMFS/system/newfile'"
expect_error "Operation not permitted" rm -f "$MMFS/system/config"

# Hostile bytes: binary junk and an over-long line fail cleanly; the daemon lives on.
expect_error "Invalid argument" bash -c "head -c 3000 /dev/urandom | tr '\n' x | sed 's/\$/\n/' > '$ctl'"
expect_error "Invalid argument" bash -c "head -c 70000 /dev/zero | tr '\0' a > '$ctl'"
echo 'tick 0' > "$ctl"
assert_eq "$(cat "$ctl")" "ok time_ms=13000" "daemon still serving"
