//! Fuzz the YAML loader: any text gives a configuration or a non-empty list of
//! positioned errors, never a panic; a configuration that loads writes back to YAML
//! that loads to the same configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::from_str(text, "fuzz.yaml") {
        Ok(cfg) => {
            let yaml = config::to_yaml_string(&cfg);
            match config::from_str(&yaml, "round-trip.yaml") {
                Ok(back) => assert_eq!(back, cfg, "round trip changed the model:\n{yaml}"),
                Err(e) => panic!("written YAML does not load: {e}\n{yaml}"),
            }
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                assert!(
                    e.location.is_some_and(|l| l.line >= 1 && l.column >= 1),
                    "{e}"
                );
            }
        }
    }
});
