//! Sync messages against bytes written from the kernel's struct layout (`struct
//! ip_vs_sync_mesg`, `ip_vs_sync_v4`, `ip_vs_sync_v6`, `ip_vs_sync_conn_options`), the
//! receiver's rules, and arbitrary bytes.

use super::*;
use proptest::prelude::*;
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An established TCP NAT connection 198.18.0.1:40000 -> 198.18.0.100:80 -> 198.19.0.11:8080.
fn tcp4() -> SyncConn {
    SyncConn {
        protocol: 6,
        flags: conn_flags::MASQ,
        state: 1,
        client: (ip("198.18.0.1"), 40000),
        virt: (ip("198.18.0.100"), 80),
        dest: (ip("198.19.0.11"), 8080),
        fwmark: 0,
        timeout_s: 900,
        seq: None,
        fullnat: None,
    }
}

const TCP4_ENTRY: [u8; 36] = [
    0x00, 0x06, 0x00, 0x24, // type (IPv4), protocol, version 0 | size 36
    0x00, 0x00, 0x00, 0x00, // flags: MASQ
    0x00, 0x01, 0x9c, 0x40, // state ESTABLISHED, cport 40000
    0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
    0x00, 0x00, 0x00, 0x00, // fwmark
    0x00, 0x00, 0x03, 0x84, // timeout 900 s
    198, 18, 0, 1, // caddr
    198, 18, 0, 100, // vaddr
    198, 19, 0, 11, // daddr
];

fn one(w: &mut MessageWriter, c: &SyncConn) -> Vec<u8> {
    assert_eq!(w.push(c).unwrap(), None);
    w.take().unwrap()
}

#[test]
fn an_ipv4_entry_as_the_kernel_lays_it_out() {
    let m = one(&mut MessageWriter::new(7, 1472), &tcp4());
    let mut want = vec![0, 7, 0, 44, 1, 1, 0, 0];
    want.extend_from_slice(&TCP4_ENTRY);
    assert_eq!(m, want);
    let d = decode(&m, 7).unwrap();
    let mut got = tcp4();
    got.flags |= conn_flags::SYNC;
    assert_eq!(d.conns, [got]);
    assert!(d.skipped.is_empty() && d.dropped_rest.is_none());
    // A backup following sync id 0 takes any.
    assert_eq!(decode(&m, 0).unwrap().conns.len(), 1);
}

#[test]
fn ipv6_entry_with_sequence_options_then_a_padded_ipv4_entry() {
    let mut c6 = tcp4();
    c6.client = (ip("2001:2::1"), 40000);
    c6.virt = (ip("2001:2::100"), 80);
    c6.dest = (ip("2001:2:0:1::11"), 8080);
    c6.flags = conn_flags::DROUTE | conn_flags::IN_SEQ;
    c6.seq = Some((
        SeqAdjust {
            init_seq: 1,
            delta: 2,
            previous_delta: 3,
        },
        SeqAdjust {
            init_seq: 4,
            delta: 5,
            previous_delta: 6,
        },
    ));
    let mut w = MessageWriter::new(1, 1472);
    assert_eq!(w.push(&c6).unwrap(), None);
    assert_eq!(w.push(&tcp4()).unwrap(), None);
    let m = w.take().unwrap();
    // 8 header + 98 (72 + 2 + 24) + 2 padding + 36.
    assert_eq!(m.len(), 144);
    assert_eq!(&m[..8], &[0, 1, 0, 144, 2, 1, 0, 0]);
    assert_eq!(&m[8..12], &[0x01, 0x06, 0x00, 98]);
    assert_eq!(&m[12..16], &[0, 0, 0x04, 0x03]);
    // Addresses from 8 + 24: client, virtual, destination; then the options.
    assert_eq!(m[32..48], ip6_octets("2001:2::1"));
    assert_eq!(m[64..80], ip6_octets("2001:2:0:1::11"));
    let mut seq = vec![1u8, 24];
    for v in 1u32..=6 {
        seq.extend_from_slice(&v.to_be_bytes());
    }
    assert_eq!(&m[80..106], &seq[..]);
    assert_eq!(&m[106..108], &[0, 0], "padding to 32 bits");
    assert_eq!(&m[108..144], &TCP4_ENTRY);
    let d = decode(&m, 1).unwrap();
    assert_eq!(d.conns.len(), 2);
    assert_eq!(d.conns[0].seq, c6.seq);
    assert_eq!(d.conns[0].flags, c6.flags | conn_flags::SYNC);
    assert_eq!(d.conns[1].client, tcp4().client);
}

fn ip6_octets(s: &str) -> [u8; 16] {
    match ip(s) {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => unreachable!(),
    }
}

#[test]
fn fullnat_extension_is_an_optional_parameter() {
    let mut c = tcp4();
    c.fullnat = Some(FullNatLocal {
        addr: ip("198.19.0.250"),
        port: 5000,
        seq_offset: 0xdead_beef,
    });
    let m = one(&mut MessageWriter::new(1, 1472), &c);
    // Type 0x60: IPVS_OPT_F_PARAM set, so the kernel skips it.
    assert_eq!(&m[44..46], &[0x60, 11]);
    assert_eq!(
        &m[46..57],
        &[0, 198, 19, 0, 250, 0x13, 0x88, 0xde, 0xad, 0xbe, 0xef]
    );
    assert_eq!(decode(&m, 1).unwrap().conns[0].fullnat, c.fullnat);
    // A kernel's unknown optional parameter is skipped; a mandatory one skips the entry.
    for (ty, read) in [(0x61u8, true), (0x21, false)] {
        let mut m = one(&mut MessageWriter::new(1, 1472), &tcp4());
        m.extend_from_slice(&[ty, 2, 0xaa, 0xbb]);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m[8 + 3] = 40;
        let d = decode(&m, 1).unwrap();
        assert_eq!(d.conns.len(), usize::from(read), "type {ty:#x}");
        if !read {
            assert_eq!(d.skipped, [EntryError::Option(0x21)]);
        }
    }
}

#[test]
fn messages_split_at_the_maximum_length() {
    let mut w = MessageWriter::new(3, 8 + 3 * 36);
    let mut sent = Vec::new();
    for i in 0..7u16 {
        let mut c = tcp4();
        c.client.1 = 1000 + i;
        if let Some(m) = w.push(&c).unwrap() {
            sent.push(m);
        }
    }
    sent.extend(w.take());
    assert_eq!(sent.iter().map(|m| m[4]).collect::<Vec<_>>(), [3, 3, 1]);
    let ports: Vec<u16> = sent
        .iter()
        .flat_map(|m| decode(m, 3).unwrap().conns)
        .map(|c| c.client.1)
        .collect();
    assert_eq!(ports, (1000..1007).collect::<Vec<_>>());
    let mut mixed = tcp4();
    mixed.dest.0 = ip("2001:2::11");
    assert_eq!(w.push(&mixed), Err(EncodeError::MixedFamilies));
}

#[test]
fn the_receivers_refusals() {
    let good = one(&mut MessageWriter::new(9, 1472), &tcp4());
    assert_eq!(decode(&good[..5], 9), Err(MessageError::TooShort(5)));
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        decode(&longer, 9),
        Err(MessageError::SizeMismatch { said: 44, got: 45 })
    );
    assert_eq!(decode(&good, 8), Err(MessageError::OtherSyncId(9)));
    let mut v0 = good.clone();
    v0[5] = 0;
    assert_eq!(decode(&v0, 9), Err(MessageError::Version0));
    // Entry-level: a count beyond the entries, a size beyond the message, a version.
    let mut more = good.clone();
    more[4] = 2;
    let d = decode(&more, 9).unwrap();
    assert_eq!(
        (d.conns.len(), d.dropped_rest),
        (1, Some(MessageError::EntryOverrun(1)))
    );
    let mut big = good.clone();
    big[8 + 3] = 40;
    assert_eq!(
        decode(&big, 9).unwrap().dropped_rest,
        Some(MessageError::EntryOverrun(0))
    );
    let mut ver = good.clone();
    ver[8 + 2] = 0x10;
    assert_eq!(
        decode(&ver, 9).unwrap().dropped_rest,
        Some(MessageError::EntryVersion {
            index: 0,
            version: 1
        })
    );
    // Skipped entries: an unknown protocol, a state past the last.
    let mut proto = good.clone();
    proto[8 + 1] = 47;
    assert_eq!(
        decode(&proto, 9).unwrap().skipped,
        [EntryError::Protocol(47)]
    );
    let mut state = good.clone();
    state[8 + 9] = 11;
    assert_eq!(
        decode(&state, 9).unwrap().skipped,
        [EntryError::State {
            protocol: 6,
            state: 11
        }]
    );
    // A template's state is not checked against the protocol's.
    let mut tpl = tcp4();
    tpl.flags = conn_flags::TEMPLATE;
    tpl.state = 1;
    let m = one(&mut MessageWriter::new(9, 1472), &tpl);
    assert_eq!(decode(&m, 9).unwrap().conns.len(), 1);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), sid in any::<u8>()) {
        let _ = decode(&bytes, sid);
        // The same with a plausible header, so entries are walked too.
        let mut m = bytes.clone();
        if m.len() >= HEADER_LEN {
            let len = m.len() as u16;
            m[0] = 0;
            m[2..4].copy_from_slice(&len.to_be_bytes());
            m[5] = 1;
            m[6] = 0;
            m[7] = 0;
            let _ = decode(&m, 0);
        }
    }

    #[test]
    fn what_is_written_is_read_back(
        port in any::<u16>(), state in 0u16..11, timeout in any::<u32>(), v6 in any::<bool>(),
        seq in proptest::option::of(any::<[u32; 6]>()), lport in proptest::option::of(any::<u16>()),
    ) {
        let mut c = tcp4();
        c.client.1 = port;
        c.state = state;
        c.timeout_s = timeout;
        if v6 {
            c.client.0 = ip("2001:2::1");
            c.virt.0 = ip("2001:2::100");
            c.dest.0 = ip("2001:2:0:1::11");
        }
        c.seq = seq.map(|s| (
            SeqAdjust { init_seq: s[0], delta: s[1], previous_delta: s[2] },
            SeqAdjust { init_seq: s[3], delta: s[4], previous_delta: s[5] },
        ));
        if c.seq.is_some() {
            c.flags |= conn_flags::SEQ_MASK;
        }
        c.fullnat = lport.map(|p| FullNatLocal { addr: c.dest.0, port: p, seq_offset: 7 });
        let m = one(&mut MessageWriter::new(1, 1472), &c);
        prop_assert_eq!(usize::from(u16::from_be_bytes([m[2], m[3]])), m.len());
        let mut want = c.clone();
        want.flags |= conn_flags::SYNC;
        prop_assert_eq!(decode(&m, 1).unwrap().conns, vec![want]);
    }
}
