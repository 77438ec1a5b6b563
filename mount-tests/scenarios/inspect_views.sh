# The views an instructor needs for the classic experiments: the !pte view's
# address split, physical address, WinDbg flags and explanations; ptes agreeing
# with pte/<VA> on protection (a forked child's prototype pointers included);
# the standby lists by priority and RAMMap's priority summary; the thresholds
# in meminfo; a process's fork clone blocks and their reference counts.
# mmfs-args: --ram 16M
source "$MMFS_LIB"
P=$MMFS/processes/app
L=$MMFS/pfn/lists
T=$MMFS/pfn/priorities
mkdir "$P"

# --- pte/<VA> (x86: PDE and PTE) ---
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit readwrite')"
va=$(hexadd "$base" 0x3123)
poke "$P" "$va" "physical"
head -c 256K /dev/urandom | mem_write "$P" "$(hexadd "$base" 0x40000)" bs=64K
pte=$P/pte/$va
assert_eq "$(kv "$pte" State)" "valid"
assert_eq "$(kv "$pte" PdeIndex)" "$(printf '0x%03x' $(( va >> 22 )))"
assert_eq "$(kv "$pte" PteIndex)" "$(printf '0x%03x' $(( (va >> 12) & 0x3ff )))"
assert_eq "$(kv "$pte" ByteOffset)" "0x123"
pfn=$(kv "$pte" Pfn)
pa=$(printf '0x%08x' $(( pfn * 4096 + 0x123 )))
assert_eq "$(kv "$pte" PhysicalAddress)" "$pa"
# The PTE's address is its index in the PDE's page table (PTE_BASE + VPN * 4).
assert_eq "$(kv "$pte" PteAddress)" "$(printf '0x%08x' $(( 0xC0000000 + (va >> 12) * 4 )))"
# x86 without PAE has no NX bit: WinDbg always shows E.
assert_eq "$(kv "$pte" WinDbgFlags)" "---DA--UWEV"
assert_match "$(kv "$pte" PdeWinDbgFlags)" "[C-][G-][L-][D-][A-][N-][T-][UK][WR][E-]V"
assert_eq "$(kv "$pte" Flags)" "WUAD--" "Flags keeps its letters"
assert_match "$(kv "$pte" PagingLevels)" "PDE PTE*no PPE or PXE*"
grep -q '^StateExplanation:' "$pte" && fail "a valid page needs no explanation"
# The original keys still come first, in their order.
assert_eq "$(awk -F: 'NR <= 10 { printf "%s ", $1 }' "$pte")" \
    "VirtualAddress PdeAddress PdeValue PteAddress PteValue State Pfn Protection Flags Vad "
# State none, explained.
none=$P/pte/$(hexadd "$base" 0x5000)
assert_eq "$(kv "$none" State)" "none"
assert_match "$(kv "$none" StateExplanation)" "the PTE is zero*committed*demand-zero*"
far=$P/pte/0x40000000
assert_eq "$(kv "$far" State)" "none"
assert_match "$(kv "$far" StateExplanation)" "no page table*PDE is not valid*no VAD*access violation"
# In transition the frame and the physical address stay; the flags go.
cmd "$P/control" trim > /dev/null
assert_eq "$(kv "$pte" State)" "transition"
assert_eq "$(kv "$pte" PhysicalAddress)" "$pa"
grep -q '^WinDbgFlags:' "$pte" && fail "a transition PTE has no valid flags"
verify_ok

# --- the standby lists by priority ---
cmd "$MMFS/system/control" flush-modified > /dev/null
standby=$(meminfo StandbyPages)
(( standby >= 65 )) || fail "the trimmed pages are on standby: $standby"
assert_eq "$(cat "$L"/standby-{0..7} | md5sum)" "$(md5sum < "$L/standby")" \
    "standby is standby-0 ... standby-7, one after the other"
assert_eq "$(wc -l < "$L/standby-3")" "$standby" "every page has the default priority, 3"
for p in 0 1 2 4 5 6 7; do
    assert_eq "$(wc -l < "$L/standby-$p")" "0" "standby-$p"
done
head1=$(head -1 "$L/standby-3")
assert_eq "$(awk -v p="$head1" '$1 == p { print $2, $9 }' "$MMFS/pfn/db")" "standby 3"
assert_eq "$(head -1 "$T")" "# priority standby repurposed"
assert_eq "$(rows "$T")" "8"
assert_eq "$(awk '$1 == 3 { print $2 }' "$T")" "$standby"
assert_eq "$(awk 'NR > 1 { s += $3 } END { print s }' "$T")" "0" "nothing repurposed yet"
listed "$L" standby-7 || fail "standby-7 is not listed"
[[ -e "$L/standby-8" ]] && fail "there is no ninth standby list"

# --- the thresholds (16 MB: WRK's small-machine values) ---
assert_eq "$(meminfo MinimumFreePages)" "26"
assert_eq "$(meminfo PlentyFreePages)" "400"
assert_eq "$(meminfo WorkingSetManagerGoal)" "600"
assert_eq "$(meminfo ModifiedPageMaximum)" "100"
assert_eq "$(meminfo ZeroPageThreadWake)" "8"
assert_eq "$(meminfo RepurposedTrimThreshold)" "$(( $(meminfo AvailablePages) / 4 ))"
assert_eq "$(awk -F: 'NR == 18 { print $1 }' "$MMFS/system/meminfo")" "ResidentAvailablePages" \
    "the SPEC's keys keep their places"

# Memory pressure repurposes standby pages; RAMMap's summary counts them.
B=$MMFS/processes/big
mkdir "$B"
read -r bb _ <<< "$(cmd "$B/control" 'alloc 0 24M reserve,commit readwrite')"
head -c 24M /dev/zero | mem_write "$B" "$bb" bs=1M
repurposed=$(counter pages_repurposed)
(( repurposed > 0 )) || fail "24 MB through 16 MB of RAM repurposed nothing"
assert_eq "$(awk 'NR > 1 { s += $3 } END { print s }' "$T")" "$repurposed"
(( $(awk '$1 == 3 { print $3 }' "$T") > 0 )) || fail "priority 3 pages were repurposed"
assert_eq "$(meminfo RepurposedSinceLastPass)" "$repurposed" "no working-set manager pass yet"
cmd "$MMFS/system/control" 'run working-set-manager' > /dev/null
assert_eq "$(meminfo RepurposedSinceLastPass)" "0" "the pass saw them"
rmdir "$B"
verify_ok

# --- fork: clone blocks, and ptes agreeing with pte/<VA> ---
C=$MMFS/processes/child
read -r fb _ <<< "$(cmd "$P/control" 'alloc 0 64K reserve,commit readwrite')"
fb1=$(hexadd "$fb" 0x1000)
poke "$P" "$fb" "parent"
poke "$P" "$fb1" "page one"
assert_eq "$(rows "$P/clones")" "0" "no fork yet"
cmd "$P/control" 'fork child' > /dev/null
assert_eq "$(head -1 "$C/clones")" "# va block_address clone_ca index refs state pfn pte"
clone_row() { awk -v va="$2" '$1 == va' "$1/clones"; }
read -r _ block ca index refs state _ ptestate <<< "$(clone_row "$P" "$fb")"
assert_eq "$refs $state $ptestate" "2 valid valid" "the parent maps the block's page"
read -r _ cblock cca cindex crefs _ _ cptestate <<< "$(clone_row "$C" "$fb")"
assert_eq "$cblock $cca $cindex $crefs $cptestate" "$block $ca $index 2 prototype" \
    "the child points at the same block"
assert_eq "$(kv "$C/pte/$fb" PrototypePte)" "$block"
# The child's PTE holds zero-access (use the prototype PTE's protection): both
# files resolve it to the block's writecopy.
assert_eq "$(awk -v va="$fb" '$1 == va { print $3, $5 }' "$C/ptes")" "prototype writecopy"
assert_eq "$(kv "$C/pte/$fb" Protection)" "writecopy"
for proc in "$P" "$C"; do
    while read -r pva _ _ _ prot; do
        (( pva >= fb && pva < fb + 0x10000 )) || continue
        want=$(kv "$proc/pte/$pva" Protection)
        assert_eq "$prot" "${want/#none/-}" "$proc ptes and pte/$pva"
    done < <(awk 'NR > 1' "$proc/ptes")
done
# The child copies page 0 on write: it no longer refers to that block.
poke "$C" "$fb" "child!"
[[ -z "$(clone_row "$C" "$fb")" ]] || fail "the child still refers to block $block"
assert_eq "$(clone_row "$P" "$fb" | awk '{ print $5 }')" "1"
assert_eq "$(clone_row "$P" "$fb1" | awk '{ print $5 }')" "2"
verify_ok
rmdir "$C"
assert_eq "$(clone_row "$P" "$fb1" | awk '{ print $5 }')" "1" "the child's references went with it"
verify_ok

# The READMEs say what each new file and key is.
for word in standby-0 priorities; do
    assert_file_contains "$MMFS/pfn/README" "$word"
done
assert_file_contains "$L/README" "standby-7"
assert_file_contains "$P/README" "clones"
assert_file_contains "$P/README" "effective"
assert_file_contains "$P/pte/README" "WinDbgFlags"
assert_file_contains "$P/pte/README" "StateExplanation"
for key in MinimumFreePages PlentyFreePages WorkingSetManagerGoal ModifiedPageMaximum \
    ZeroPageThreadWake RepurposedTrimThreshold; do
    assert_file_contains "$MMFS/system/README" "$key"
done
