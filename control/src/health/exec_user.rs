//! Who exec checks run as: the user `health.exec_user` names (keepalived's
//! `script_user`), by default `rvs_script` when the system has it (keepalived's
//! `keepalived_script`), otherwise rvsd's own user.

use config::{HealthSettings, DEFAULT_EXEC_USER};

/// The user and primary group a check program runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// The user's primary group id (supplementary groups are dropped).
    pub gid: u32,
}

/// Who exec checks run as under `settings`: `Ok(None)` is rvsd's own user (no
/// `exec_user` and no [`DEFAULT_EXEC_USER`] on this system); `Err` says, in one line,
/// that the named user does not exist.
pub fn run_as(settings: &HealthSettings) -> Result<Option<RunAs>, String> {
    let lookup = |name: &str| {
        uzers::get_user_by_name(name).map(|u| RunAs {
            uid: u.uid(),
            gid: u.primary_group_id(),
        })
    };
    match &settings.exec_user {
        Some(name) => lookup(name).map(Some).ok_or_else(|| {
            format!("health.exec_user `{name}`: no such user on this system; create it (useradd --system {name}) or name another")
        }),
        None => Ok(lookup(DEFAULT_EXEC_USER)),
    }
}
