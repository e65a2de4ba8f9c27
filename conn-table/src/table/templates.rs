//! Persistence templates: finding, creating and invalidating one, the refresh a
//! new connection through it gives it, and freeing it (its timer is served by
//! the expiry sweep).

use core::hash::BuildHasher;

use super::entry::{ms, Template, T_HASHED};
use super::layout::ConnTable;
use super::records::{TemplateId, TemplateInfo};
use crate::error::InsertError;
use crate::tuple::{TKey, TemplateKey};
use crate::wheel::{Link, NIL};

/// A template whose timer fires while it still controls connections is
/// checked again this many seconds later (`expire_later` in
/// `ip_vs_conn_expire` sets `cp->timeout = 60*HZ`).
pub const TEMPLATE_RECHECK_S: u32 = 60;

impl ConnTable {
    /// A new controlled connection refreshes the template to a full
    /// persistence timeout (IPVS puts the template back with `svc->timeout`
    /// each time it schedules through it).
    pub(super) fn template_control_add(&mut self, i: u32, now_ms: u64) {
        let t = &mut self.tpls.0[i as usize];
        t.n_control += 1;
        let exp = now_ms.saturating_add(ms(t.timeout_s));
        t.expires = exp;
        let armed = t.link.tick;
        if self.tpl_wheel.needs_rearm(armed, exp) {
            self.tpl_wheel.unlink(&mut self.tpls, i);
            self.tpl_wheel.link(&mut self.tpls, i, exp);
        }
    }

    fn tkey_hash(&self, k: &TKey) -> u64 {
        self.hasher.hash_one(k)
    }

    /// Find the template of a (service, masked client, vport): the real
    /// server the client is bound to. A template past its timeout that no
    /// longer controls any connection is dropped here rather than returned.
    pub fn template_get(&mut self, key: &TemplateKey, now_ms: u64) -> Option<(TemplateId, u32)> {
        let k = TKey::from_key(key);
        let h = self.tkey_hash(&k);
        let tpls = &self.tpls.0;
        let i = *self.tpl_index.find(h, |&v| tpls[v as usize].key() == k)?;
        let t = self.tpls.0[i as usize];
        if t.expires <= now_ms && t.n_control == 0 {
            self.tpl_wheel.unlink(&mut self.tpls, i);
            self.free_template(i);
            self.stats.templates_expired += 1;
            return None;
        }
        Some((TemplateId(i), t.rs))
    }

    /// Create a persistence template binding `key` to real server `rs` for
    /// `timeout_s` seconds (the service's persistence timeout).
    pub fn template_create(
        &mut self,
        key: &TemplateKey,
        rs: u32,
        timeout_s: u32,
        now_ms: u64,
    ) -> Result<TemplateId, InsertError> {
        if rs as usize >= self.counts.len() {
            return Err(InsertError::RealServerOutOfRange {
                rs,
                max: self.counts.len() as u32,
            });
        }
        let k = TKey::from_key(key);
        let h = self.tkey_hash(&k);
        {
            let tpls = &self.tpls.0;
            if self
                .tpl_index
                .find(h, |&v| tpls[v as usize].key() == k)
                .is_some()
            {
                return Err(InsertError::Exists);
            }
        }
        if self.tpl_len >= self.tpl_capacity {
            self.stats.refused_templates_full += 1;
            return Err(InsertError::TemplatesFull);
        }
        let t = Template {
            client: k.client,
            expires: now_ms.saturating_add(ms(timeout_s)),
            svc: k.svc,
            rs,
            timeout_s,
            n_control: 0,
            link: Link::UNLINKED,
            vport: k.vport,
            v6: k.v6,
            live: true,
            flags: T_HASHED,
        };
        let i = if self.tpl_free != NIL {
            let i = self.tpl_free;
            self.tpl_free = self.tpls.0[i as usize].link.next;
            self.tpls.0[i as usize] = t;
            i
        } else {
            self.tpls.0.push(t);
            (self.tpls.0.len() - 1) as u32
        };
        let tpls = &self.tpls.0;
        let hasher = &self.hasher;
        self.tpl_index
            .insert_unique(h, i, |&v| hasher.hash_one(tpls[v as usize].key()));
        self.tpl_wheel.link(&mut self.tpls, i, t.expires);
        self.counts[rs as usize].persistent += 1;
        self.tpl_len += 1;
        Ok(TemplateId(i))
    }

    /// Make a template unfindable (its real server was removed or became
    /// quiescent with `expire_quiescent_template`, as `ip_vs_check_template`
    /// does): new connections get a fresh scheduling decision, connections
    /// it already controls keep their real server, and it is freed once its
    /// timer fires with no connection left. Returns whether it was hashed.
    pub fn template_invalidate(&mut self, id: TemplateId) -> bool {
        let Some(t) = self.template_live(id) else {
            return false;
        };
        if t.flags & T_HASHED == 0 {
            return false;
        }
        self.unhash_template(id.0);
        true
    }

    fn unhash_template(&mut self, i: u32) {
        let k = self.tpls.0[i as usize].key();
        let h = self.tkey_hash(&k);
        if let Ok(e) = self.tpl_index.find_entry(h, |&v| v == i) {
            e.remove();
        }
        self.tpls.0[i as usize].flags &= !T_HASHED;
    }

    /// Free a live template already unlinked from its wheel.
    pub(super) fn free_template(&mut self, i: u32) {
        if self.tpls.0[i as usize].flags & T_HASHED != 0 {
            self.unhash_template(i);
        }
        let t = &mut self.tpls.0[i as usize];
        let rs = t.rs as usize;
        t.live = false;
        t.link.next = self.tpl_free;
        self.tpl_free = i;
        self.tpl_len -= 1;
        let c = &mut self.counts[rs];
        c.persistent = c.persistent.saturating_sub(1);
    }

    /// A template as plain data.
    pub fn template_info(&self, id: TemplateId, now_ms: u64) -> Option<TemplateInfo> {
        let t = self.template_live(id)?;
        Some(TemplateInfo {
            id,
            key: t.key().to_key(),
            rs: t.rs,
            timeout_s: t.timeout_s,
            expires_in_ms: t.expires.saturating_sub(now_ms),
            controlled: t.n_control,
            hashed: t.flags & T_HASHED != 0,
        })
    }
}
