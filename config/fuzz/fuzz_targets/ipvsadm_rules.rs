//! Arbitrary text through the ipvsadm rule parser (`-R` input) and the rule table:
//! never a panic, and whatever restores saves to text that restores to the same table.
#![no_main]

use config::ipvsadm::{format_rules, RuleTable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut table = RuleTable::new();
    if table.restore(text, "rvsadm").is_ok() {
        let saved = format_rules(table.services());
        let mut again = RuleTable::new();
        again.restore(&saved, "rvsadm").expect("saved rules restore");
        assert_eq!(format_rules(again.services()), saved);
    }
    // One command line, split on whitespace like a shell would.
    let argv: Vec<&str> = std::iter::once("rvsadm").chain(text.split_whitespace()).collect();
    let _ = config::ipvsadm::parse_argv(&argv);
});
