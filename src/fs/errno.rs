//! NT status → errno, the one place the two meet (SPEC §3).

use fuser::Errno;

use crate::mm::NtStatus;
use crate::mm::fault::{AccessFault, FaultKind};

/// The errno of a failed `mem` access (SPEC §7): not committed and guard pages
/// give EFAULT, a forbidding protection EACCES, an in-page error EIO.
pub fn errno_for_fault(f: &AccessFault) -> Errno {
    match f.kind {
        FaultKind::NotCommitted | FaultKind::Guard => Errno::EFAULT,
        FaultKind::Protection => Errno::EACCES,
        FaultKind::InPage => Errno::EIO,
        FaultKind::Resources => errno_for(f.error.status),
        // Retried inside the core; never reaches a user.
        FaultKind::PrototypePage(_) => Errno::EAGAIN,
    }
}

pub fn errno_for(status: NtStatus) -> Errno {
    use NtStatus::*;
    match status {
        INVALID_PARAMETER
        | INVALID_PARAMETER_1
        | INVALID_PARAMETER_2
        | INVALID_PARAMETER_3
        | INVALID_PARAMETER_4
        | INVALID_PARAMETER_5
        | INVALID_PARAMETER_6
        | BAD_WORKING_SET_LIMIT
        | INVALID_PAGE_PROTECTION
        | INCOMPATIBLE_FILE_MAP
        | OBJECT_NAME_INVALID
        | INVALID_DEVICE_REQUEST
        | NOT_SUPPORTED
        | SECTION_PROTECTION
        | MAPPED_ALIGNMENT
        | UNABLE_TO_FREE_VM
        | UNABLE_TO_DELETE_SECTION
        | NOT_LOCKED
        | INVALID_VIEW_SIZE
        | MAPPED_FILE_SIZE_ZERO
        | INVALID_IMAGE_FORMAT
        | FREE_VM_NOT_AT_BASE => Errno::EINVAL,
        CONFLICTING_ADDRESSES | OBJECT_NAME_COLLISION | ALREADY_COMMITTED => Errno::EEXIST,
        MEMORY_NOT_ALLOCATED
        | INVALID_ADDRESS
        | OBJECT_NAME_NOT_FOUND
        | NOT_MAPPED_VIEW
        | NOT_COMMITTED
        | PROCESS_IS_TERMINATING => Errno::ENOENT,
        COMMITMENT_LIMIT | NO_MEMORY | INSUFFICIENT_RESOURCES | SECTION_TOO_BIG => Errno::ENOMEM,
        PRIVILEGE_NOT_HELD | ACCESS_DENIED => Errno::EPERM,
        WORKING_SET_QUOTA | SECTION_NOT_EXTENDED | USER_MAPPED_FILE | CANNOT_DELETE => Errno::EBUSY,
        ACCESS_VIOLATION | GUARD_PAGE_VIOLATION => Errno::EFAULT,
        IN_PAGE_ERROR | LOST_WRITEBEHIND_DATA | DATA_ERROR => Errno::EIO,
        DISK_FULL => Errno::ENOSPC,
        // Success statuses never reach here: a command that returns one succeeds.
        SUCCESS | WAS_UNLOCKED | WAS_LOCKED | WORKING_SET_LIMIT_RANGE => Errno::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table() {
        assert_eq!(errno_for(NtStatus::INVALID_PARAMETER), Errno::EINVAL);
        assert_eq!(errno_for(NtStatus::INVALID_PAGE_PROTECTION), Errno::EINVAL);
        assert_eq!(errno_for(NtStatus::INVALID_PARAMETER_2), Errno::EINVAL);
        assert_eq!(errno_for(NtStatus::BAD_WORKING_SET_LIMIT), Errno::EINVAL);
        assert_eq!(errno_for(NtStatus::ALREADY_COMMITTED), Errno::EEXIST);
        assert_eq!(errno_for(NtStatus::CONFLICTING_ADDRESSES), Errno::EEXIST);
        assert_eq!(errno_for(NtStatus::MEMORY_NOT_ALLOCATED), Errno::ENOENT);
        assert_eq!(errno_for(NtStatus::INVALID_ADDRESS), Errno::ENOENT);
        assert_eq!(errno_for(NtStatus::COMMITMENT_LIMIT), Errno::ENOMEM);
        assert_eq!(errno_for(NtStatus::NO_MEMORY), Errno::ENOMEM);
        assert_eq!(errno_for(NtStatus::INSUFFICIENT_RESOURCES), Errno::ENOMEM);
        assert_eq!(errno_for(NtStatus::PRIVILEGE_NOT_HELD), Errno::EPERM);
        assert_eq!(errno_for(NtStatus::ACCESS_DENIED), Errno::EPERM);
        assert_eq!(errno_for(NtStatus::WORKING_SET_QUOTA), Errno::EBUSY);
        assert_eq!(errno_for(NtStatus::SECTION_NOT_EXTENDED), Errno::EBUSY);
    }
}
