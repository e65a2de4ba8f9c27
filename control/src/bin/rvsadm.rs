//! rvsadm: the ipvsadm-compatible CLI for rvsd (see `control::rvsadm`).

use std::io::Write;

fn main() {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let out = control::rvsadm::run_process(&argv);
    // A closed pipe (`rvsadm -Ln | head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    std::process::exit(out.code);
}
