//! Big-endian field reads and writes and address reads on byte slices: the helpers every
//! header view shares (callers pass a slice that starts at the field).

/// Big-endian u16 at the start of `b` (callers pass a two-byte field range).
#[inline]
pub(crate) fn read_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Big-endian u32 at the start of `b` (callers pass a four-byte field range).
#[inline]
pub(crate) fn read_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Write `v` big-endian into the first two bytes of `b`.
#[inline]
pub(crate) fn write_u16(b: &mut [u8], v: u16) {
    b[..2].copy_from_slice(&v.to_be_bytes());
}

/// Write `v` big-endian into the first four bytes of `b`.
#[inline]
pub(crate) fn write_u32(b: &mut [u8], v: u32) {
    b[..4].copy_from_slice(&v.to_be_bytes());
}

/// The IPv4 address in the first four bytes of `b`.
#[inline]
pub(crate) fn read_ipv4(b: &[u8]) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// The IPv6 address in the first sixteen bytes of `b`.
#[inline]
pub(crate) fn read_ipv6(b: &[u8]) -> std::net::Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    std::net::Ipv6Addr::from(a)
}
