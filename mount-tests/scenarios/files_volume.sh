# files/: the --files volume as a real read-write directory tree. What the shell,
# coreutils, tar, cp -a, rsync, git and python do there works as on any disk,
# the host directory holds the same names and bytes, and nothing the daemon
# serves lies outside the volume (symlinks are stored, never followed by mmfs).
# timeout: 300
source "$MMFS_LIB"
F=$MMFS/files
HOST=$(kv "$MMFS/system/config" Files)
[[ -d "$F" ]] || fail "files/ is missing"
listed "$MMFS" files || fail "the root does not list files/"
assert_eq "$(ls -A "$F")" "" "a fresh volume is empty (no README of its own)"
grep -q 'files/' "$MMFS/README" || fail "the root README does not describe files/"

# Directories, files, sizes, append, truncate.
mkdir -p "$F/a/b/c"
[[ -d "$HOST/a/b/c" ]] || fail "mkdir -p did not reach the host"
echo hello > "$F/a/f"
assert_eq "$(cat "$F/a/f")" "hello"
assert_eq "$(stat -c %s "$F/a/f")" "6" "size after echo"
assert_eq "$(ls -l "$F/a/f" | awk '{ print $5 }')" "6" "ls -l size"
echo world >> "$F/a/f"
assert_eq "$(cat "$F/a/f")" $'hello\nworld' "append"
# The bytes are in the cache; the host file has its length at once and its
# bytes when they are written (the clock is manual: no lazy writer yet).
assert_eq "$(stat -c %s "$HOST/a/f")" "12" "the host size is set at once"
assert_eq "$(tr -d '\0' < "$HOST/a/f")" "" "the host bytes wait for a flush"
assert_eq "$(cmd "$MMFS/cache/control" 'flush a/f')" "1 pages written"
assert_eq "$(cat "$HOST/a/f")" $'hello\nworld' "the host file after the flush"
truncate -s 3 "$F/a/f"
assert_eq "$(cat "$F/a/f")" "hel" "truncate -s 3"
truncate -s 10000 "$F/a/f"
assert_eq "$(stat -c %s "$F/a/f")" "10000" "truncate -s up"
assert_eq "$(stat -c %s "$HOST/a/f")" "10000" "the host size"
python3 -c 'import os,sys; f=os.open(sys.argv[1], os.O_RDWR); os.ftruncate(f, 5); os.close(f)' "$F/a/f"
assert_eq "$(stat -c %s "$F/a/f")" "5" "ftruncate"
assert_eq "$(stat -c %s "$F/a")" "$(stat -c %s "$HOST/a")" "a directory's size is the host's"

# Attributes: chmod, chown (as root), times; stat shows the host's.
chmod 640 "$F/a/f"
assert_eq "$(stat -c %a "$F/a/f")" "640"
assert_eq "$(stat -c %a "$HOST/a/f")" "640" "host mode"
if [[ $(id -u) == 0 ]]; then
    chown 1234:5678 "$F/a/f"
    assert_eq "$(stat -c %u:%g "$F/a/f")" "1234:5678" "chown"
    assert_eq "$(stat -c %u:%g "$HOST/a/f")" "1234:5678" "host owner"
    chown 0:0 "$F/a/f"
fi
touch -d '2001-02-03 04:05:06' "$F/a/f"
assert_eq "$(stat -c %Y "$F/a/f")" "$(date -d '2001-02-03 04:05:06' +%s)" "touch -d"
assert_eq "$(stat -c %Y "$HOST/a/f")" "$(stat -c %Y "$F/a/f")" "host mtime"
touch -a -d '2002-01-01' "$F/a/f"
assert_eq "$(stat -c %X "$F/a/f")" "$(date -d '2002-01-01' +%s)" "touch -a"
assert_eq "$(stat -c %Y "$F/a/f")" "$(date -d '2001-02-03 04:05:06' +%s)" "mtime kept"
mkdir -m 700 "$F/private"
assert_eq "$(stat -c %a "$F/private")" "700" "mkdir -m"
(umask 077; echo x > "$F/umasked")
assert_eq "$(stat -c %a "$F/umasked")" "600" "the creator's umask"

# Hard links share an inode; symlinks are stored and shown.
ln "$F/a/f" "$F/a/hard"
assert_eq "$(stat -c %i "$F/a/hard")" "$(stat -c %i "$F/a/f")" "hard links: one inode"
assert_eq "$(stat -c %h "$F/a/f")" "2" "nlink"
assert_eq "$(ls -i "$F/a" | awk '$2 == "hard" { print $1 }')" "$(stat -c %i "$F/a/f")" "readdir's inode number"
ln -s f "$F/a/sym"
assert_eq "$(readlink "$F/a/sym")" "f"
assert_eq "$(readlink "$HOST/a/sym")" "f" "the host link"
assert_eq "$(head -c 3 "$F/a/sym")" "hel" "the kernel follows a link inside the mount"
assert_eq "$(stat -c %F "$F/a/sym")" "symbolic link"
ln -s 'odd target/../x' "$F/a/sym2"
assert_eq "$(readlink "$F/a/sym2")" "odd target/../x" "a target is stored as given"

# Renames: replace, RENAME_NOREPLACE, RENAME_EXCHANGE, a directory with its contents.
echo other > "$F/a/other"
mv "$F/a/other" "$F/a/hard"
assert_eq "$(cat "$F/a/hard")" "other" "mv replaces"
assert_eq "$(stat -c %h "$F/a/f")" "1" "the replaced link is gone"
echo keep > "$F/a/keep"
python3 - "$F/a" <<'EOF'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
NOREPLACE, EXCHANGE = 1, 2
def renameat2(a, b, flags):
    r = libc.renameat2(-100, a.encode(), -100, b.encode(), flags)
    return 0 if r == 0 else ctypes.get_errno()
assert renameat2("keep", "hard", NOREPLACE) == errno.EEXIST, "NOREPLACE over a file"
assert open("keep").read() == "keep\n" and open("hard").read() == "other\n"
assert renameat2("keep", "hard", EXCHANGE) == 0, "EXCHANGE"
assert open("keep").read() == "other\n" and open("hard").read() == "keep\n"
assert renameat2("keep", "new", NOREPLACE) == 0, "NOREPLACE to a free name"
assert not os.path.exists("keep") and open("new").read() == "other\n"
EOF
mv "$F/a/b" "$F/moved"
[[ -d "$F/moved/c" && ! -e "$F/a/b" ]] || fail "mv of a directory"
touch "$F/moved/c/deep"
[[ -f "$HOST/moved/c/deep" ]] || fail "a file made under a moved directory is in the right place"
mv "$F/moved" "$F/a/b"
echo again > "$F/a/b/c/deep"
cmd "$MMFS/cache/control" flush > /dev/null
assert_eq "$(cat "$HOST/a/b/c/deep")" "again" "moved back"
if mv --help 2>&1 | grep -q -- '--no-clobber'; then
    echo nc > "$F/nc"
    mv --no-clobber "$F/nc" "$F/a/new" 2>/dev/null || true
    assert_eq "$(cat "$F/a/new")" "other" "mv --no-clobber keeps the target"
fi

# Removal.
expect_error "Directory not empty" rmdir "$F/a"
rm "$F/a/hard" "$F/a/new"
[[ ! -e "$HOST/a/hard" ]] || fail "rm did not reach the host"
rm -r "$F/a/b"
rmdir "$F/private"
expect_error "No such file or directory" rm "$F/nothing"
expect_error "Not a directory" rmdir "$F/a/f"
expect_error "File exists" mkdir "$F/a"
expect_error "File name too long" touch "$F/$(printf 'x%.0s' {1..300})"

# A directory of 3000 files lists whole, with stable cookies.
mkdir "$F/many"
(cd "$F/many" && seq -f 'file-%05g' 1 3000 | xargs touch)
assert_eq "$(ls "$F/many" | wc -l)" "3000" "ls | wc -l"
assert_eq "$(ls -f "$F/many" | wc -l)" "3002" "with . and .."
assert_eq "$(ls "$F/many" | sort -u | wc -l)" "3000" "no name twice"
assert_eq "$(find "$F/many" -type f | wc -l)" "3000" "find"
rm -r "$F/many"

# Data: a 20 MB random file, cp, cmp, sha256sum; the host has the same bytes.
head -c 20M /dev/urandom > random.bin
cp random.bin "$F/random.bin"
cmp random.bin "$F/random.bin" || fail "cp of 20 MB differs"
assert_eq "$(sha256sum < "$F/random.bin")" "$(sha256sum < random.bin)" "sha256sum"
sync "$F/random.bin"
cmp random.bin "$HOST/random.bin" || fail "the host file differs after fsync"
assert_eq "$(stat -c %s "$F/random.bin")" "20971520" "size"
dd if="$F/random.bin" bs=7777 status=none | cmp - random.bin || fail "odd-sized reads"
printf 'PATCH' | dd of="$F/random.bin" bs=1 seek=123457 conv=notrunc status=none
printf 'PATCH' | dd of=random.bin bs=1 seek=123457 conv=notrunc status=none
cmp random.bin "$F/random.bin" || fail "a write in the middle"

# O_DIRECT: aligned transfers work, unaligned ones are EINVAL.
dd if=/dev/urandom of=direct.bin bs=4096 count=8 status=none
dd if=direct.bin of="$F/direct.bin" bs=4096 oflag=direct status=none
cmp direct.bin "$F/direct.bin" || fail "O_DIRECT write"
dd if="$F/direct.bin" bs=512 iflag=direct status=none | cmp - direct.bin || fail "O_DIRECT read"
expect_error "Invalid argument" dd if=direct.bin of="$F/direct.bin" bs=1000 count=1 oflag=direct conv=notrunc status=none
expect_error "Invalid argument" dd if="$F/direct.bin" of=/dev/null bs=1000 count=1 iflag=direct status=none
dd if=direct.bin of="$F/sync.bin" bs=4096 oflag=sync status=none
cmp direct.bin "$F/sync.bin" || fail "O_SYNC write"

# A host mmap of a files/ file (FUSE direct-io mmap) sees the file's bytes;
# writes through the mapping reach the file.
python3 - "$F/random.bin" random.bin "$F/direct.bin" <<'EOF'
import mmap, os, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "rb") as want:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    assert m[:] == want.read(), "mmap read differs"
    m.close()
fd = os.open(sys.argv[3], os.O_RDWR)
m = mmap.mmap(fd, 0)
m[4096:4101] = b"MAPPD"
m.flush()
m.close()
assert os.pread(fd, 5, 4096) == b"MAPPD", "a mapped write is not in the file"
os.pwrite(fd, b"WRITE", 0)
m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
assert m[:5] == b"WRITE", "the mapping does not see a write"
m.close()
os.close(fd)
EOF
cmd "$MMFS/cache/control" flush > /dev/null
assert_eq "$(dd if="$HOST/direct.bin" bs=1 skip=4096 count=5 status=none)" "MAPPD" "the host file has the mapped write"

# cp -a and tar keep a tree whole, with modes and times.
mkdir -p tree/sub/deeper
seq 1000 > tree/numbers
echo 'a file' > tree/sub/one
head -c 100000 /dev/urandom > tree/sub/deeper/blob
chmod 751 tree/sub
chmod 600 tree/sub/one
ln -s ../numbers tree/sub/link
ln tree/numbers tree/numbers.hard
touch -d '2010-05-06 07:08:09' tree/sub/one
cp -a tree "$F/tree"
diff -r tree "$F/tree" || fail "cp -a: contents differ"
meta() { (cd "$1" && find . -mindepth 1 -printf '%P %m %T@ %s %y %l\n' | sort); }
assert_eq "$(meta "$F/tree")" "$(meta tree)" "cp -a: modes, times, sizes, links"
assert_eq "$(stat -c %h "$F/tree/numbers")" "2" "cp -a keeps hard links"
tar -C "$F" -cf tree.tar tree
mkdir untar && tar -C untar -xf tree.tar
diff -r tree untar/tree || fail "tar out of files/ differs"
mkdir "$F/untar" && tar -C "$F/untar" -xf tree.tar
diff -r tree "$F/untar/tree" || fail "tar into files/ differs"
# tar keeps whole seconds.
seconds() { awk '{ $3 = int($3); print }'; }
assert_eq "$(meta "$F/untar/tree" | seconds)" "$(meta tree | seconds)" "tar x: modes, times"
assert_eq "$(du -s --apparent-size "$F/tree" | cut -f1)" "$(du -s --apparent-size "$HOST/tree" | cut -f1)" "du"
if command -v rsync > /dev/null; then
    rsync -a tree/ "$F/rsynced/"
    diff -r tree "$F/rsynced" || fail "rsync in"
    rsync -a "$F/rsynced/" back/
    diff -r tree back || fail "rsync out"
fi
if command -v git > /dev/null; then
    (
        cd "$F" && mkdir repo && cd repo
        git init -q && cp -r ../tree . && git add -A
        git -c user.name=t -c user.email=t@t commit -qm one
        echo more >> tree/numbers && git -c user.name=t -c user.email=t@t commit -qam two
        git fsck --strict 2>&1 && git gc -q && git fsck
        [[ "$(git log --oneline | wc -l)" == 2 ]]
    ) > git.out 2>&1 || fail "git in files/: $(cat git.out)"
fi

# statfs: df of files/ shows the host volume.
host_df=$(df -k --output=size "$HOST" | tail -1)
assert_eq "$(df -k --output=size "$F" | tail -1)" "$host_df" "df size"
assert_eq "$(stat -f -c %l "$F")" "$(stat -f -c %l "$HOST")" "max name length"

# Odd names: every byte but NUL and '/' is a name, kept as is on the host.
python3 - "$F" "$HOST" "$MMFS/cache/control" <<'EOF'
import os, sys
vol, host = (os.fsencode(a) for a in sys.argv[1:3])
os.mkdir(os.path.join(vol, b"odd"))
names = [bytes([c]) for c in range(1, 256) if c not in (ord("/"), ord("."))]
names.append(bytes(c for c in range(1, 256) if c != ord("/")))
names += [b"...", b".. ", b" ..", b"-rf", b"a\nb"]
for n in names:
    with open(os.path.join(vol, b"odd", n), "wb") as f:
        f.write(n)
listed = set(os.listdir(os.path.join(vol, b"odd")))
assert listed == set(names), "listing differs"
assert set(os.listdir(os.path.join(host, b"odd"))) == set(names), "host names differ"
with open(sys.argv[3], "w") as ctl:  # cache/control: write the cached bytes
    ctl.write("flush\n")
for n in names:
    assert open(os.path.join(host, b"odd", n), "rb").read() == n
EOF
rm -r "$F/odd"

# Escapes: a symlink to / or up and out is stored; the kernel follows it for
# the caller, from the caller's own root or the mount; mmfs never does.
ln -s / "$F/esc"
ln -s ../.. "$F/up"
assert_eq "$(readlink "$F/esc")" "/" "the link is stored"
assert_eq "$(stat -c %F "$HOST/esc")" "symbolic link" "on the host too"
mmfs_dev=$(stat -c %d "$F")
assert_eq "$(stat -c %d "$MMFS")" "$mmfs_dev" "files/ is part of the mount"
# Through the link the kernel reaches the caller's own /, not a directory mmfs serves.
[[ "$(stat -L -c %d "$F/esc")" != "$mmfs_dev" ]] || fail "files/esc/ is served by mmfs"
assert_eq "$(ls "$F/esc/" | sort)" "$(ls / | sort)" "files/esc/ is the caller's own /"
assert_eq "$(stat -L -c %i "$F/up")" "$(stat -c %i "$MMFS/..")" "files/up is the mount's parent, resolved by the kernel"
# Nothing mmfs serves lies outside the volume: every file reached through
# files/ without following a link is the host file of the same name.
while IFS= read -r -d '' p; do
    rel=${p#"$F"}
    [[ -e "$HOST$rel" || -L "$HOST$rel" ]] || fail "files$rel has no host file"
    assert_eq "$(stat -c %s:%h:%a "$p")" "$(stat -c %s:%h:%a "$HOST$rel")" "files$rel"
done < <(find "$F" -mindepth 1 -print0)
# sections/control file= names the same volume.
assert_eq "$(cmd "$MMFS/sections/control" 'create vol 0 file=direct.bin')" "vol 0x8000" "a section over a files/ file"
rmdir "$MMFS/sections/vol"

# Busy files: unlinking or renaming over a file a process maps is EBUSY.
mkdir "$MMFS/processes/mapper"
cmd "$MMFS/sections/control" 'create m 0 file=tree/numbers' > /dev/null
cmd "$MMFS/processes/mapper/control" 'map m 0 0 0 readonly' > /dev/null
rmdir "$MMFS/sections/m"
# EBUSY (STATUS_CANNOT_DELETE), and the file stays; so for a rename over it,
# and a truncation below the view (STATUS_USER_MAPPED_FILE).
rm "$F/tree/numbers" 2> busy.err && fail "unlink of a mapped file succeeded"
assert_match "$(cat busy.err)" "*Device or resource busy*" "unlink of a mapped file"
[[ -f "$HOST/tree/numbers" ]] || fail "a refused unlink removed the file"
echo x > "$F/other"
mv "$F/other" "$F/tree/numbers" 2> busy.err && fail "a rename over a mapped file succeeded"
assert_match "$(cat busy.err)" "*Device or resource busy*" "rename over a mapped file"
truncate -s 0 "$F/tree/numbers" 2> busy.err && fail "truncating a mapped file succeeded"
assert_match "$(cat busy.err)" "*Device or resource busy*" "truncate below a view"
assert_eq "$(seq 1000 | cmp - "$F/tree/numbers" && echo same)" "same" "the mapped file is unchanged"
rmdir "$MMFS/processes/mapper"
rm "$F/tree/numbers" "$F/other"

rm -r "$F"/*
assert_eq "$(ls -A "$F")" "" "emptied"
assert_eq "$(ls -A "$HOST")" "" "the host directory is empty too"
verify_ok
