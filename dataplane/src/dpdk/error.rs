//! [`DpdkError`]: a failed DPDK call with DPDK's own explanation, and the return-code check
//! every other file of this module uses.

use std::ffi::{c_char, c_int, CStr};

use dpdk_sys as sys;

/// An error from a DPDK call: which call, and DPDK's own message for the error number.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed: {message} (errno {errno})")]
pub struct DpdkError {
    /// The DPDK function (or rvs operation) that failed.
    pub call: &'static str,
    /// The (positive) error number.
    pub errno: i32,
    /// `rte_strerror` text.
    pub message: String,
}

impl DpdkError {
    pub(super) fn new(call: &'static str, errno: i32) -> Self {
        let errno = errno.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // string for any error number; we copy it out immediately.
        let message = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        DpdkError {
            call,
            errno,
            message,
        }
    }

    /// An error whose explanation comes from the PMD (`message`, a static C string or
    /// null), as rte_flow reports them; rte_strerror's text when there is none.
    pub(super) fn with_pmd_message(call: &'static str, errno: i32, message: *const c_char) -> Self {
        let mut e = Self::new(call, errno);
        if !message.is_null() {
            // SAFETY: rte_flow_error.message points to a static NUL-terminated string set
            // by the PMD (or is null, checked above); copied out at once.
            let pmd = unsafe { CStr::from_ptr(message) }.to_string_lossy();
            if pmd != e.message {
                e.message = format!("{pmd} ({})", e.message);
            }
        }
        e
    }

    pub(super) fn last(call: &'static str) -> Self {
        // SAFETY: reads the calling thread's rte_errno; no preconditions.
        let errno = unsafe { sys::rvs_errno() };
        Self::new(call, errno)
    }
}

/// `rc` itself when it is not negative, else the error it stands for.
pub(super) fn check(call: &'static str, rc: c_int) -> Result<c_int, DpdkError> {
    if rc < 0 {
        Err(DpdkError::new(call, rc))
    } else {
        Ok(rc)
    }
}
