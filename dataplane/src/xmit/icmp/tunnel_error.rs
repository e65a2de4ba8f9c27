//! ICMP errors about the director's own tunnel packets (IPv4): a router between the
//! director and a TUN real server could not deliver an encapsulated packet and quotes it.
//! Like `ip_vs_in_icmp`, the client gets the same error about its own packet, from the
//! VIP, quoting the inner packet; "fragmentation needed" carries the reported MTU less the
//! encapsulation overhead. rvs keeps no path-MTU cache per real server (IPVS updates the
//! route's PMTU). IPv6 has no such case: `ip_vs_in_icmp_v6` does not relate these errors.

use std::net::{IpAddr, Ipv4Addr};

use conn_table::{Direction, Method, Tuple};

use crate::counters::{bump, DropReason};
use crate::frame::Frame;
use crate::pipeline::state::{Pipeline, ETH_HDR};
use crate::pipeline::verdict::Verdict;
use crate::tables::Tables;
use crate::wire::icmpv4::{self, msg_type, QuotedPacket};
use crate::wire::{ip_proto, Icmpv4Packet, Ipv4Packet};
use crate::xmit::tun as tunnel;

const IPV4_HDR: usize = crate::wire::ipv4::HEADER_LEN;

impl<P: Frame> Pipeline<P> {
    /// An ICMP error about one of our tunnel packets (a router between the director and a
    /// real server could not deliver it): like `ip_vs_in_icmp`, send the client the same
    /// error about its own packet, from the VIP, quoting the inner packet; for
    /// "fragmentation needed" the reported MTU less the encapsulation overhead, and only
    /// when the client's packet had DF (otherwise nothing is sent: IPVS would now
    /// fragment). Rebuilt in place. None when the quote is not of a tunnel connection.
    pub(super) fn tunnel_icmp_error(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
    ) -> Option<Verdict<Ipv4Addr>> {
        let ip = Ipv4Packet::new_checked(&ip_buf[..]).ok()?;
        let (hl, total) = (ip.header_len(), ip.total_len());
        let icmp = Icmpv4Packet::new_checked(&ip_buf[hl..total]).ok()?;
        let quote = icmp.data();
        let outer = QuotedPacket::parse(quote).ok()?;
        let kind = t
            .services
            .tunnel_to(outer.dst_addr, outer.protocol, outer.dst_port)?;
        let at = tunnel::inner_offset(
            outer.protocol,
            outer.header_len,
            quote.get(outer.header_len..)?,
        )?;
        let inner = QuotedPacket::parse(quote.get(at..)?).ok()?;
        if inner.protocol != ip_proto::TCP && inner.protocol != ip_proto::UDP {
            return None;
        }
        let flow = Tuple::new(
            inner.protocol,
            IpAddr::V4(inner.src_addr),
            inner.src_port,
            IpAddr::V4(inner.dst_addr),
            inner.dst_port,
        );
        let (id, dir) = self.conns.lookup(&flow)?;
        let c = self.conns.get(id, now_ms)?;
        if dir != Direction::Original || c.method != Method::Tunnel {
            return None;
        }
        if !icmp.verify_checksum() {
            return Some(Verdict::Drop(DropReason::L4Malformed));
        }
        let (ty, code) = (icmp.msg_type(), icmp.msg_code());
        let inner_df = quote[at + 6] & 0x40 != 0;
        let mut rest = [0u8; 4];
        rest.copy_from_slice(&ip_buf[hl + 4..hl + 8]);
        if ty == msg_type::DST_UNREACHABLE && code == icmpv4::unreachable_code::FRAG_NEEDED {
            if !inner_df {
                return Some(Verdict::Drop(DropReason::ForDirector));
            }
            let overhead = kind.overhead::<Ipv4Addr>() as u16;
            let mut mtu = u16::from_be_bytes([rest[2], rest[3]]);
            if mtu > 68 + overhead {
                mtu -= overhead;
            }
            rest = [0, 0, (mtu >> 8) as u8, mtu as u8];
        }
        // Move the inner packet's quote to where the new ICMP message quotes it.
        let from = hl + icmpv4::HEADER_LEN + at;
        let len = (total - from).min(tunnel::ICMP_QUOTE_MAX);
        let to = IPV4_HDR + icmpv4::HEADER_LEN;
        ip_buf.copy_within(from..from + len, to);
        let client = tunnel::write_icmp_error(ip_buf, ty, code, rest, len);
        bump(&self.cfg.stats.icmp_errors_translated, 1);
        Some(Verdict::ForwardTrimmed(client, ETH_HDR + to + len))
    }
}
