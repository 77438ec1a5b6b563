#!/usr/bin/env python3
"""tools/bench.sh's file churn: in DIR, N times create a file, write 4 KiB,
close it and unlink it (what a build or a mail spool does), then exit."""
import os
import sys

directory, count = sys.argv[1], int(sys.argv[2])
block = b"x" * 4096
for i in range(count):
    path = os.path.join(directory, f"churn-{i}")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    if os.write(fd, block) != len(block):
        sys.exit(f"short write to {path}")
    os.close(fd)
    os.unlink(path)
