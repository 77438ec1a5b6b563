# The pictures: pfn/map.png (one pixel per physical page, coloured by state
# and by use, with a legend) and processes/<name>/map.svg (VMMap's picture of
# an address space). The PNG is decoded here with python3's zlib, its pixels
# counted by palette index against the lists; the SVG is parsed with python3's
# XML parser and its regions compared with vads.
# mmfs-args: --ram 16M
source "$MMFS_LIB"
P=$MMFS/processes/app
mkdir "$P"
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit readwrite')"
head -c 512K /dev/urandom | mem_write "$P" "$base" bs=64K
cmd "$P/control" trim > /dev/null
cmd "$MMFS/system/control" flush-modified > /dev/null
head -c 128K /dev/urandom | mem_write "$P" "$(hexadd "$base" 0x80000)" bs=64K
cmd "$P/control" trim > /dev/null
head -c 64K /dev/urandom | mem_write "$P" "$(hexadd "$base" 0xc0000)" bs=64K
read -r wbase _ <<< "$(cmd "$P/control" 'alloc 0 4M reserve readwrite')"
cmd "$P/control" "alloc $(hexadd "$wbase" 0x10000) 64K commit readwrite" > /dev/null
poke "$P" "$(hexadd "$wbase" 0x10000)" "one page"

# --- pfn/map.png ---
listed "$MMFS/pfn" map.png || fail "pfn/ lists map.png"
grep -q 'map.png' "$MMFS/pfn/README" || fail "pfn/README describes map.png"
cp "$MMFS/pfn/map.png" map.png
assert_eq "$(head -c 8 map.png | od -An -tx1 | tr -d ' \n')" "89504e470d0a1a0a" "PNG signature"
if command -v file > /dev/null; then
    assert_match "$(file -b map.png)" "PNG image data, 528 x *, 8-bit colormap*"
fi
for l in zeroed free standby modified modified-no-write bad active; do
    printf '%s %s\n' "$l" "$(wc -l < "$MMFS/pfn/lists/$l")"
done > lists.txt
echo "transition $(meminfo TransitionPages)" >> lists.txt
# Pixels per palette index, less the legend's 8x8 swatch of each, must equal
# each list's length (palette: 2-9 the states in MMLISTS order).
python3 - map.png lists.txt <<'PY' || fail "map.png's pixels do not match the lists"
import struct, sys, zlib
from collections import Counter
data = open(sys.argv[1], "rb").read()
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(kind + body) == crc, kind
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, colour = ihdr[:4]
assert (w, depth, colour) == (528, 8, 3), ihdr
raw = zlib.decompress(idat)
assert len(raw) == h * (w + 1), (len(raw), h, w)
counts = Counter()
for y in range(h):
    row = raw[y * (w + 1):(y + 1) * (w + 1)]
    # Filter type 1 (Sub): each byte is stored less its left neighbour.
    assert row[0] in (0, 1), "filter type %d" % row[0]
    px, left = bytearray(row[1:]), 0
    if row[0] == 1:
        for x in range(w):
            left = px[x] = (px[x] + left) & 0xff
    counts.update(px)
lists = [int(l.split()[1]) for l in open(sys.argv[2])]
assert sum(lists) == 4096, lists
got = [counts[2 + i] - 64 for i in range(8)]
print("lists", lists, "pixels", got)
assert got == lists, (got, lists)
PY
# The file is a snapshot: rendering it twice on a quiet machine gives the same bytes.
cat "$MMFS/pfn/map.png" | cmp -s map.png - || fail "two reads of a quiet machine differ"

# --- processes/app/map.svg ---
listed "$P" map.svg || fail "the process lists map.svg"
grep -q 'map.svg' "$P/README" || fail "the process README describes map.svg"
assert_match "$(stat -c %A "$P/map.svg")" "-r--r--r--" "map.svg is public like vads"
cp "$P/map.svg" map.svg
awk 'NR > 1 { print $1, $2, $4 }' "$P/vads" > vads.txt
python3 - map.svg vads.txt <<'PY' || fail "map.svg does not parse or does not match vads"
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
regions = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "region"]
vads = [l.split() for l in open(sys.argv[2])]
assert len(regions) == len(vads) == 2, (len(regions), vads)
for g, (start, end, kind) in zip(regions, vads):
    assert int(g.get("data-start"), 16) == int(start, 16), (g.attrib, start)
    assert int(g.get("data-end"), 16) == int(end, 16), (g.attrib, end)
    assert g.get("data-type") == kind
first, second = regions
# 1 MB committed; resident: the 16 pages written after the last trim.
assert int(first.get("data-committed")) == 256 and int(first.get("data-resident")) == 16, first.attrib
# 4 MB reserved, 16 pages committed, one touched.
assert int(second.get("data-committed")) == 16 and int(second.get("data-resident")) == 1, second.attrib
PY
expect_error "No such file" cat "$MMFS/processes/nosuch/map.svg"
# A browser reads a file:// URL only as far as stat said: stat renders these
# two pictures and reports their exact size, and the open right after serves
# that same rendering.
for f in "$MMFS/pfn/map.png" "$P/map.svg"; do
    python3 - "$f" <<'PY' || fail "stat size of $f is not what a read gets"
import os, sys
p = sys.argv[1]
n = os.stat(p).st_size
with open(p, "rb") as fh:
    d = fh.read()
assert n == len(d) > 0, (n, len(d))
PY
done
verify_ok
