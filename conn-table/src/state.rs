//! IPVS protocol states, the TCP state tables and the default timeouts.
//!
//! The TCP tables are those of the Linux kernel's
//! `net/netfilter/ipvs/ip_vs_proto_tcp.c` (`tcp_states` and, with `secure_tcp`
//! on, `tcp_states_dos`), indexed the same way: direction (input, output,
//! input-only) x packet class (syn, fin, ack, rst) x current state.

use crate::tuple::Direction;

/// IPVS TCP connection state (`IP_VS_TCP_S_*`), in the kernel's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// `NONE`: just created, no packet seen yet.
    None = 0,
    /// `ESTABLISHED`.
    Established = 1,
    /// `SYN_SENT`: SYN seen from the real server side.
    SynSent = 2,
    /// `SYN_RECV`: SYN seen from the client.
    SynRecv = 3,
    /// `FIN_WAIT`.
    FinWait = 4,
    /// `TIME_WAIT`.
    TimeWait = 5,
    /// `CLOSE`.
    Close = 6,
    /// `CLOSE_WAIT`.
    CloseWait = 7,
    /// `LAST_ACK`.
    LastAck = 8,
    /// `LISTEN`.
    Listen = 9,
    /// `SYNACK` (only reachable through the `secure_tcp` table).
    SynAck = 10,
}

impl TcpState {
    /// Number of TCP states (`IP_VS_TCP_S_LAST`).
    pub const COUNT: usize = 11;

    /// Every state, in numbering order.
    pub const ALL: [TcpState; TcpState::COUNT] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The name `ipvsadm -Lnc` prints.
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }

    /// Whether a connection in this state counts as *active* for its real
    /// server (`tcp_state_active_table` of the current kernel: the
    /// pre-established states count as active too, so that lc/wlc see a SYN
    /// flood; everything else is *inactive*).
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::SynSent | TcpState::SynRecv | TcpState::SynAck
        )
    }

    /// State from its kernel number; `None` for an out-of-range value.
    pub const fn from_u8(v: u8) -> Option<TcpState> {
        if (v as usize) < TcpState::COUNT {
            Some(TcpState::ALL[v as usize])
        } else {
            None
        }
    }
}

/// State of a connection as `ipvsadm -Lnc` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// A TCP connection and its state.
    Tcp(TcpState),
    /// A UDP connection (`IP_VS_UDP_S_NORMAL`, shown as `UDP`).
    Udp,
    /// An ICMP/ICMPv6 flow (shown as `ICMP`).
    Icmp,
    /// Any other protocol (SCTP included: its state machine is not
    /// implemented yet, so it has one state and the `other` timeout).
    Other,
}

impl ConnState {
    /// The name `ipvsadm -Lnc` prints.
    pub const fn name(self) -> &'static str {
        match self {
            ConnState::Tcp(s) => s.name(),
            ConnState::Udp => "UDP",
            ConnState::Icmp => "ICMP",
            ConnState::Other => "OTHER",
        }
    }

    /// Whether the connection counts as active for its real server. Only TCP
    /// connections can be active: IPVS counts every UDP flow as inactive.
    pub const fn is_active(self) -> bool {
        match self {
            ConnState::Tcp(s) => s.is_active(),
            _ => false,
        }
    }
}

/// TCP header flags as they appear in the flags byte of the TCP header
/// (byte 13), so the dataplane can pass that byte through unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN bit.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN bit.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST bit.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH bit (ignored by the state machine).
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK bit.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// No flag at all (also what non-TCP callers pass).
    pub const NONE: TcpFlags = TcpFlags(0);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union of two flag sets.
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    /// The kernel's `tcp_state_idx`: RST wins over SYN, SYN over FIN, FIN
    /// over ACK; a segment with none of them has no row (`None`).
    pub(crate) const fn class(self) -> Option<usize> {
        // One table read instead of up to four branches on the flags (a data-dependent
        // chain on mixed traffic): FIN, SYN and RST are bits 0-2, ACK bit 4 moves to 3.
        let i = (self.0 & 0x07) | ((self.0 >> 1) & 0x08);
        let c = FLAG_CLASS[i as usize];
        if c == NO_CLASS {
            None
        } else {
            Some(c as usize)
        }
    }
}

/// [`TcpFlags::class`] of each combination of FIN (bit 0), SYN (1), RST (2), ACK (3).
const FLAG_CLASS: [u8; 16] = {
    let mut t = [NO_CLASS; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = if i & 4 != 0 {
            3
        } else if i & 2 != 0 {
            0
        } else if i & 1 != 0 {
            1
        } else if i & 8 != 0 {
            2
        } else {
            NO_CLASS
        };
        i += 1;
    }
    t
};
const NO_CLASS: u8 = u8::MAX;

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

/// Which table a packet is looked up in (`tcp_state_off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableDir {
    /// Client -> director (`IP_VS_DIR_INPUT`).
    Input = 0,
    /// Real server -> director (`IP_VS_DIR_OUTPUT`).
    Output = 1,
    /// Client -> director on a connection whose replies bypass the director
    /// (DR/TUN, `IP_VS_CONN_F_NOOUTPUT`).
    InputOnly = 2,
}

use TcpState as S;
const ES: S = S::Established;
const SS: S = S::SynSent;
const SR: S = S::SynRecv;
const FW: S = S::FinWait;
const TW: S = S::TimeWait;
const CL: S = S::Close;
const CW: S = S::CloseWait;
const LA: S = S::LastAck;
const LI: S = S::Listen;
const SA: S = S::SynAck;

type Rows = [[[TcpState; TcpState::COUNT]; 4]; 3];

/// `tcp_states` (secure_tcp off). Columns: NO ES SS SR FW TW CL CW LA LI SA.
#[rustfmt::skip]
static TCP_STATES: Rows = [
    // INPUT
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // OUTPUT
    [
        /*syn*/ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// `tcp_states_dos` (secure_tcp on): a SYN alone no longer leads out of the
/// SYN states, so a SYN flood does not pin connections in long timeouts.
#[rustfmt::skip]
static TCP_STATES_DOS: Rows = [
    // INPUT
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
        /*ack*/ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
    // OUTPUT
    [
        /*syn*/ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*syn*/ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The kernel's `set_tcp_state` lookup: next state for a segment with
/// `flags` travelling in `dir` while the connection is in `state`. A segment
/// without SYN/FIN/ACK/RST moves the connection to CLOSE, as in the kernel.
pub(crate) fn tcp_next(secure: bool, dir: TableDir, flags: TcpFlags, state: TcpState) -> TcpState {
    match flags.class() {
        Some(class) => {
            let rows = if secure { &TCP_STATES_DOS } else { &TCP_STATES };
            rows[dir as usize][class][state as usize]
        }
        None => TcpState::Close,
    }
}

/// Public view of the transition function, for tests and tools: the next
/// TCP state for a packet in `direction` on a connection whose replies do
/// (`replies_seen_by_director == true`, NAT/FULLNAT) or do not (DR/TUN) pass
/// through the director.
pub fn tcp_transition(
    secure_tcp: bool,
    direction: Direction,
    replies_bypass_director: bool,
    flags: TcpFlags,
    state: TcpState,
) -> TcpState {
    let dir = match (direction, replies_bypass_director) {
        (Direction::Reply, _) => TableDir::Output,
        (Direction::Original, true) => TableDir::InputOnly,
        (Direction::Original, false) => TableDir::Input,
    };
    tcp_next(secure_tcp, dir, flags, state)
}

/// Timeout of a fresh connection before its first packet is accounted
/// (`ip_vs_conn_new` sets `cp->timeout = 3*HZ`).
pub const INITIAL_TIMEOUT_S: u32 = 3;

/// Protocol timeouts in seconds, per table (ipvsadm `--set`, the
/// `timeout_table` of each `ip_vs_proto_data`). Defaults are the kernel's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP timeout per [`TcpState`], indexed by `state as usize`.
    pub tcp: [u32; TcpState::COUNT],
    /// UDP (`IP_VS_UDP_S_NORMAL`), default 300 s.
    pub udp: u32,
    /// ICMP/ICMPv6 (`IP_VS_ICMP_S_NORMAL`), default 60 s.
    pub icmp: u32,
    /// Every other protocol (rvs choice, same as UDP by default).
    pub other: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            // tcp_timeouts[] of ip_vs_proto_tcp.c.
            tcp: [
                2,       // NONE
                15 * 60, // ESTABLISHED
                2 * 60,  // SYN_SENT
                60,      // SYN_RECV
                2 * 60,  // FIN_WAIT
                2 * 60,  // TIME_WAIT
                10,      // CLOSE
                60,      // CLOSE_WAIT
                30,      // LAST_ACK
                2 * 60,  // LISTEN
                120,     // SYNACK
            ],
            udp: 5 * 60,
            icmp: 60,
            other: 5 * 60,
        }
    }
}

impl Timeouts {
    /// Timeout of a TCP state, in seconds.
    pub const fn tcp_state(&self, state: TcpState) -> u32 {
        self.tcp[state as usize]
    }

    /// ipvsadm `--set tcp tcpfin udp`: `tcp` is the ESTABLISHED timeout,
    /// `tcpfin` the FIN_WAIT timeout, `udp` the UDP timeout; 0 leaves a value
    /// unchanged (as `ip_vs_set_timeout` does).
    pub fn set_ipvsadm(&mut self, tcp: u32, tcpfin: u32, udp: u32) {
        if tcp != 0 {
            self.tcp[TcpState::Established as usize] = tcp;
        }
        if tcpfin != 0 {
            self.tcp[TcpState::FinWait as usize] = tcpfin;
        }
        if udp != 0 {
            self.udp = udp;
        }
    }

    /// The triple `ipvsadm -Ln --timeout` prints: (tcp, tcpfin, udp).
    pub const fn ipvsadm(&self) -> (u32, u32, u32) {
        (
            self.tcp[TcpState::Established as usize],
            self.tcp[TcpState::FinWait as usize],
            self.udp,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's `tcp_state_idx` as written there: RST, then SYN, then FIN, then ACK.
    fn class_by_branches(f: u8) -> Option<usize> {
        if f & TcpFlags::RST.0 != 0 {
            Some(3)
        } else if f & TcpFlags::SYN.0 != 0 {
            Some(0)
        } else if f & TcpFlags::FIN.0 != 0 {
            Some(1)
        } else if f & TcpFlags::ACK.0 != 0 {
            Some(2)
        } else {
            None
        }
    }

    #[test]
    fn class_table_matches_the_kernel_order_for_every_flag_byte() {
        for f in 0..=u8::MAX {
            assert_eq!(TcpFlags(f).class(), class_by_branches(f), "flags {f:#04x}");
        }
    }
}
