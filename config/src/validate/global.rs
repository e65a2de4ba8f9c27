//! The global sections: `dataplane`, `timeouts`, `ipvs`, `health` and `admin`.

use super::problems::Problems;
use crate::locate::Path;
use crate::model::{AdminConfig, Dataplane, HealthSettings, Ipvs, Timeouts, DEFAULT_ADMIN_LISTEN};
use crate::raw::{RawAdmin, RawDataplane, RawHealth, RawIpvs, RawTimeouts};

/// Fewest connection slots per worker (below this a table is a misconfiguration).
const MIN_CONNECTIONS: u32 = 1024;
/// Most connection slots per worker (64 Mi: about 7 GiB of table per worker).
const MAX_CONNECTIONS: u32 = 1 << 26;
/// The kernel keeps timeouts in jiffies in an int: INT_MAX / HZ with HZ = 1000.
const MAX_TIMEOUT: u32 = 2_147_483;

pub fn dataplane(raw: RawDataplane, path: &Path, p: &mut Problems<'_>) -> Dataplane {
    let d = Dataplane::default();
    let main_lcore = raw.main_lcore.unwrap_or(d.main_lcore);
    let worker_lcores = raw.worker_lcores.unwrap_or(d.worker_lcores);
    if worker_lcores.is_empty() {
        p.at(
            &path.key("worker_lcores"),
            "no worker lcores; expected at least one lcore number, such as [1]",
        );
    }
    for (i, l) in worker_lcores.iter().enumerate() {
        let at = path.key("worker_lcores").index(i);
        if *l == main_lcore {
            p.at(&at, format!("lcore {l} is the main lcore; expected worker lcores other than main_lcore {main_lcore}"));
        } else if worker_lcores[..i].contains(l) {
            p.at(
                &at,
                format!("lcore {l} is listed twice; expected each worker lcore once"),
            );
        }
    }
    if let Some(n) = raw.connections_per_worker {
        if !(MIN_CONNECTIONS..=MAX_CONNECTIONS).contains(&n) {
            p.at(
                &path.key("connections_per_worker"),
                format!("connections_per_worker {n}; expected {MIN_CONNECTIONS}..={MAX_CONNECTIONS} connection slots per worker"),
            );
        }
    }
    if raw.mbufs == Some(0) {
        p.at(
            &path.key("mbufs"),
            "mbufs 0; expected an mbuf pool size of at least 1 (or no `mbufs` for rvsd's default)",
        );
    }
    if raw.exception_rate == Some(0) {
        p.at(
            &path.key("exception_rate"),
            "exception_rate 0; expected packets per second per worker of at least 1 (turn the exception path off per interface with `exception_path: false`)",
        );
    }
    Dataplane {
        main_lcore,
        worker_lcores,
        polling: raw.polling.unwrap_or(d.polling),
        eal_args: raw.eal_args,
        mbufs: raw.mbufs,
        connections_per_worker: raw.connections_per_worker,
        exception_rate: raw.exception_rate.unwrap_or(d.exception_rate),
    }
}

pub fn timeouts(raw: RawTimeouts, path: &Path, p: &mut Problems<'_>) -> Timeouts {
    let d = Timeouts::default();
    let mut one = |name: &str, v: Option<u32>, def: u32| match v {
        Some(t) if t == 0 || t > MAX_TIMEOUT => {
            p.at(
                &path.key(name),
                format!("{name} timeout {t}; expected 1..={MAX_TIMEOUT} seconds"),
            );
            def
        }
        Some(t) => t,
        None => def,
    };
    Timeouts {
        tcp: one("tcp", raw.tcp, d.tcp),
        tcp_fin: one("tcp_fin", raw.tcp_fin, d.tcp_fin),
        udp: one("udp", raw.udp, d.udp),
    }
}

pub fn health(raw: RawHealth, at: &Path, p: &mut Problems<'_>) -> HealthSettings {
    if let Some(user) = &raw.exec_user {
        // A name as useradd accepts it; whether the system has it is rvsd's check.
        let ok = !user.is_empty()
            && user.len() <= 32
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && !user.starts_with('-');
        if !ok {
            p.at(
                &at.key("exec_user"),
                format!(
                    "exec_user `{user}` is not a user name; expected a name such as rvs_script"
                ),
            );
        }
    }
    let mut exec_dir = raw.exec_dir;
    if let Some(dir) = &exec_dir {
        if !dir.is_absolute() || has_parent_component(dir) {
            p.at(
                &at.key("exec_dir"),
                format!(
                    "exec_dir `{}` is not an absolute path without `..`; expected a directory such as /etc/rvs/checks",
                    dir.display()
                ),
            );
            // Reported once here, not again at every exec check.
            exec_dir = None;
        }
    }
    HealthSettings {
        exec_user: raw.exec_user,
        exec_dir,
    }
}

/// Whether `path` has a `..` component (which would let it leave a directory it starts with).
pub fn has_parent_component(path: &std::path::Path) -> bool {
    path.components()
        .any(|c| c == std::path::Component::ParentDir)
}

pub fn admin(raw: RawAdmin) -> AdminConfig {
    AdminConfig {
        listen: raw.listen.map(|l| l.0).unwrap_or(DEFAULT_ADMIN_LISTEN),
        token_file: raw.token_file,
    }
}

pub fn ipvs(raw: RawIpvs) -> Ipvs {
    Ipvs {
        expire_nodest_conn: raw.expire_nodest_conn.unwrap_or(false),
        expire_quiescent_template: raw.expire_quiescent_template.unwrap_or(false),
        reset_unknown_conn: raw.reset_unknown_conn.unwrap_or(true),
    }
}
