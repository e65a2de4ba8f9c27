//! Creating a connection (a SYN's path): the checks that leave the table
//! untouched when they refuse, then the entry written once into a free slot,
//! indexed in both directions, armed on the wheel and counted.

use super::entry::{holds_tuple, ms, Conn, F_HAS_REPLY, F_INACTIVE, F_LIVE, F_NO_OUTPUT, F_V6};
use super::layout::ConnTable;
use super::records::{ConnId, NewConn};
use crate::error::InsertError;
use crate::index::Probe;
use crate::state::{TcpState, INITIAL_TIMEOUT_S};
use crate::tuple::Key;
use crate::wheel::{Link, NIL};

impl ConnTable {
    /// Create a connection in state NONE (TCP), counted inactive for its real
    /// server, expiring in 3 s unless a packet is accounted with
    /// [`ConnTable::on_packet`] — normally the packet that created it, right
    /// away, as IPVS does.
    pub fn insert(&mut self, c: &NewConn, now_ms: u64) -> Result<ConnId, InsertError> {
        // The tuples' keys: each of one family, the reply of the original's
        // family and protocol, and not the original itself.
        let ok = Key::from_tuple(&c.original).ok_or(InsertError::FamilyMismatch)?;
        let rk = match &c.reply {
            Some(r) => {
                let k = Key::from_tuple(r).ok_or(InsertError::FamilyMismatch)?;
                if k.v6 != ok.v6 {
                    return Err(InsertError::FamilyMismatch);
                }
                if k.proto != ok.proto {
                    return Err(InsertError::ProtocolMismatch);
                }
                if k == ok {
                    return Err(InsertError::ReplyExists);
                }
                Some(k)
            }
            None => None,
        };
        self.check_ids(c)?;
        let (op, rp) = self.probe_unused(c, &ok, rk.as_ref())?;
        self.check_room(ok.v6)?;

        // Everything checked: nothing below can fail.
        let rkey = rk.unwrap_or(Key {
            src: 0,
            dst: 0,
            ports: 0,
            proto: ok.proto,
            v6: ok.v6,
        });
        let addrs = self.place_addrs(&ok, &rkey);
        let expires = now_ms.saturating_add(ms(INITIAL_TIMEOUT_S));
        let entry = new_entry(c, &ok, &rkey, addrs, rk.is_some(), expires);
        let idx = self.take_slot(entry);
        self.enter(c, idx, (op, rp), expires, now_ms);
        Ok(ConnId(idx))
    }

    // The steps below are `insert`'s body cut into named parts, forced inline
    // so that the SYN path compiles to one function as before. (The key checks
    // stay in `insert`: as a step returning both keys in a `Result` they cost
    // a SYN about 13 more instructions.)

    /// Refuse a real server id out of range or a stale template handle.
    #[inline(always)]
    fn check_ids(&self, c: &NewConn) -> Result<(), InsertError> {
        if c.rs as usize >= self.counts.len() {
            return Err(InsertError::RealServerOutOfRange {
                rs: c.rs,
                max: self.counts.len() as u32,
            });
        }
        if let Some(t) = c.template {
            if self.template_live(t).is_none() {
                return Err(InsertError::StaleTemplate);
            }
        }
        Ok(())
    }

    /// The index probes of both keys, refusing tuples another connection
    /// already holds.
    #[inline(always)]
    fn probe_unused(
        &self,
        c: &NewConn,
        ok: &Key,
        rk: Option<&Key>,
    ) -> Result<(Probe, Option<Probe>), InsertError> {
        let op = self.probe(ok);
        let rp = rk.map(|k| self.probe(k));
        {
            let (conns, v6) = (&self.conns.0, &self.v6);
            if self
                .index
                .find(op, |v| holds_tuple(conns, v6, v, &c.original))
                .is_some()
            {
                return Err(InsertError::Exists);
            }
            if let (Some(r), Some(p)) = (&c.reply, rp) {
                if self
                    .index
                    .find(p, |v| holds_tuple(conns, v6, v, r))
                    .is_some()
                {
                    return Err(InsertError::ReplyExists);
                }
            }
        }
        Ok((op, rp))
    }

    /// Refuse (and count) a connection the table has no room for.
    #[inline(always)]
    fn check_room(&mut self, v6: bool) -> Result<(), InsertError> {
        if self.len >= self.capacity || (v6 && self.v6_len >= self.v6_capacity) {
            self.stats.refused_full += 1;
            return Err(InsertError::Full);
        }
        Ok(())
    }

    /// The entry's `addrs`: the IPv4 addresses themselves, or the index of a
    /// new IPv6 side slot holding the four addresses.
    #[inline(always)]
    fn place_addrs(&mut self, ok: &Key, rkey: &Key) -> [u32; 4] {
        if ok.v6 {
            let addrs = [ok.src, ok.dst, rkey.src, rkey.dst];
            let slot = if self.v6_free != NIL {
                let s = self.v6_free;
                self.v6_free = self.v6[s as usize][0] as u32;
                self.v6[s as usize] = addrs;
                s
            } else {
                self.v6.push(addrs);
                (self.v6.len() - 1) as u32
            };
            self.v6_len += 1;
            [slot, 0, 0, 0]
        } else {
            [
                ok.src as u32,
                ok.dst as u32,
                rkey.src as u32,
                rkey.dst as u32,
            ]
        }
    }

    /// Store `entry` in a slab slot (a freed one first); its index.
    #[inline(always)]
    fn take_slot(&mut self, entry: Conn) -> u32 {
        if self.free != NIL {
            let i = self.free;
            let e = &mut self.conns.0[i as usize];
            self.free = e.link.next;
            *e = entry;
            i
        } else {
            self.conns.0.push(entry);
            (self.conns.0.len() - 1) as u32
        }
    }

    /// Make the stored entry `idx` findable from both directions, arm its
    /// timer and count it for its real server and template.
    #[inline(always)]
    fn enter(
        &mut self,
        c: &NewConn,
        idx: u32,
        (op, rp): (Probe, Option<Probe>),
        expires: u64,
        now_ms: u64,
    ) {
        self.index.insert(op, idx << 1);
        if let Some(p) = rp {
            self.index.insert(p, (idx << 1) | 1);
        }
        self.wheel.link(&mut self.conns, idx, expires);
        self.counts[c.rs as usize].inactive += 1;
        if let Some(t) = c.template {
            self.template_control_add(t.0, now_ms);
        }
        self.len += 1;
    }
}

/// The new entry in state NONE: IPVS binds every new connection inactive; TCP
/// moves it to active when it reaches an active state.
#[inline(always)]
fn new_entry(
    c: &NewConn,
    ok: &Key,
    rkey: &Key,
    addrs: [u32; 4],
    has_reply: bool,
    expires: u64,
) -> Conn {
    let mut flags = F_LIVE | F_INACTIVE;
    if ok.v6 {
        flags |= F_V6;
    }
    if c.method.replies_bypass_director() {
        flags |= F_NO_OUTPUT;
    }
    if has_reply {
        flags |= F_HAS_REPLY;
    }
    // Written once, in place (not a template patched field by field and copied).
    Conn {
        addrs,
        ports: [
            (ok.ports >> 16) as u16,
            ok.ports as u16,
            (rkey.ports >> 16) as u16,
            rkey.ports as u16,
        ],
        proto: ok.proto,
        flags,
        state: TcpState::None as u8,
        method: c.method as u8,
        template: c.template.map_or(NIL, |t| t.0),
        expires,
        counters: [0; 4],
        rs: c.rs,
        svc: c.svc,
        link: Link::UNLINKED,
        seq_delta: 0,
    }
}
