# A process writes a distinct pattern into 4x RAM and reads it all back: pages
# leave the working set, go through the modified list to the paging file and come
# back by hard and soft faults, and sha256sum matches.
# mmfs-args: --ram 16M
# timeout: 240
source "$MMFS_LIB"
P=$MMFS/processes/big
mkdir "$P"
read -r base size <<< "$(cmd "$P/control" 'alloc 0 64M reserve,commit readwrite')"
assert_eq "$size" "0x4000000"

# 64 MB of data unlike any other: 1 MiB blocks of random bytes.
head -c 64M /dev/urandom > data
want=$(sha256sum < data | cut -d' ' -f1)
mem_write "$P" "$base" if=data bs=1M
verify_ok
got=$(mem_read "$P" "$base" bs=1M count=64 | sha256sum | cut -d' ' -f1)
assert_eq "$got" "$want" "sha256 of 64 MB read back through 16 MB of RAM"
verify_ok

(( $(counter hard_faults) > 0 )) || fail "no hard faults"
(( $(counter pages_written_to_pagefile) >= 12288 )) || fail "pages written: $(counter pages_written_to_pagefile)"
(( $(counter pagefile_write_ios) > 0 )) || fail "no pagefile write I/Os"
(( $(counter pages_read_from_pagefile) > $(counter hard_faults) )) || fail "no read clustering"
(( $(kv "$P/status" HardFaults) > 0 )) || fail "status HardFaults"
assert_eq "$(kv "$P/status" PrivatePages)" "16384"

# The paging file holds the pages that are not in RAM, really on disk.
info=$MMFS/pagefiles/pagefile.sys/info
path=$(kv "$info" Path)
[[ -f "$path" ]] || fail "paging file $path is not a host file"
(( $(kv "$info" UsedPages) > 12000 )) || fail "UsedPages $(kv "$info" UsedPages)"
(( $(kv "$info" PagesWritten) == $(counter pages_written_to_pagefile) )) || fail "PagesWritten"
(( $(du -k "$path" | cut -f1) > 40000 )) || fail "the host file holds too little: $(du -k "$path")"

# Released: every slot comes back.
rmdir "$P"
assert_eq "$(kv "$info" UsedPages)" "0"
verify_ok
