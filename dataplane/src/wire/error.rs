//! [`Error`]: why a buffer could not be viewed, parsed or rewritten.

use core::fmt;

/// Why a buffer could not be viewed, parsed or rewritten.
///
/// `Copy` and allocation-free: a failed parse is normal traffic, to be counted and dropped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the header, or than a length field inside it claims.
    Truncated,
    /// A field holds an impossible value (wrong version, header length below the minimum,
    /// total length below the header length...).
    Malformed,
    /// Well-formed, but not something this code handles (a fragment, an ARP packet for a
    /// hardware type other than Ethernet, an ICMP message without an identifier...).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Unsupported => "unsupported packet",
        })
    }
}

impl std::error::Error for Error {}
