//! Connection synchronisation between directors with IPVS's sync protocol
//! (`ipvsadm --start-daemon master|backup`): [`wire`] reads and writes its messages.

pub mod wire;
