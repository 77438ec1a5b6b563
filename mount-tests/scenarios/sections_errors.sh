# Bad section commands fail with their errno and a readable reason; nothing
# changes: no section, view, VAD, process or commit charge is left behind.
# mmfs-args: --ram 32M --pagefile 16M
source "$MMFS_LIB"
export LC_ALL=C  # ls order
S=$MMFS/sections
C=$S/control
commit0=$(meminfo CommitCharge)

expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "create"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "create x"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "create x 4Q"
assert_match "$(cat "$C")" "*size: '4Q' is not a size*" "a readable reason"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "create x 0"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "create x 4K sideways"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "create x 4K colour=red"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "create x 4K prot=readonly prot=readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PAGE_PROTECTION "$C" "create x 4K prot=sparkly"
expect_cmd_error "Invalid argument" STATUS_INVALID_PAGE_PROTECTION "$C" "create x 4K prot=noaccess"
expect_cmd_error "Invalid argument" STATUS_OBJECT_NAME_INVALID "$C" "create bad/name 4K"
expect_cmd_error "Invalid argument" STATUS_OBJECT_NAME_INVALID "$C" "create .hidden 4K"
expect_cmd_error "Invalid argument" STATUS_OBJECT_NAME_INVALID "$C" "create control 4K"
expect_cmd_error "Invalid argument" STATUS_INVALID_IMAGE_FORMAT "$C" "create x 4K image"
expect_cmd_error "Invalid argument" STATUS_OBJECT_NAME_INVALID "$C" "create x 4K file=../escape"
expect_cmd_error "No such file or directory" STATUS_OBJECT_NAME_NOT_FOUND "$C" "create x 0 file=nothing-here"
expect_cmd_error "Cannot allocate memory" STATUS_SECTION_TOO_BIG "$C" "create x 64G"
expect_cmd_error "Cannot allocate memory" STATUS_COMMITMENT_LIMIT "$C" "create x 500M"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$C" "destroy x"
assert_match "$(cat "$C")" "*unknown command 'destroy'; sections/control takes: create*"
assert_eq "$(entries "$S")" "README control " "failed creates made nothing"
assert_eq "$(meminfo CommitCharge)" "$commit0" "failed creates charged commit"

# An unknown section.
expect_error "No such file or directory" cat "$S/nosuch/info"
expect_error "No such file or directory" rmdir "$S/nosuch"
expect_error "No such file or directory" bash -c "echo 'extend 4K' > '$S/nosuch/control'"

cmd "$C" 'create shm 64K' > /dev/null
cmd "$C" 'create ro 64K prot=readonly' > /dev/null
expect_cmd_error "File exists" STATUS_OBJECT_NAME_COLLISION "$C" "create shm 4K"

# A section backed by the paging file cannot grow.
expect_cmd_error "Device or resource busy" STATUS_SECTION_NOT_EXTENDED "$S/shm/control" "extend 128K"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$S/shm/control" "extend"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$S/shm/control" "extend lots"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$S/shm/control" "no-write please"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$S/shm/control" "shrink 4K"
assert_match "$(cat "$S/shm/control")" "*unknown command 'shrink'*"
assert_eq "$(kv "$S/shm/info" Size)" "0x10000" "size unchanged"
assert_eq "$(rows "$S/shm/prototype-ptes")" "16" "prototype PTEs unchanged"

# Views that cannot be mapped.
P=$MMFS/processes/app
mkdir "$P"
PC=$P/control
commit1=$(meminfo CommitCharge)
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$PC" "map shm 0 0"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$PC" "map shm zero 0 0 readwrite"
expect_cmd_error "Invalid argument" STATUS_INVALID_PAGE_PROTECTION "$PC" "map shm 0 0 0 sparkly"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$PC" "unmap"
expect_cmd_error "Invalid argument" STATUS_INVALID_PARAMETER "$PC" "fork"
expect_cmd_error "No such file or directory" STATUS_OBJECT_NAME_NOT_FOUND "$PC" "map nosuch 0 0 0 readwrite"
expect_cmd_error "Operation not permitted" STATUS_ACCESS_DENIED "$MMFS/processes/System/control" "fork child"
expect_cmd_error "Invalid argument" STATUS_MAPPED_ALIGNMENT "$PC" "map shm 0 0 0x1000 readwrite"
expect_cmd_error "Invalid argument" STATUS_SECTION_PROTECTION "$PC" "map ro 0 0 0 readwrite"

# Nothing changed.
assert_eq "$(entries "$S")" "README control ro shm " "sections"
assert_eq "$(rows "$P/vads")" "0" "failed maps left VADs"
assert_eq "$(rows "$S/shm/views")" "0" "failed maps left views"
assert_eq "$(rows "$S/ro/views")" "0" "failed maps left views"
assert_eq "$(kv "$S/shm/info" NumberOfMappedViews)" "0"
assert_eq "$(entries "$MMFS/processes")" "README System app " "failed forks made no process"
assert_eq "$(meminfo CommitCharge)" "$commit1" "failed commands charged commit"
verify_ok
