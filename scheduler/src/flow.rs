//! The flow key the hashing schedulers read, and the kernel's hash functions.

use std::net::{IpAddr, SocketAddr};

/// IANA protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IANA protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IANA protocol number of SCTP.
pub const IPPROTO_SCTP: u8 = 132;

/// The first packet of a new flow, oriented client -> virtual service.
///
/// `sh` and `mh` hash the source address (and the source port with `sh-port`/`mh-port`),
/// `dh` hashes the destination address, `lblc`/`lblcr` key their caches by the destination
/// address; the other schedulers ignore the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// IP protocol number (6 TCP, 17 UDP, 132 SCTP, ...).
    pub protocol: u8,
    /// Client address (CIP).
    pub src_addr: IpAddr,
    /// Client port.
    pub src_port: u16,
    /// Destination address of the packet (the VIP, or the original destination for
    /// firewall-mark cache clusters).
    pub dst_addr: IpAddr,
    /// Destination port.
    pub dst_port: u16,
}

impl FlowKey {
    /// A flow key from its two socket addresses.
    pub const fn new(protocol: u8, src: SocketAddr, dst: SocketAddr) -> Self {
        FlowKey {
            protocol,
            src_addr: src.ip(),
            src_port: src.port(),
            dst_addr: dst.ip(),
            dst_port: dst.port(),
        }
    }

    /// The source port as `ip_vs_sh_get_port`/`ip_vs_mh_get_port` read it: only TCP, UDP and
    /// SCTP have ports; anything else hashes port 0.
    #[inline]
    pub(crate) fn hash_port(&self) -> u16 {
        match self.protocol {
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => self.src_port,
            _ => 0,
        }
    }
}

/// The kernel's address fold: the IPv4 address in host order, or the XOR of the four 32-bit
/// words of an IPv6 address (XOR commutes with the byte swap, so folding big-endian words
/// equals `ntohl(w0 ^ w1 ^ w2 ^ w3)`).
#[inline]
pub(crate) fn addr_fold(addr: &IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from_be_bytes(a.octets()),
        IpAddr::V6(a) => {
            let b = a.octets();
            let w = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}

/// linux/hash.h `hash_32`: multiplicative hashing by GOLDEN_RATIO_32, top `bits` bits.
#[inline]
pub(crate) fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// `hsiphash` of one native-endian `u32` as the kernel computes it on 64-bit machines,
/// where HalfSipHash-1-3 is implemented as SipHash-1-3 with two 64-bit key words and the
/// 64-bit result truncated to 32 bits (lib/siphash.c).
#[inline]
pub(crate) fn hsiphash_u32(v: u32, key: [u64; 2]) -> u32 {
    let mut v0: u64 = 0x736f_6d65_7073_6575 ^ key[0];
    let mut v1: u64 = 0x646f_7261_6e64_6f6d ^ key[1];
    let mut v2: u64 = 0x6c79_6765_6e65_7261 ^ key[0];
    let mut v3: u64 = 0x7465_6462_7974_6573 ^ key[1];
    macro_rules! sipround {
        () => {
            v0 = v0.wrapping_add(v1);
            v1 = v1.rotate_left(13);
            v1 ^= v0;
            v0 = v0.rotate_left(32);
            v2 = v2.wrapping_add(v3);
            v3 = v3.rotate_left(16);
            v3 ^= v2;
            v0 = v0.wrapping_add(v3);
            v3 = v3.rotate_left(21);
            v3 ^= v0;
            v2 = v2.wrapping_add(v1);
            v1 = v1.rotate_left(17);
            v1 ^= v2;
            v2 = v2.rotate_left(32);
        };
    }
    // Length 4 < 8: no full words; the tail word carries the length in its top byte and
    // the four bytes (read little-endian, as x86 stores the u32) in its low half.
    let b: u64 = (4u64 << 56) | u64::from(v);
    v3 ^= b;
    sipround!();
    v0 ^= b;
    v2 ^= 0xff;
    sipround!();
    sipround!();
    sipround!();
    ((v0 ^ v1) ^ (v2 ^ v3)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn fold_ipv4_and_ipv6() {
        assert_eq!(
            addr_fold(&IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))),
            0xC612_0001
        );
        let a: Ipv6Addr = "2001:2::1".parse().unwrap();
        // words: 0x20010002, 0, 0, 1
        assert_eq!(addr_fold(&IpAddr::V6(a)), 0x2001_0003);
    }

    #[test]
    fn hash_32_is_golden_ratio_top_bits() {
        assert_eq!(hash_32(0, 8), 0);
        assert_eq!(hash_32(1, 8), 0x61);
        assert_eq!(hash_32(2, 8), 0xC3);
    }

    /// Textbook SipHash-c-d over a byte string (test reference only).
    fn siphash(c: usize, d: usize, key: [u64; 2], msg: &[u8]) -> u64 {
        let mut v = [
            0x736f_6d65_7073_6575 ^ key[0],
            0x646f_7261_6e64_6f6d ^ key[1],
            0x6c79_6765_6e65_7261 ^ key[0],
            0x7465_6462_7974_6573 ^ key[1],
        ];
        let round = |v: &mut [u64; 4]| {
            v[0] = v[0].wrapping_add(v[1]);
            v[1] = v[1].rotate_left(13) ^ v[0];
            v[0] = v[0].rotate_left(32);
            v[2] = v[2].wrapping_add(v[3]);
            v[3] = v[3].rotate_left(16) ^ v[2];
            v[0] = v[0].wrapping_add(v[3]);
            v[3] = v[3].rotate_left(21) ^ v[0];
            v[2] = v[2].wrapping_add(v[1]);
            v[1] = v[1].rotate_left(17) ^ v[2];
            v[2] = v[2].rotate_left(32);
        };
        let mut words: Vec<u64> = msg
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let mut last = [0u8; 8];
        let tail = msg.chunks_exact(8).remainder();
        last[..tail.len()].copy_from_slice(tail);
        last[7] = msg.len() as u8;
        words.push(u64::from_le_bytes(last));
        for m in words {
            v[3] ^= m;
            for _ in 0..c {
                round(&mut v);
            }
            v[0] ^= m;
        }
        v[2] ^= 0xff;
        for _ in 0..d {
            round(&mut v);
        }
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }

    #[test]
    fn hsiphash_is_siphash_1_3_of_the_native_u32() {
        // The reference implementation reproduces the published SipHash-2-4 vectors (key
        // 00..0f, empty message and message 00).
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        assert_eq!(siphash(2, 4, key, &[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash(2, 4, key, &[0]), 0x74f8_39c5_93dc_67fd);
        for v in [0u32, 1, 0xC612_0001, u32::MAX] {
            for k in [key, [2_654_435_761, 2_654_435_761]] {
                assert_eq!(
                    hsiphash_u32(v, k),
                    siphash(1, 3, k, &v.to_le_bytes()) as u32
                );
            }
        }
    }

    #[test]
    fn hsiphash_depends_on_key_and_value() {
        let k1 = [2_654_435_761, 2_654_435_761];
        let k2 = [2_654_446_892, 2_654_446_892];
        assert_ne!(hsiphash_u32(1, k1), hsiphash_u32(1, k2));
        assert_ne!(hsiphash_u32(1, k1), hsiphash_u32(2, k1));
        assert_eq!(hsiphash_u32(7, k1), hsiphash_u32(7, k1));
    }

    #[test]
    fn only_ported_protocols_hash_the_port() {
        let mut k = FlowKey::new(
            IPPROTO_TCP,
            "198.18.0.1:4000".parse().unwrap(),
            "198.18.0.100:80".parse().unwrap(),
        );
        assert_eq!(k.hash_port(), 4000);
        k.protocol = 1;
        assert_eq!(k.hash_port(), 0);
    }
}
