//! NTSTATUS codes the simulated memory manager returns, and the core's error type.
//!
//! The core speaks only NT: every failing service returns an [`MmError`] carrying
//! an [`NtStatus`] and a sentence for the user. Mapping to errno happens in `fs/`.

use std::fmt;

macro_rules! nt_statuses {
    ($($name:ident = $value:expr,)*) => {
        /// The NTSTATUS values mmfs uses (values from ntstatus.h).
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum NtStatus { $($name,)* }

        impl NtStatus {
            /// The NTSTATUS value, as NT defines it.
            pub fn code(self) -> u32 {
                match self { $(NtStatus::$name => $value,)* }
            }
            /// The symbolic name, e.g. `STATUS_ACCESS_VIOLATION`.
            pub fn name(self) -> &'static str {
                match self { $(NtStatus::$name => concat!("STATUS_", stringify!($name)),)* }
            }
        }
    };
}

nt_statuses! {
    SUCCESS = 0x0000_0000,
    WORKING_SET_LIMIT_RANGE = 0x4000_0002,
    WAS_UNLOCKED = 0x4000_0017,
    WAS_LOCKED = 0x4000_0019,
    GUARD_PAGE_VIOLATION = 0x8000_0001,
    ACCESS_VIOLATION = 0xC000_0005,
    IN_PAGE_ERROR = 0xC000_0006,
    INVALID_PARAMETER = 0xC000_000D,
    INVALID_PARAMETER_1 = 0xC000_00EF,
    INVALID_PARAMETER_2 = 0xC000_00F0,
    INVALID_PARAMETER_3 = 0xC000_00F1,
    INVALID_PARAMETER_4 = 0xC000_00F2,
    INVALID_PARAMETER_5 = 0xC000_00F3,
    INVALID_PARAMETER_6 = 0xC000_00F4,
    ALREADY_COMMITTED = 0xC000_0021,
    BAD_WORKING_SET_LIMIT = 0xC000_004C,
    INCOMPATIBLE_FILE_MAP = 0xC000_004D,
    NO_MEMORY = 0xC000_0017,
    CONFLICTING_ADDRESSES = 0xC000_0018,
    NOT_MAPPED_VIEW = 0xC000_0019,
    UNABLE_TO_FREE_VM = 0xC000_001A,
    UNABLE_TO_DELETE_SECTION = 0xC000_001B,
    ACCESS_DENIED = 0xC000_0022,
    NOT_LOCKED = 0xC000_002A,
    NOT_COMMITTED = 0xC000_002D,
    OBJECT_NAME_INVALID = 0xC000_0033,
    OBJECT_NAME_NOT_FOUND = 0xC000_0034,
    OBJECT_NAME_COLLISION = 0xC000_0035,
    INVALID_PAGE_PROTECTION = 0xC000_0045,
    SECTION_PROTECTION = 0xC000_004E,
    PRIVILEGE_NOT_HELD = 0xC000_0061,
    INSUFFICIENT_RESOURCES = 0xC000_009A,
    DISK_FULL = 0xC000_007F,
    FREE_VM_NOT_AT_BASE = 0xC000_009F,
    MEMORY_NOT_ALLOCATED = 0xC000_00A0,
    WORKING_SET_QUOTA = 0xC000_00A1,
    SECTION_NOT_EXTENDED = 0xC000_0087,
    COMMITMENT_LIMIT = 0xC000_012D,
    INVALID_ADDRESS = 0xC000_0141,
    MAPPED_ALIGNMENT = 0xC000_0220,
    NOT_SUPPORTED = 0xC000_00BB,
    PROCESS_IS_TERMINATING = 0xC000_010A,
    INVALID_DEVICE_REQUEST = 0xC000_0010,
    INVALID_VIEW_SIZE = 0xC000_001F,
    SECTION_TOO_BIG = 0xC000_0040,
    MAPPED_FILE_SIZE_ZERO = 0xC000_011E,
    INVALID_IMAGE_FORMAT = 0xC000_007B,
    USER_MAPPED_FILE = 0xC000_0243,
    CANNOT_DELETE = 0xC000_0121,
    LOST_WRITEBEHIND_DATA = 0xC000_0222,
    DATA_ERROR = 0xC000_003E,
}

impl NtStatus {
    /// Whether this is a success status (severity success or informational,
    /// NT_SUCCESS): STATUS_SUCCESS, STATUS_WAS_UNLOCKED, ...
    pub fn is_success(self) -> bool {
        self.code() < 0x8000_0000
    }
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed memory-manager service: the NT status and a sentence saying what was wrong.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MmError {
    pub status: NtStatus,
    pub message: String,
}

impl MmError {
    pub fn new(status: NtStatus, message: impl Into<String>) -> Self {
        MmError {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for MmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for MmError {}

pub type MmResult<T> = Result<T, MmError>;

/// What a service returned along with the success status it returned it with:
/// STATUS_SUCCESS, or an informational status (STATUS_WAS_UNLOCKED,
/// STATUS_WAS_LOCKED, STATUS_WORKING_SET_LIMIT_RANGE) that NT returns to say
/// the call did something besides what was asked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WithStatus<T> {
    pub value: T,
    pub status: NtStatus,
}

impl<T> WithStatus<T> {
    /// `value` returned with STATUS_SUCCESS.
    pub fn success(value: T) -> WithStatus<T> {
        WithStatus {
            value,
            status: NtStatus::SUCCESS,
        }
    }

    /// The same status with the value changed by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> WithStatus<U> {
        WithStatus {
            value: f(self.value),
            status: self.status,
        }
    }

    /// `value` returned with `status` if `condition`, else with STATUS_SUCCESS.
    pub fn informing(value: T, condition: bool, status: NtStatus) -> WithStatus<T> {
        WithStatus {
            value,
            status: if condition { status } else { NtStatus::SUCCESS },
        }
    }
}

/// Shorthand for building an error with a formatted sentence.
#[macro_export]
macro_rules! mm_err {
    ($status:ident, $($fmt:tt)+) => {
        $crate::mm::base::status::MmError::new($crate::mm::base::status::NtStatus::$status, format!($($fmt)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_follow_ntstatus_h() {
        assert_eq!(NtStatus::ACCESS_VIOLATION.code(), 0xC0000005);
        assert_eq!(NtStatus::ACCESS_VIOLATION.name(), "STATUS_ACCESS_VIOLATION");
        assert_eq!(NtStatus::COMMITMENT_LIMIT.code(), 0xC000012D);
        assert_eq!(NtStatus::GUARD_PAGE_VIOLATION.code(), 0x80000001);
        assert_eq!(NtStatus::INVALID_PARAMETER_2.code(), 0xC00000F0);
        assert_eq!(NtStatus::INVALID_PARAMETER_6.code(), 0xC00000F4);
        assert_eq!(NtStatus::BAD_WORKING_SET_LIMIT.code(), 0xC000004C);
        assert_eq!(NtStatus::ALREADY_COMMITTED.code(), 0xC0000021);
        assert!(NtStatus::WAS_UNLOCKED.is_success());
        assert!(NtStatus::WORKING_SET_LIMIT_RANGE.is_success());
        assert!(!NtStatus::GUARD_PAGE_VIOLATION.is_success());
        let e = mm_err!(CONFLICTING_ADDRESSES, "range {:#x} is in use", 0x10000);
        assert_eq!(
            e.to_string(),
            "STATUS_CONFLICTING_ADDRESSES: range 0x10000 is in use"
        );
    }
}
