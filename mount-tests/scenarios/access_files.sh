# mmfs-args: --allow-other
# SPEC §9 in files/: the host's permissions apply to the calling user (the
# kernel checks them against the host's own owner and mode, which stat shows),
# and what a user creates there is theirs, on the host too.
source "$MMFS_LIB"
test_user mmfsacc2
U=$TU_NAME
f=$MMFS/files
denied="Permission denied"
host=$(kv "$MMFS/system/config" Files)

# The volume's directory is a fresh root-only temporary one: open it up.
chmod 755 "$f"
assert_eq "$(stat -c '%a %U' "$f")" "755 root" "files/"
assert_eq "$(stat -c '%a' "$host")" "755" "the host directory"

# A root file of mode 0600 is unreadable to the user; 0644 is readable.
echo secret > "$f/secret"
chmod 600 "$f/secret"
assert_eq "$(stat -c '%a %U' "$f/secret")" "600 root" "secret"
expect_error "$denied" as_user cat "$f/secret"
echo public > "$f/public"
chmod 644 "$f/public"
assert_eq "$(as_user cat "$f/public")" "public" "a 0644 file read by the user"
expect_error "$denied" as_user_sh 'echo x >> "$1"' "$f/public"
expect_error "Operation not permitted" as_user chmod 666 "$f/public"

# The user cannot write into a root 0755 directory.
mkdir -m 755 "$f/rootdir"
expect_error "$denied" as_user touch "$f/rootdir/x"
expect_error "$denied" as_user mkdir "$f/rootdir/d"
expect_error "$denied" as_user rm "$f/public"
[[ ! -e "$host/rootdir/x" ]] || fail "the refused create made a host file"

# In a directory open to all (1777), what the user makes is theirs: a file,
# a directory, a symlink, a FIFO; a hard link to their file stays theirs.
mkdir -m 1777 "$f/shared"
as_user_sh 'echo mine > "$1/mine"' "$f/shared"
as_user mkdir "$f/shared/dir"
as_user ln -s mine "$f/shared/link"
as_user mkfifo "$f/shared/fifo"
as_user ln "$f/shared/mine" "$f/shared/hard"
for n in mine dir fifo hard; do
    assert_eq "$(stat -c %U:%G "$f/shared/$n")" "$U:$U" "shared/$n through the mount"
    assert_eq "$(stat -c %U:%G "$host/shared/$n")" "$U:$U" "shared/$n on the host"
done
assert_eq "$(stat -c %U "$host/shared/link")" "$U" "the symlink on the host"
assert_eq "$(as_user cat "$f/shared/link")" "mine" "the user's file through their symlink"
# The user's umask and mode stand: a private file of theirs is theirs alone.
as_user_sh 'umask 077; echo private > "$1"' "$f/shared/private"
assert_eq "$(stat -c '%a %U' "$f/shared/private")" "600 $U" "the user's private file"
assert_eq "$(cat "$f/shared/private")" "private" "root reads the user's file"
# The sticky directory keeps root's file from the user.
echo rootfile > "$f/shared/rootfile"
expect_error "Operation not permitted" as_user rm "$f/shared/rootfile"
as_user rm "$f/shared/hard" "$f/shared/fifo"
as_user rmdir "$f/shared/dir"
verify_ok
