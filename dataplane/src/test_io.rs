//! [`Io`] implementations for the pipeline's unit tests (frames are plain `Vec<u8>`).

use crate::pipeline::Io;

/// Records what a pipeline sends out of the data ports, by port; a hand-off to the kernel
/// fails the test (for setups where no port has an exception path).
#[derive(Default)]
pub(crate) struct Out(pub(crate) Vec<(usize, Vec<u8>)>);

impl Io<Vec<u8>> for Out {
    fn send(&mut self, port: usize, pkt: Vec<u8>) {
        self.0.push((port, pkt));
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
    fn send_kernel(&mut self, _port: usize, _pkt: Vec<u8>) {
        panic!("no port of these tests has an exception path");
    }
}

/// Records what a pipeline sends out of the data ports (`sent`) and what it hands to the
/// kernel through a port's exception path (`kernel`), by port.
#[derive(Default)]
pub(crate) struct RecordingIo {
    pub(crate) sent: Vec<(usize, Vec<u8>)>,
    pub(crate) kernel: Vec<(usize, Vec<u8>)>,
}

impl Io<Vec<u8>> for RecordingIo {
    fn send(&mut self, port: usize, pkt: Vec<u8>) {
        self.sent.push((port, pkt));
    }
    fn send_kernel(&mut self, port: usize, pkt: Vec<u8>) {
        self.kernel.push((port, pkt));
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
}
