//! rvsd: the rvs load-balancer daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use control::daemon::{self, RunOptions};
use tracing_subscriber::EnvFilter;

/// rvs daemon: a DPDK userspace L4 load balancer compatible with LVS/IPVS.
#[derive(Parser, Debug)]
#[command(name = "rvsd", version, about)]
struct Args {
    /// YAML configuration file.
    #[arg(short, long, default_value = "/etc/rvs/rvs.yaml")]
    config: PathBuf,
    /// Validate the configuration, print every error, and exit (0 = valid).
    #[arg(long)]
    check: bool,
    /// Print the configuration's virtual services as ipvsadm rules (`ipvsadm -S -n`
    /// format, for `rvsadm -R` or `ipvsadm -R`) and exit.
    #[arg(long)]
    export_rules: bool,
    /// Log level or filter (error, warn, info, debug, trace; or a tracing filter).
    /// Defaults to $RUST_LOG, else info.
    #[arg(long)]
    log_level: Option<String>,
    /// Poll without sleeping, whatever the configuration says (benchmarks).
    #[arg(long)]
    busy: bool,
    /// Exit after this many milliseconds without receiving a packet (tests on pcap files).
    #[arg(long, value_name = "MS")]
    exit_when_idle: Option<u64>,
    /// Write the final counters to this file as JSON on exit.
    #[arg(long, value_name = "FILE")]
    stats_file: Option<PathBuf>,
    /// Do not send gratuitous ARP for the VIPs at start.
    #[arg(long)]
    no_garp: bool,
    /// Directory of the per-CPU lock files (`cpu-N.lock`) by which an rvsd sees, at start,
    /// that another rvsd's worker already polls one of its worker CPUs.
    #[arg(long, value_name = "DIR", default_value = daemon::DEFAULT_RUN_DIR)]
    run_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = match &args.log_level {
        Some(l) => EnvFilter::try_new(l),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info")),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rvsd: bad --log-level: {e}");
            return ExitCode::from(2);
        }
    };
    // Colour only for a terminal: logs in files and CI stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();

    let cfg = match config::load_file(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    if args.export_rules {
        let rules: Vec<_> = cfg
            .services
            .iter()
            .map(config::convert::service_rule)
            .collect();
        print!("{}", config::ipvsadm::format_rules(&rules));
        return ExitCode::SUCCESS;
    }
    let mut ids = control::spec::RealServerIds::default();
    let spec = match control::spec::from_config(&cfg, &mut ids) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e:#}", args.config.display());
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("{}: configuration is valid", args.config.display());
        return ExitCode::SUCCESS;
    }

    // Before EAL starts: a SIGTERM during start-up stops rvsd once it is up.
    let control = match daemon::ControlThread::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rvsd: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let opts = RunOptions {
        exit_when_idle_ms: args.exit_when_idle,
        stats_file: args.stats_file,
        no_garp: args.no_garp,
        busy: args.busy,
        run_dir: Some(args.run_dir),
    };
    match daemon::run(cfg, ids, args.config.clone(), spec, opts, control) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rvsd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
