# system/history.svg and system/dashboard.html with the manual clock: a sample
# per ticked second, each series a vertex per sample (plus the start of the
# first second); the demand-zero faults show in the second they happened; the
# files parse (python3's xml.etree) and their size is what stat says (browsers
# read no further); the dashboard shows meminfo's numbers and the pictures.
# mmfs-args: --ram 16M
source "$MMFS_LIB"
need python3 python3
S=$MMFS/system

# samples FILE : the samples history.svg says it has, after checking that every
# series has one vertex per sample plus one.
samples() {
    python3 - "$1" << 'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
n = int(root.get("data-samples"))
ns = "{http://www.w3.org/2000/svg}"
lines = root.findall(f".//{ns}polyline")
areas = root.findall(f".//{ns}polygon")
want = n + 1 if n else 0
assert len(lines) == (8 if n else 0), f"{len(lines)} lines"
assert len(areas) == (8 if n else 0), f"{len(areas)} areas"
for e in lines:
    assert len(e.get("points").split()) == want, (e.get("class"), len(e.get("points").split()), want)
for e in areas:
    assert len(e.get("points").split()) == want + 2, e.get("class")
print(n)
PY
}

# demand_zero_peak FILE : the index of the highest vertex of the demand-zero line.
demand_zero_peak() {
    python3 - "$1" << 'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
line = [e for e in root.iter("{http://www.w3.org/2000/svg}polyline") if e.get("class") == "faults-demand-zero"][0]
ys = [float(p.split(",")[1]) for p in line.get("points").split()]
top = min(ys)
print(" ".join(str(i) for i, y in enumerate(ys) if y == top))
PY
}

cp "$S/history.svg" h0.svg
assert_eq "$(samples h0.svg)" 0 "samples at boot"
assert_file_contains h0.svg "no sample yet"
# stat's size is the size read: Chromium reads a file:// URL only that far.
assert_eq "$(stat -c %s "$S/history.svg")" "$(wc -c < h0.svg)" "history.svg size"

cmd "$S/control" 'tick 1' > /dev/null
P=$MMFS/processes/app
mkdir "$P"
read -r base _ <<< "$(cmd "$P/control" 'alloc 0 1M reserve,commit readwrite')"
head -c 512K /dev/zero | tr '\0' 'x' | mem_write "$P" "$base" bs=64K
cmd "$S/control" 'tick 29' > /dev/null
cp "$S/history.svg" h30.svg
assert_eq "$(samples h30.svg)" 30 "samples after 30 ticked seconds"
# The 128 pages written fell in the second from 1 s to 2 s: vertex 2 (vertex 0
# is the start of the first second).
assert_eq "$(demand_zero_peak h30.svg)" 2 "the demand-zero peak"
assert_file_contains h30.svg "latest at 30 s"

# Half seconds: one sample per whole second reached.
cmd "$S/control" 'tick 0.5' > /dev/null
cp "$S/history.svg" h.svg
assert_eq "$(samples h.svg)" 30 "no sample at 30.5 s"
cmd "$S/control" 'tick 0.5' > /dev/null
cp "$S/history.svg" h.svg
assert_eq "$(samples h.svg)" 31 "a sample at 31 s"

# Ten minutes and more (mostly skipped as quiet): the ring's 600.
cmd "$S/control" 'tick 700' > /dev/null
cp "$S/history.svg" h.svg
assert_eq "$(samples h.svg)" 600 "samples after 731 s"

# The dashboard: the numbers of meminfo, the pictures, a refresh every second.
cp "$S/dashboard.html" d.html
assert_eq "$(stat -c %s "$S/dashboard.html")" "$(wc -c < d.html)" "dashboard.html size"
python3 - d.html "$(meminfo AvailablePages)" "$(meminfo CommitCharge)" "$(meminfo CommitLimit)" << 'PY' || fail "dashboard: $(head -c 3000 d.html)"
import sys, xml.etree.ElementTree as ET
text = open(sys.argv[1]).read().replace("<!DOCTYPE html>", "")
root = ET.fromstring(text)
ns = "{http://www.w3.org/1999/xhtml}"
by_id = {e.get("id"): "".join(e.itertext()) for e in root.iter() if e.get("id")}
for key, want in zip(["available-pages", "commit-charge", "commit-limit"], sys.argv[2:]):
    assert by_id[key] == want, (key, by_id[key], want)
images = [e.get("src").split("?")[0] for e in root.iter(ns + "img")]
assert images == ["history.svg", "../pfn/map.png", "../processes/app/map.svg"], images
meta = [e for e in root.iter(ns + "meta") if e.get("http-equiv") == "refresh"]
assert meta and meta[0].get("content") == "1", meta
PY
grep -q ">app</a>" d.html || fail "the process table lists app"
verify_ok
