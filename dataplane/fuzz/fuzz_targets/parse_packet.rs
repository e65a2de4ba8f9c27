//! Arbitrary bytes through every `dataplane::wire` view's checked constructor, accessors,
//! setters, `Repr` parse/emit round trips and the NAT rewrites, with the invariants of
//! `wire/exercise.rs` (a failed rewrite leaves the packet untouched, a rewrite keeps valid
//! checksums valid, payloads end where the length fields say...).
//!
//! The wire module is pure `core`/`std`, so it is compiled straight from the dataplane
//! sources instead of linking the DPDK-dependent crate.
//!
//! Run: `cd dataplane/fuzz && cargo +nightly fuzz run parse_packet`

#![no_main]

#[allow(dead_code, missing_docs, unused_imports)]
#[path = "../../src/wire/mod.rs"]
mod wire;

#[allow(dead_code)]
#[path = "../../src/wire/exercise.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exercise::parse_packet(data);
});
