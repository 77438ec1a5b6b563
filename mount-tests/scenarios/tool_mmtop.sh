# mmtop (SPEC §8a), driven in tmux as a person would: it draws the processes by
# working set with the numbers their status files give, shows faults per second
# after a write, follows processes that come and go, adapts its layout when the
# window is resized, quits on `q` leaving the terminal as it found it, and exits
# with a message when its mount goes away.
# timeout: 120
source "$MMFS_LIB"
need tmux tmux
MMTOP=$(dirname "$MMFS_BIN")/mmtop
[[ -x $MMTOP ]] || fail "no mmtop built next to $MMFS_BIN"

# Without a terminal: the help, and the errors before the screen is taken.
"$MMTOP" --help | grep -q -- '-m, --mount <DIR>' || fail "mmtop --help names no -m"
expect_error "No such file or directory" "$MMTOP" -m "$PWD/nowhere"
mkdir -p fake/system && echo 'Key: 1' > fake/system/meminfo
expect_error "is this an mmfs mount" "$MMTOP" -m "$PWD/fake"
expect_error "0.1 to 3600 seconds" "$MMTOP" -m "$MMFS" -d 0

# A private tmux server (its own socket), gone when the scenario ends; so is the
# second mount made below if a check fails before it is unmounted.
T=(tmux -L "mmfs-mmtop-$$" -f /dev/null)
trap '"${T[@]}" kill-server 2> /dev/null || true; umount -l "$PWD/mnt2" 2> /dev/null || true' EXIT
"${T[@]}" new-session -d -s top -x 120 -y 40 -c "$PWD" "env PS1='$ ' bash --norc --noprofile"
screen() { "${T[@]}" capture-pane -p -t top; }
shows() { screen | grep -qE -- "$1"; }
type_line() { "${T[@]}" send-keys -t top "$1" Enter; }
# cols NAME : the words of NAME's row on the screen (PID NAME STATE WS ... FAULTS/S HARD/S).
cols() { screen | awk -v n="$1" '$2 == n && $1 ~ /^[0-9]+$/'; }
# wait_screen REGEX WHAT : the screen shows REGEX within 5 s.
wait_screen() { wait_until 50 shows "$1" || fail "$2; the screen:"$'\n'"$(screen)"; }

type_line 'stty -g > tty-before'
# Every 2 s: a rate stays on screen long enough to be read on a loaded machine.
type_line "$MMTOP -m $MMFS -d 2; echo mmtop-exit=\$?; stty -g > tty-after"
wait_screen '^SYSTEM THREAD' "mmtop did not draw its screen"
wait_screen '^ +4 System ' "the System process is not listed"

# Two processes; `big` gets 128 pages, `small` 16. Both appear, big first.
mkdir "$MMFS/processes/big" "$MMFS/processes/small"
wait_screen '^ +[0-9]+ small ' "a new process did not appear"
read -r base _ <<< "$(cmd "$MMFS/processes/big/control" 'alloc 0 1M reserve,commit readwrite')"
read -r sbase _ <<< "$(cmd "$MMFS/processes/small/control" 'alloc 0 64K reserve,commit readwrite')"
# The screen already has both, so the refresh after the writes has a rate for them.
head -c 512K /dev/urandom | mem_write "$MMFS/processes/big" "$base" bs=64K
head -c 64K /dev/urandom | mem_write "$MMFS/processes/small" "$sbase" bs=64K
# One capture: big's faults/s and the system's, shown by the same refresh.
faulting() {
    local s
    s=$(screen)
    grep -qE '^Faults/s +all [1-9]' <<< "$s" \
        && awk '$2 == "big" && $10 != "-" && $10 > 0 { ok = 1 } END { exit !ok }' <<< "$s"
}
wait_until 50 faulting || fail "no faults/s shown after the writes: $(screen)"
# The manual clock keeps the numbers still: the screen must show the status files' values.
st=$MMFS/processes/big/status
want="big running $(kv "$st" WorkingSetSize) $(kv "$st" PeakWorkingSetSize) $(kv "$st" PrivatePages) $(kv "$st" CommitCharge) 0 $(kv "$st" PageFaultCount)"
row_is() { [[ $(cols big | awk '{ print $2, $3, $4, $5, $6, $7, $8, $9 }') == "$want" ]]; }
wait_until 50 row_is || fail "big's row is not '$want': $(screen)"
(( $(kv "$st" PageFaultCount) >= 128 )) || fail "big took fewer faults than pages written"
order=$(screen | awk '$1 ~ /^[0-9]+$/ && NF >= 10 { printf "%s ", $2 }')
assert_eq "$order" "big small System " "processes by working set"
assert_match "$(screen | grep '^Memory')" "*available $(meminfo AvailablePages) (*" "available pages"
wait_until 50 eval '[[ $(cols big | awk "{ print \$10 }") == 0 ]]' \
    || fail "big's faults/s did not fall back to 0: $(screen)"

# A process that goes away leaves the screen.
rmdir "$MMFS/processes/small"
wait_until 50 eval '! shows " small "' || fail "small is still shown after rmdir: $(screen)"

# Narrow and short: the top wraps, columns give way, the threads table goes.
"${T[@]}" resize-window -t top -x 60 -y 16
wait_screen '^ +PID NAME +WS +COMMIT +FAULTS/S +HARD/S$' "the table did not drop columns at 60 wide"
shows '^SYSTEM THREAD' && fail "the threads table should give way at 16 rows: $(screen)"
screen | grep -A1 '^Memory' | tail -1 | grep -qE '^ {10}[a-z]' || fail "the Memory line did not wrap: $(screen)"
cols big | awk '{ exit !($3 > 0 && NF == 6) }' || fail "big's row at 60 wide: $(cols big)"
# Back to wide and tall: everything again.
"${T[@]}" resize-window -t top -x 120 -y 40
wait_screen '^ +PID NAME +STATE +WS +PEAK_WS' "the wide columns did not come back"
wait_screen '^SYSTEM THREAD' "the threads table did not come back"
wait_screen '^modified-page-writer +17 +waiting' "a system thread row is missing"

# q quits; the shell gets back its screen and its terminal modes.
"${T[@]}" send-keys -t top q
wait_screen '^mmtop-exit=0$' "mmtop did not exit 0 on q"
wait_until 30 test -s tty-after || fail "the shell did not run the line after mmtop"
cmp -s tty-before tty-after || fail "terminal modes not restored: $(cat tty-before) vs $(cat tty-after)"
assert_eq "$("${T[@]}" display -p -t top '#{alternate_on}')" 0 "alternate screen after q"
shows '^SYSTEM THREAD' && fail "mmtop's screen is still there after q: $(screen)"

# A second mount that goes away under mmtop: a message, status 1, terminal restored.
mkdir mnt2
"$MMFS_BIN" "$PWD/mnt2" --clock manual 2> mnt2.log &
mmfs2=$!
wait_until 100 grep -q " $PWD/mnt2 " /proc/self/mounts || fail "the second mmfs did not mount: $(cat mnt2.log)"
"${T[@]}" send-keys -t top C-l
rm -f tty-after
type_line "$MMTOP -m $PWD/mnt2; echo mmtop-exit=\$?; stty -g > tty-after"
wait_screen "^mmtop  $PWD/mnt2 " "mmtop did not draw the second mount"
umount "$PWD/mnt2"
wait_screen '^mmtop-exit=1$' "mmtop did not exit 1 when its mount went away"
"${T[@]}" capture-pane -p -J -t top | grep -q 'mnt2/system/meminfo.*gone away' || fail "no message about the mount: $(screen)"
wait_until 30 test -s tty-after || fail "the shell did not run the line after mmtop"
cmp -s tty-before tty-after || fail "terminal modes not restored after the mount went away"
assert_eq "$("${T[@]}" display -p -t top '#{alternate_on}')" 0 "alternate screen after the mount went"
wait "$mmfs2" || fail "the second mmfs exited with $? after umount"
verify_ok
