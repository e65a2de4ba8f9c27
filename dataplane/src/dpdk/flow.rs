//! Flow steering (rte_flow): rules that send a port's packets to a chosen RX queue.

use std::ffi::{c_char, c_int};

use dpdk_sys as sys;

use super::error::DpdkError;
use super::port::Port;

impl Port {
    /// Ask the port (rte_flow) to deliver ingress TCP (`l4_proto` 6) or UDP (17) packets
    /// for local address `addr` whose destination port satisfies `port & mask == value`
    /// to RX queue `queue`. With `validate_only`, only ask whether it would take the rule
    /// (nothing is installed). Rules live until the port is closed.
    pub fn steer_dst_port(
        &self,
        addr: std::net::IpAddr,
        l4_proto: u8,
        value: u16,
        mask: u16,
        queue: u16,
        validate_only: bool,
    ) -> Result<(), DpdkError> {
        let (bytes, is_v6) = match addr {
            std::net::IpAddr::V4(a) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&a.octets());
                (b, false)
            }
            std::net::IpAddr::V6(a) => (a.octets(), true),
        };
        let mut message: *const c_char = std::ptr::null();
        // SAFETY: valid port id; `bytes` holds the 4 or 16 address bytes the shim reads
        // for `is_v6`; `message` is a valid out pointer. The shim builds the rule on its
        // stack and DPDK copies what it keeps.
        let rc = unsafe {
            sys::rvs_flow_steer_dst_port(
                self.id(),
                c_int::from(is_v6),
                bytes.as_ptr(),
                l4_proto,
                value,
                mask,
                queue,
                c_int::from(validate_only),
                &mut message,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(DpdkError::with_pmd_message("rte_flow", rc, message))
        }
    }
}
