# With --clock auto the history fills by itself, a sample each real second
# (the dispatcher takes it after the balance set manager's one-second timer),
# and the dashboard counts what happened in the last of them.
# mmfs-args: --clock auto --ram 16M
# timeout: 60
source "$MMFS_LIB"
need python3 python3
samples() {
    python3 -c 'import sys, xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().get("data-samples"))' "$1"
}
cp "$MMFS/system/history.svg" h.svg
first=$(samples h.svg)
three_more() { cp "$MMFS/system/history.svg" h.svg; (( $(samples h.svg) >= first + 3 )); }
wait_until 100 three_more || fail "the history did not grow: $(samples h.svg) samples, $first before"
# Samples a second apart, the last no later than now.
python3 - h.svg << 'PY' || fail "history.svg: $(head -c 2000 h.svg)"
import sys, re, xml.etree.ElementTree as E
root = E.parse(sys.argv[1]).getroot()
line = [e for e in root.iter("{http://www.w3.org/2000/svg}polyline") if e.get("class") == "commit-charge"][0]
xs = [float(p.split(",")[0]) for p in line.get("points").split()]
assert len(xs) == int(root.get("data-samples")) + 1, len(xs)
assert all(b > a for a, b in zip(xs, xs[1:])), xs
PY
grep -q 'id="faults-per-second"' "$MMFS/system/dashboard.html" || fail "no rate on the dashboard"
verify_ok
