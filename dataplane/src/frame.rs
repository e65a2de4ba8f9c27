//! The packet buffer and output the packet logic works on, independent of DPDK: the
//! worker implements them over mbufs, the unit tests over `Vec<u8>`.

/// A packet buffer the pipeline can read, rewrite in place and resize.
pub trait Frame {
    /// The frame's bytes.
    fn data(&self) -> &[u8];
    /// The frame's bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Set the frame length (false when the buffer has no room).
    fn resize(&mut self, len: usize) -> bool;
    /// Grow the frame at the front by `n` bytes (tunnel headers); false without headroom.
    fn prepend(&mut self, n: usize) -> bool;
}

impl Frame for Vec<u8> {
    fn data(&self) -> &[u8] {
        self
    }
    fn data_mut(&mut self) -> &mut [u8] {
        self
    }
    fn resize(&mut self, len: usize) -> bool {
        Vec::resize(self, len, 0);
        true
    }
    fn prepend(&mut self, n: usize) -> bool {
        self.splice(0..0, std::iter::repeat_n(0, n));
        true
    }
}

/// Where the pipeline's output goes.
pub trait Io<P> {
    /// Queue `pkt` for transmission on port `port`.
    fn send(&mut self, port: usize, pkt: P);
    /// Hand `pkt` to the kernel through port `port`'s exception path (its TAP). Called only
    /// for ports that have one, after the rate limit (see [`crate::exception`]).
    fn send_kernel(&mut self, port: usize, pkt: P);
    /// A fresh, empty frame for a packet the pipeline builds (ARP request...).
    fn alloc(&mut self) -> Option<P>;
}
