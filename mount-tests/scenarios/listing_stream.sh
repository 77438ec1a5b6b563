# mmfs-args: --ram 8G
# timeout: 300
# The large listings stream (SPEC §2): on an 8 GB machine the first bytes of
# pfn/db come without rendering the file, any offset of pfn/db is its row,
# ptes and workingset read in 4 KiB chunks equal one read, each list counts
# its pages, and the daemon's memory while a listing is open is a chunk's,
# not the file's (200 MB here), back near idle once it is closed.
source "$MMFS_LIB"
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$MMFS_PID/status"; }
db=$MMFS/pfn/db
pages=$(meminfo PhysicalPages)
assert_eq "$pages" "2097152" "8 GB of pages"

head -c 200 "$db" > first
assert_eq "$(wc -c < first)" "200" "head -c 200"
assert_eq "$(head -n1 first)" '# pfn state use pid va pte_address share ref priority flags original_pte'
assert_match "$(sed -n 2p first)" '0x000000 *'

# Fixed-width rows: the row of PFN 0x123456 is at header + 0x123456 rows.
header=$(head -n1 "$db" | wc -c)
width=$(head -n2 "$db" | tail -n1 | wc -c)
at() { dd if="$db" iflag=skip_bytes,count_bytes skip="$1" count="$2" status=none; }
row=$(at $(( header + 0x123456 * width )) "$width")
assert_match "$row" '0x123456 *' "the row at PFN 0x123456's offset"
assert_eq "$(at $(( header + (pages - 1) * width )) 1000 | cut -d' ' -f1)" "0x1fffff" "the last row"
assert_eq "$(dd if="$db" bs=4096 skip=40000 count=3 status=none | wc -c)" "12288" "dd skip"

# Memory: one listing open (pfn/db is ~200 MB of text here), then closed.
idle=$(rss)
exec 3< "$db"
head -c 100000 <&3 > /dev/null
open_rss=$(rss)
(( open_rss - idle < 16384 )) || fail "RSS with pfn/db open: ${open_rss} kB, idle ${idle} kB"
exec 3<&-
sleep 0.2
closed=$(rss)
(( closed - idle < 16384 )) || fail "RSS after close: ${closed} kB, idle ${idle} kB"

# ptes and workingset of a process with a few page tables: chunks = one read.
mkdir "$MMFS/processes/app"
cmd "$MMFS/processes/app/control" 'alloc 0 64M reserve,commit readwrite' > /dev/null
head -c 24M /dev/zero | mem_write "$MMFS/processes/app" 0x10000 bs=1M
for f in ptes workingset; do
    p=$MMFS/processes/app/$f
    cat "$p" > whole
    dd if="$p" bs=4k status=none > chunks
    cmp whole chunks || fail "$f in 4 KiB chunks differs from one read"
    dd if="$p" bs=1000 status=none | cmp - whole || fail "$f in 1000-byte reads differs"
done
assert_eq "$(rows "$MMFS/processes/app/ptes" '$3 == "valid"')" "6144" "valid ptes"
assert_eq "$(rows "$MMFS/processes/app/workingset" '$6 == "private"')" "6144" "private ws entries"

# The lists count their pages.
assert_eq "$(wc -l < "$MMFS/pfn/lists/zeroed")" "$(meminfo ZeroedPages)" "zeroed"
assert_eq "$(wc -l < "$MMFS/pfn/lists/active")" "$(meminfo ActivePages)" "active"
assert_eq "$(head -c 20 "$MMFS/pfn/lists/zeroed" | wc -c)" "20" "head of a list"
verify_ok
