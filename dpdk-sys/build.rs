//! Finds libdpdk with pkg-config, generates bindings with bindgen and compiles the C shim.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_DPDK: &str = "22.11";
const INSTALL_HINT: &str = "apt-get install -y dpdk-dev libdpdk-dev libclang-dev clang pkg-config";

fn pkg_config(args: &[&str]) -> Result<String, String> {
    let out = Command::new("pkg-config")
        .args(args)
        .output()
        .map_err(|e| format!("pkg-config not runnable ({e})"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn fail(why: &str) -> ! {
    // One line, what to do: cargo shows build-script panics verbatim.
    eprintln!("error: libdpdk >= {MIN_DPDK} not found ({why}); install it with: {INSTALL_HINT}");
    std::process::exit(1);
}

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=csrc/flow.c");
    println!("cargo:rerun-if-changed=csrc/flow.h");
    println!("cargo:rerun-if-changed=csrc/wrapper.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let version = pkg_config(&["--atleast-version", MIN_DPDK, "libdpdk"])
        .and_then(|_| pkg_config(&["--modversion", "libdpdk"]))
        .unwrap_or_else(|e| fail(&e));
    let cflags: Vec<String> = pkg_config(&["--cflags", "libdpdk"])
        .unwrap_or_else(|e| fail(&e))
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let libs = pkg_config(&["--libs", "libdpdk"]).unwrap_or_else(|e| fail(&e));
    println!("cargo:rustc-env=RVS_DPDK_VERSION={version}");

    for tok in libs.split_whitespace() {
        if let Some(dir) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = tok.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }

    // The same flags for cc and bindgen: pkg-config's `-include rte_config.h -march=...`
    // are needed for DPDK's headers to parse at all.
    let mut build = cc::Build::new();
    build
        .file("csrc/shim.c")
        .file("csrc/flow.c")
        .include("csrc")
        .opt_level(3)
        .warnings(false);
    let mut i = 0;
    while i < cflags.len() {
        if cflags[i] == "-include" && i + 1 < cflags.len() {
            build.flag("-include").flag(&cflags[i + 1]);
            i += 2;
            continue;
        }
        build.flag(&cflags[i]);
        i += 1;
    }
    build.compile("rvs_dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_args(&cflags)
        .clang_arg("-Icsrc")
        .allowlist_function("rte_eal_.*")
        .allowlist_function("rte_eth_.*")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_mempool_(avail|in_use)_count")
        .allowlist_function("rte_mempool_free")
        .allowlist_function("rte_ring_(create|free)")
        .allowlist_function("rte_lcore_.*")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_get_tsc_hz")
        .allowlist_function("rte_get_main_lcore")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_delay_us_sleep")
        .allowlist_function("rvs_.*")
        .allowlist_type("rte_eth_conf")
        .allowlist_type("rte_eth_dev_info")
        .allowlist_type("rte_eth_stats")
        .allowlist_type("rte_eth_rxconf")
        .allowlist_type("rte_eth_txconf")
        .allowlist_type("rte_ether_addr")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_mempool")
        .allowlist_type("rte_ring")
        .allowlist_var("RTE_ETH_.*")
        .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("RTE_MAX_LCORE")
        .allowlist_var("RTE_MAX_ETHPORTS")
        .allowlist_var("RING_F_.*")
        .allowlist_var("SOCKET_ID_ANY")
        // Packed structs holding the 2-byte-aligned rte_ether_addr do not compile (E0588).
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .derive_default(true)
        // Compile-time assertions (bindgen >= 0.70) that every generated struct has the
        // size, alignment and field offsets clang computed from DPDK's headers: the mbuf
        // fields dataplane::dpdk reads in Rust rely on them.
        .layout_tests(true)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen failed: {e}")));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR set by cargo"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .unwrap_or_else(|e| fail(&format!("cannot write bindings: {e}")));
}
