//! The TCP state machine against the kernel's tables, transcribed here in the
//! kernel's own text layout (net/netfilter/ipvs/ip_vs_proto_tcp.c) and parsed,
//! independently of the crate's Rust arrays.

use conn_table::{tcp_transition, Direction, TcpFlags, TcpState};

const KERNEL_TCP_STATES: &str = "
/*	INPUT */
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR }},
/*	OUTPUT */
/*syn*/ {{sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR }},
/*fin*/ {{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES }},
/*rst*/ {{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL }},
/*	INPUT-ONLY */
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL }},
";

const KERNEL_TCP_STATES_DOS: &str = "
/*	INPUT */
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSA }},
/*fin*/ {{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sSA }},
/*ack*/ {{sES, sES, sSS, sSR, sFW, sTW, sCL, sCW, sCL, sLI, sSA }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL }},
/*	OUTPUT */
/*syn*/ {{sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA }},
/*fin*/ {{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES }},
/*rst*/ {{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL }},
/*	INPUT-ONLY */
/*syn*/ {{sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA }},
/*fin*/ {{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL }},
";

fn parse_state(s: &str) -> TcpState {
    match s.trim() {
        "sNO" => TcpState::None,
        "sES" => TcpState::Established,
        "sSS" => TcpState::SynSent,
        "sSR" => TcpState::SynRecv,
        "sFW" => TcpState::FinWait,
        "sTW" => TcpState::TimeWait,
        "sCL" => TcpState::Close,
        "sCW" => TcpState::CloseWait,
        "sLA" => TcpState::LastAck,
        "sLI" => TcpState::Listen,
        "sSA" => TcpState::SynAck,
        other => panic!("unknown state {other}"),
    }
}

/// (direction, replies bypass director, flags of the row) for each block.
fn check(text: &str, secure: bool) {
    let rows: Vec<Vec<TcpState>> = text
        .lines()
        .filter(|l| {
            l.starts_with("/*syn*/")
                || l.starts_with("/*fin*/")
                || l.starts_with("/*ack*/")
                || l.starts_with("/*rst*/")
        })
        .map(|l| {
            let inner = &l[l.find("{{").unwrap() + 2..l.find("}}").unwrap()];
            inner.split(',').map(parse_state).collect()
        })
        .collect();
    assert_eq!(rows.len(), 12);
    let blocks = [
        (Direction::Original, false),
        (Direction::Reply, false),
        (Direction::Original, true),
    ];
    let classes = [TcpFlags::SYN, TcpFlags::FIN, TcpFlags::ACK, TcpFlags::RST];
    let mut checked = 0;
    for (b, &(dir, bypass)) in blocks.iter().enumerate() {
        for (c, &flags) in classes.iter().enumerate() {
            let row = &rows[b * 4 + c];
            assert_eq!(row.len(), TcpState::COUNT);
            for (s, &expected) in row.iter().enumerate() {
                let from = TcpState::ALL[s];
                let got = tcp_transition(secure, dir, bypass, flags, from);
                assert_eq!(
                    got, expected,
                    "secure={secure} dir={dir:?} bypass={bypass} flags={flags:?} from={from:?}"
                );
                // The kernel's precedence: RST > SYN > FIN > ACK, so adding
                // lower-priority bits never changes the row.
                let with_ack = tcp_transition(secure, dir, bypass, flags | TcpFlags::ACK, from);
                assert_eq!(with_ack, expected);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3 * 4 * 11);
}

#[test]
fn normal_table_matches_kernel() {
    check(KERNEL_TCP_STATES, false);
}

#[test]
fn secure_tcp_table_matches_kernel() {
    check(KERNEL_TCP_STATES_DOS, true);
}

#[test]
fn segment_without_known_flags_goes_to_close() {
    for s in TcpState::ALL {
        for dir in [Direction::Original, Direction::Reply] {
            assert_eq!(
                tcp_transition(false, dir, false, TcpFlags::PSH, s),
                TcpState::Close
            );
            assert_eq!(
                tcp_transition(false, dir, false, TcpFlags::NONE, s),
                TcpState::Close
            );
        }
    }
}

#[test]
fn precedence_rst_over_syn_over_fin() {
    let all = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK;
    // RST row from ESTABLISHED on input -> CLOSE; SYN row would stay ES.
    assert_eq!(
        tcp_transition(
            false,
            Direction::Original,
            false,
            all,
            TcpState::Established
        ),
        TcpState::Close
    );
    // SYN+FIN: the SYN row (ES stays ES), not the FIN row (ES -> CLOSE_WAIT).
    assert_eq!(
        tcp_transition(
            false,
            Direction::Original,
            false,
            TcpFlags::SYN | TcpFlags::FIN,
            TcpState::Established
        ),
        TcpState::Established
    );
}
