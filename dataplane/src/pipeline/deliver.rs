//! Carrying out a stage's verdict for a packet of either family: forward (route +
//! neighbour, with FULLNAT's TOA added), tunnel, reflect, the kernel, or a counted drop.

use super::fragment::FragmentFamily;
use super::state::Pipeline;
use super::verdict::Verdict;
use crate::frame::{Frame, Io};
use crate::tables::Tables;
use crate::wire::{EthernetFrame, MacAddr};

impl<P: Frame> Pipeline<P> {
    /// Carry out `verdict` for `pkt` (either family), received on `port`: TOA added to
    /// a forwarded FULLNAT packet that asked for it, then route + neighbour, tunnel,
    /// reflect, the kernel, or a counted drop.
    #[inline(always)]
    pub(crate) fn deliver<F: FragmentFamily>(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        verdict: Verdict<F>,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let toa = self.toa.take();
        match verdict {
            Verdict::ToKernel => self.hand_to_kernel(port, pkt, now_ms, io),
            Verdict::Forward(dst) => {
                if let Some((client, cport)) = toa {
                    self.add_toa(&mut pkt, client, cport);
                }
                self.forward(t, pkt, dst, now_ms, io)
            }
            Verdict::Reflect => {
                let mut eth = EthernetFrame::new_unchecked(pkt.data_mut());
                let src = eth.src_addr();
                eth.set_dst_addr(src);
                eth.set_src_addr(MacAddr(self.cfg.port_macs[port]));
                io.send(port, pkt);
            }
            Verdict::Drop(why) => self.drop_packet(why),
            Verdict::Tunnel(rip, kind) => self.tunnel(t, pkt, rip, kind, now_ms, io),
            Verdict::TimeExceeded => self.time_exceeded::<F>(t, pkt, now_ms, io),
            Verdict::ForwardTrimmed(dst, len) => {
                if pkt.resize(len) {
                    self.forward(t, pkt, dst, now_ms, io)
                }
            }
            Verdict::Fragment => self.fragment::<F>(t, port, pkt, now_ms, io),
        }
    }
}
