//! IPv6 virtual services through the admin path: rvsadm (ipvsadm syntax with bracketed
//! IPv6 addresses) -> REST API -> config validation -> spec -> the running dataplane's
//! tables, and back out through `-Ln`. rvsd runs on net_null ports with IPv6 addresses.

mod common;
use std::process::Command;

use common::{spawn_rvsd6, TempDir};

const TOKEN: &str = "ipv6-admin-token";

fn rvsadm(base: &str, args: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rvsadm"))
        .args(args.split_whitespace())
        .env("RVS_ADMIN", base)
        .env("RVS_TOKEN", TOKEN)
        .env_remove("RVS_TOKEN_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ipv6_services_are_added_listed_and_removed_with_rvsadm() {
    let dir = TempDir::new("ipv6-admin");
    std::fs::write(dir.path("token"), format!("{TOKEN}\n")).unwrap();
    let d = spawn_rvsd6(
        &dir,
        &format!(
            "routes:\n  - {{ prefix: \"2001:2:5::/48\", via: \"2001:2::1\", interface: wan0 }}\nservices:\n  - proto: tcp\n    vip: \"2001:2::100\"\n    port: 80\n    scheduler: rr\n    method: masq\n    real_servers: [ {{ address: \"2001:2:0:1::11\", port: 80 }} ]\nadmin:\n  listen: 127.0.0.1:{{port}}\n  token_file: {}\n",
            dir.path("token").display()
        ),
    );
    let ok = |args: &str| {
        let (code, out, err) = rvsadm(&d.base, args);
        assert_eq!(code, 0, "rvsadm {args}: {out}{err}");
        out
    };
    ok("-A -t [2001:2::200]:443 -s wlc -p 600 -M 64");
    ok("-a -t [2001:2::200]:443 -r [2001:2:0:1::21]:8443 -m -w 3");
    ok("-a -t [2001:2::200]:443 -r [2001:2:0:1::22]:8443 -g");
    let list = ok("-Ln");
    for line in [
        "TCP  [2001:2::100]:80 rr",
        "  -> [2001:2:0:1::11]:80          Masq    1      0          0",
        "TCP  [2001:2::200]:443 wlc persistent 600 mask 64",
        "  -> [2001:2:0:1::21]:8443        Masq    3      0          0",
        // Direct routing cannot change the port: ipvsadm keeps the virtual one.
        "  -> [2001:2:0:1::22]:443         Route   1      0          0",
    ] {
        assert!(
            list.lines().any(|l| l.trim_end() == line),
            "no line {line:?} in\n{list}"
        );
    }
    // A real server of the other family is refused, and the running set is unchanged.
    let (code, _, err) = rvsadm(&d.base, "-a -t [2001:2::200]:443 -r 198.19.0.21:8443 -m");
    assert_ne!(code, 0, "mixed families accepted");
    assert!(!err.is_empty());
    ok("-D -t [2001:2::200]:443");
    let list = ok("-Ln");
    assert!(!list.contains("2001:2::200"), "{list}");
    assert!(list.contains("TCP  [2001:2::100]:80 rr"), "{list}");
}
