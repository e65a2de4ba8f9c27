//! What Linux's input path refuses before any protocol (IPVS included) sees a packet,
//! as far as the packet's own bytes tell: source addresses no host may send from
//! (`ip_route_input_slow`'s martian sources, `ip6_rcv_core`'s checks) and IPv4 options
//! that do not parse (`ip_options_compile`). The sources only the tables can judge (the
//! director's own addresses, VIPs) are checked by the connection step.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether `src` cannot be a client's IPv4 source: 0.0.0.0/8 ("this network"),
/// 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast) or 240.0.0.0/4 (class E, with the
/// limited broadcast 255.255.255.255). Two compares on the first octet.
#[inline(always)]
pub fn is_martian_source(src: Ipv4Addr) -> bool {
    let a = src.octets()[0];
    a == 0 || a == 127 || a >= 224
}

/// Whether `src` cannot be a client's IPv6 source: unspecified (`::`), loopback (`::1`),
/// multicast (`ff00::/8`), or IPv4-mapped (`::ffff:0:0/96`, which Linux's input path
/// dropped from 4.15 to 5.11 and its TCP still refuses a SYN from: no reply can be routed
/// to it, and it could pass for an IPv4 address such as `::ffff:127.0.0.1`).
#[inline(always)]
pub fn is_martian_source6(src: Ipv6Addr) -> bool {
    let a = u128::from(src);
    a <= 1 || a >> 120 == 0xff || a >> 32 == 0xffff
}

/// IPv4 option kinds `ip_options_compile` gives rules to.
mod kind {
    pub const END: u8 = 0;
    pub const NOOP: u8 = 1;
    pub const RR: u8 = 7;
    pub const TIMESTAMP: u8 = 68;
    pub const LSRR: u8 = 131;
    pub const CIPSO: u8 = 134;
    pub const SSRR: u8 = 137;
    pub const RA: u8 = 148;
}

/// Timestamp option flags (the low nibble of its fourth byte).
const TS_TSANDADDR: u8 = 1;
const TS_PRESPEC: u8 = 3;

/// Whether the IPv4 options `opts` (the header's bytes after the first 20) are ones
/// Linux's input path accepts, checked as `ip_options_compile` checks a received packet's
/// (for validity only: nothing is recorded or rewritten):
/// - every option but END and NOOP has a length of at least 2 that stays within the
///   header; END ends the walk;
/// - record route, timestamp and source routes appear at most once, with a pointer and
///   length of their minimum, and a pointer that leaves room for the next entry;
/// - a timestamp whose pointer is past its end may not overflow its counter (15);
/// - router alert is at least 4 bytes long;
/// - no source route (LSRR, SSRR): Linux drops source-routed packets unless
///   `accept_source_route` is set on the interface and `all`, and `all` is 0 by default;
/// - no CIPSO: Linux refuses one without a configured CIPSO domain, which a director
///   does not have.
pub fn ipv4_options_valid(opts: &[u8]) -> bool {
    let (mut rr, mut ts) = (false, false);
    let mut i = 0;
    while i < opts.len() {
        let l = opts.len() - i;
        let kind = opts[i];
        match kind {
            kind::END => return true,
            kind::NOOP => {
                i += 1;
                continue;
            }
            _ => {}
        }
        if l < 2 {
            return false;
        }
        let len = usize::from(opts[i + 1]);
        if len < 2 || len > l {
            return false;
        }
        let opt = &opts[i..i + len];
        let ok = match kind {
            kind::LSRR | kind::SSRR | kind::CIPSO => false,
            kind::RR => !std::mem::replace(&mut rr, true) && record_route_valid(opt),
            kind::TIMESTAMP => !std::mem::replace(&mut ts, true) && timestamp_valid(opt),
            kind::RA => len >= 4,
            _ => true,
        };
        if !ok {
            return false;
        }
        i += len;
    }
    true
}

/// A record route option (whole, `opt[1]` bytes): a pointer of at least 4 and, while it
/// is not past the end, room for one more address.
fn record_route_valid(opt: &[u8]) -> bool {
    let len = opt.len();
    if len < 3 {
        return false;
    }
    let ptr = usize::from(opt[2]);
    ptr >= 4 && (ptr > len || ptr + 3 <= len)
}

/// A timestamp option (whole): at least 4 bytes, a pointer of at least 5; while the
/// pointer is not past the end, room for the entry its flag asks for; once it is, an
/// overflow counter below 15 (unless the addresses were prespecified).
fn timestamp_valid(opt: &[u8]) -> bool {
    let len = opt.len();
    if len < 4 {
        return false;
    }
    let (ptr, flag, overflow) = (usize::from(opt[2]), opt[3] & 0x0f, opt[3] >> 4);
    if ptr < 5 {
        return false;
    }
    if ptr <= len {
        let entry = match flag {
            TS_TSANDADDR | TS_PRESPEC => 8,
            _ => 4,
        };
        return ptr + entry - 1 <= len;
    }
    flag == TS_PRESPEC || overflow != 15
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn martian_ipv4_sources() {
        for bad in [
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
        ] {
            assert!(is_martian_source(bad.parse().unwrap()), "{bad}");
        }
        for good in ["1.0.0.0", "126.255.255.255", "128.0.0.1", "223.255.255.255"] {
            assert!(!is_martian_source(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn martian_ipv6_sources() {
        for bad in [
            "::",
            "::1",
            "ff02::1",
            "ff0e::1234",
            "::ffff:127.0.0.1",
            "::ffff:198.18.0.1",
        ] {
            assert!(is_martian_source6(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "::2",
            "2001:db8::1",
            "fe80::1",
            "fc00::1",
            "::1:0:0:1",
            "64:ff9b::c612:1",
        ] {
            assert!(!is_martian_source6(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn options_that_parse() {
        for ok in [
            &[][..],
            &[1, 1, 1, 0],                            // NOOPs, END
            &[0, 0x27, 4, 0],                         // END first: the rest is not read
            &[148, 4, 0, 0],                          // router alert
            &[7, 7, 4, 0, 0, 0, 0, 0],                // record route, room for one address
            &[7, 7, 8, 1, 2, 3, 4, 0],                // record route, full (pointer past the end)
            &[68, 8, 5, 0, 0, 0, 0, 0],               // timestamp, room for one
            &[68, 4, 5, 0x10],                        // timestamp full, overflow 1
            &[68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0],  // timestamp and address, room for one
            &[130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // security (kind Linux accepts)
            &[30, 2, 1, 0],                           // unknown kind with a sane length
        ] {
            assert!(ipv4_options_valid(ok), "{ok:?}");
        }
    }

    #[test]
    fn options_that_do_not_parse() {
        for bad in [
            &[7, 0x27, 4, 0][..],            // length past the header (the packet)
            &[30, 1, 0, 0],                  // length < 2
            &[30, 0, 0, 0],                  // length 0
            &[1, 1, 1, 30],                  // a kind with no room for its length
            &[7, 2, 1, 0],                   // record route too short for its pointer
            &[7, 7, 3, 0, 0, 0, 0, 0],       // record route pointer < 4
            &[7, 6, 4, 0, 0, 0],             // record route: no room for the address
            &[7, 3, 4, 7, 3, 4, 0, 0],       // record route twice
            &[68, 3, 5, 0],                  // timestamp shorter than 4
            &[68, 4, 4, 0],                  // timestamp pointer < 5
            &[68, 4, 5, 0xf0],               // timestamp full, counter overflowed
            &[68, 8, 5, 1, 0, 0, 0, 0],      // timestamp and address: no room for both
            &[148, 3, 0, 0],                 // router alert shorter than 4
            &[131, 7, 4, 198, 19, 0, 11, 0], // loose source route
            &[137, 7, 4, 198, 19, 0, 11, 0], // strict source route
            &[134, 6, 0, 0, 0, 1, 0, 0],     // CIPSO
        ] {
            assert!(!ipv4_options_valid(bad), "{bad:?}");
        }
    }
}
