# sections/: create sections, see their directories and files appear, read info,
# prototype-ptes and views, extend a file-backed one, and remove them with rmdir.
# mmfs-args: --ram 32M --pagefile 16M
source "$MMFS_LIB"
export LC_ALL=C  # ls order
S=$MMFS/sections
commit0=$(meminfo CommitCharge)

assert_eq "$(entries "$S")" "README control " "an empty sections/"
assert_eq "$(cmd "$S/control" help)" "create NAME SIZE [file=PATH] [prot=PROT] [image], help"

# A pagefile-backed section: every page committed now, every prototype PTE demand zero.
assert_eq "$(cmd "$S/control" 'create shm 64K')" "shm 0x10000" "create result"
listed "$S" shm || fail "shm not listed"
assert_eq "$(entries "$S/shm")" "README control info prototype-ptes views " "files of shm"
[[ -d "$S/shm" && -f "$S/shm/info" && -f "$S/shm/control" ]] || fail "shm/ is not a directory of files"
grep -q 'prototype-ptes' "$S/shm/README" || fail "shm/README does not explain prototype-ptes"
grep -q 'create NAME SIZE' "$S/README" || fail "sections/README does not explain create"
assert_eq "$(kv "$S/shm/info" Name)" "shm"
assert_eq "$(kv "$S/shm/info" Size)" "0x10000"
assert_eq "$(kv "$S/shm/info" Pages)" "16"
assert_eq "$(kv "$S/shm/info" Backing)" "pagefile"
assert_eq "$(kv "$S/shm/info" Protection)" "readwrite"
assert_eq "$(kv "$S/shm/info" NumberOfMappedViews)" "0"
# Its 16 pages, and the page of paged pool holding its prototype PTEs.
assert_eq "$(meminfo CommitCharge)" "$((commit0 + 17))" "a pagefile-backed section is committed"

ppte=$S/shm/prototype-ptes
assert_eq "$(head -n 1 "$ppte")" "# index offset pte state pfn address share"
assert_eq "$(rows "$ppte")" "16" "one prototype PTE per page"
bad=$(awk 'NR > 1 && ($1 != NR - 2 || $2 != sprintf("0x%08x", $1 * 4096) || $4 != "demand-zero" || $5 != "-" || $7 != 0)' "$ppte")
[[ -z "$bad" ]] || fail "unexpected prototype PTE rows: $bad"
assert_eq "$(row_widths "$ppte")" "1" "fixed-width rows"
assert_eq "$(cat "$S/shm/views")" "# process base size offset protection pid" "no views yet"
assert_match "$(cmd "$S/shm/control" help)" "extend SIZE*no-write*allow-write*"

# A second section: read-only, a size that is not a page multiple.
assert_eq "$(cmd "$S/control" 'create ro 10000 prot=PAGE_READONLY')" "ro 0x2710"
assert_eq "$(kv "$S/ro/info" Protection)" "readonly"
assert_eq "$(kv "$S/ro/info" Pages)" "3"
assert_eq "$(rows "$S/ro/prototype-ptes")" "3"
assert_eq "$(entries "$S")" "README control ro shm " "both listed"
assert_eq "$(cmd "$S/ro/control" no-write)" "0" "no pages to hold back yet"
assert_eq "$(cmd "$S/ro/control" allow-write)" "0" "no pages to release"

# A file-backed section on a file of the --files volume, extended.
files=$(kv "$MMFS/system/config" Files)
head -c 8192 /dev/urandom > "$files/data.bin"
assert_eq "$(cmd "$S/control" 'create fsec 0 file=data.bin')" "fsec 0x2000" "SIZE 0 takes the file's size"
assert_eq "$(kv "$S/fsec/info" Backing)" "file"
assert_eq "$(kv "$S/fsec/info" File)" "data.bin"
assert_eq "$(rows "$S/fsec/prototype-ptes" '$4 == "mapped-file"')" "2"
assert_eq "$(cmd "$S/fsec/control" 'extend 16K')" "0x4000" "extended"
assert_eq "$(kv "$S/fsec/info" Size)" "0x4000"
assert_eq "$(rows "$S/fsec/prototype-ptes")" "4"
assert_eq "$(stat -c %s "$files/data.bin")" "16384" "the file grew with the section"
assert_eq "$(cmd "$S/fsec/control" 'extend 4K')" "0x4000" "a smaller size changes nothing"
verify_ok

# A control file held open across rmdir reaches nothing: not a later section of
# the same name either.
exec 4> "$S/shm/control"
rmdir "$S/shm"
[[ ! -e "$S/shm" ]] || fail "shm still there after rmdir"
listed "$S" shm && fail "shm still listed"
expect_error "No such file or directory" cat "$S/shm/info"
expect_error "No such file or directory" rmdir "$S/shm"
assert_eq "$(cmd "$S/control" 'create shm 4K')" "shm 0x1000" "the name is free again"
expect_error "No such file or directory" bash -c 'printf "no-write\n" >&4'
exec 4>&-
assert_eq "$(rows "$S/shm/prototype-ptes")" "1" "the new shm"

# mkdir cannot make a section (it needs a size); files are not directories.
expect_error "Operation not permitted" mkdir "$S/made"
expect_error "File exists" mkdir "$S/ro"
expect_error "Not a directory" rmdir "$S/control"
expect_error "Operation not permitted" rm -f "$S/ro/info"

# Removing every section returns its commit.
rmdir "$S/shm" "$S/ro" "$S/fsec"
assert_eq "$(entries "$S")" "README control " "all removed"
assert_eq "$(meminfo CommitCharge)" "$commit0" "commit returned"
verify_ok
