# Two processes share a page through a section: what one writes the other reads;
# the prototype PTE counts both, survives one trim, and goes transition when
# both have trimmed it.
# mmfs-args: --ram 32M --pagefile 16M
source "$MMFS_LIB"
export LC_ALL=C  # ls order
S=$MMFS/sections
A=$MMFS/processes/a
B=$MMFS/processes/b

cmd "$S/control" 'create shm 64K' > /dev/null
mkdir "$A" "$B"
read -r ba sa <<< "$(cmd "$A/control" 'map shm 0 0 0 readwrite')"
read -r bb sb <<< "$(cmd "$B/control" 'map shm 0 0 0 readwrite')"
assert_eq "$sa" "0x10000" "view size in a"
assert_eq "$sb" "0x10000" "view size in b"
(( ba % 65536 == 0 && bb % 65536 == 0 )) || fail "views at $ba and $bb are not 64 KB aligned"
assert_eq "$(awk 'NR > 1 { print $1, $3, $4, $5 }' "$S/shm/views" | sort | tr '\n' ' ')" \
    "a 16 0x00000000 readwrite b 16 0x00000000 readwrite " "views"
assert_eq "$(( $(awk 'NR > 1 && $1 == "a" { print $2 }' "$S/shm/views") ))" "$((ba))" "a's base"
assert_eq "$(( $(awk 'NR > 1 && $1 == "b" { print $2 }' "$S/shm/views") ))" "$((bb))" "b's base"
assert_eq "$(awk 'NR > 1 && $1 == "a" { print $6 }' "$S/shm/views")" "$(kv "$A/status" Pid)" "a's pid"
assert_eq "$(kv "$S/shm/info" NumberOfMappedViews)" "2"
assert_eq "$(rows "$A/vads" '$4 == "mapped"')" "1" "a mapped VAD"
verify_ok

# a writes page 3; b reads the same bytes through its own view.
va=$(hexadd "$ba" 0x3000)
vb=$(hexadd "$bb" 0x3000)
poke "$A" "$va" 'hello from a'
pf1=$(counter prototype_faults)
assert_eq "$(peek "$B" "$vb" 12)" "hello from a" "b reads what a wrote"
pf2=$(counter prototype_faults)
(( pf2 > pf1 )) || fail "prototype_faults did not rise ($pf1 -> $pf2)"

pfn=$(proto_pte shm 3 pfn)
assert_eq "$(proto_pte shm 3 state share)" "valid 2" "page 3 shared by both"
assert_eq "$(kv "$A/pte/$va" Pfn)" "$pfn" "a maps the prototype's page"
assert_eq "$(kv "$B/pte/$vb" Pfn)" "$pfn" "b maps the prototype's page"
assert_eq "$(proto_pte shm 4 state share)" "demand-zero 0" "an untouched page"
verify_ok

# Trim a: the page stays valid for b.
cmd "$A/control" trim > /dev/null
assert_eq "$(proto_pte shm 3 state share)" "valid 1" "after trimming a"
assert_eq "$(kv "$A/pte/$va" State)" "prototype" "a's PTE points at the prototype again"
assert_eq "$(kv "$B/pte/$vb" State)" "valid"
verify_ok

# Trim b: nobody maps it; the prototype PTE is a transition PTE and the page
# waits on the modified (or, once written, standby) list.
cmd "$B/control" trim > /dev/null
assert_eq "$(proto_pte shm 3 state share)" "transition 0" "after trimming both"
assert_eq "$(proto_pte shm 3 pfn)" "$pfn" "same page"
on_list "$pfn" modified standby \
    || fail "$pfn is neither modified nor standby: $(kv "$MMFS/pfn/$pfn" State)"
verify_ok

# Touched again, it comes back from the list with its bytes.
assert_eq "$(peek "$A" "$va" 12)" "hello from a" "bytes kept across trims"
assert_eq "$(proto_pte shm 3 state share)" "valid 1"
verify_ok

# Unmapping both leaves no views; rmdir then removes the section.
read -r ub us <<< "$(cmd "$A/control" "unmap $(hexadd "$ba" 0x5000)")"
assert_eq "$((ub)) $us" "$((ba)) 0x10000" "unmap: the whole view, from any address in it"
cmd "$B/control" "unmap $bb" > /dev/null
assert_eq "$(rows "$S/shm/views")" "0" "no views left"
assert_eq "$(rows "$A/vads")" "0" "a's view VAD gone"
rmdir "$S/shm"
listed "$S" shm && fail "shm still listed"
verify_ok
