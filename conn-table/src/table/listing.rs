//! Listings (`ipvsadm -Lnc`): connections and templates as plain data, in
//! chunks from a cursor so a worker does bounded work per request.

use super::entry::F_LIVE;
use super::layout::ConnTable;
use super::records::{ConnInfo, ListCursor, TemplateId, TemplateInfo};

impl ConnTable {
    /// Up to `max` live connections from `cursor` on, appended to `out`, as
    /// plain data; examines at most `8 * max` slots so a worker answering a
    /// listing request in chunks does bounded work per chunk. Returns the
    /// cursor to continue from, or `None` when the table has been walked.
    /// Connections created or removed between chunks may or may not appear.
    pub fn list(
        &self,
        cursor: ListCursor,
        max: usize,
        now_ms: u64,
        out: &mut Vec<ConnInfo>,
    ) -> Option<ListCursor> {
        let slots = self.conns.0.len();
        let mut i = cursor.0 as usize;
        let mut found = 0;
        let scan_end = i.saturating_add(max.max(1).saturating_mul(8)).min(slots);
        while i < scan_end && found < max {
            let c = &self.conns.0[i];
            if c.flags & F_LIVE != 0 {
                out.push(self.info(i as u32, c, now_ms));
                found += 1;
            }
            i += 1;
        }
        (i < slots).then_some(ListCursor(i as u32))
    }

    /// Listing of templates, chunked like [`ConnTable::list`].
    pub fn list_templates(
        &self,
        cursor: ListCursor,
        max: usize,
        now_ms: u64,
        out: &mut Vec<TemplateInfo>,
    ) -> Option<ListCursor> {
        let slots = self.tpls.0.len();
        let mut i = cursor.0 as usize;
        let mut found = 0;
        let scan_end = i.saturating_add(max.max(1).saturating_mul(8)).min(slots);
        while i < scan_end && found < max {
            if let Some(info) = self.template_info(TemplateId(i as u32), now_ms) {
                out.push(info);
                found += 1;
            }
            i += 1;
        }
        (i < slots).then_some(ListCursor(i as u32))
    }
}
