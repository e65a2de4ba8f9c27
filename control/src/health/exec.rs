//! The exec check (keepalived's MISC_CHECK, ldirectord's `checktype=external`): a
//! program told about the service and the server, judged by its exit status, run as the
//! user [`super::exec_user`] chose.

use std::path::Path;
use std::process::Stdio;

use super::target::Target;

/// Run `command` with `args` and the service and server as arguments and in the
/// environment, as `t.exec_as` if set; exit status 0 means up.
pub(super) async fn run(command: &Path, args: &[String], t: &Target) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(command);
    if let Some(who) = t.exec_as {
        // std's spawn calls setgroups(0) before setuid: no group of rvsd's is kept.
        cmd.uid(who.uid).gid(who.gid);
    }
    let status = cmd
        .args(args)
        .args([
            t.vip.clone(),
            t.vport.to_string(),
            t.addr.ip().to_string(),
            t.rport.to_string(),
        ])
        .env("RVS_VIP", &t.vip)
        .env("RVS_VPORT", t.vport.to_string())
        .env("RVS_RIP", t.addr.ip().to_string())
        .env("RVS_RPORT", t.rport.to_string())
        .env("RVS_CHECK_PORT", t.addr.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // A check that times out is dropped: the program is killed with it.
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| format!("cannot run {}: {e}", command.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} exited with {status}", command.display()))
    }
}

#[cfg(test)]
mod tests {
    use crate::health::check::run;
    use crate::health::check::test_support::{rt, target};
    use config::HealthCheckKind;
    use std::time::Duration;

    #[test]
    fn exec_exit_status_arguments_and_kill() {
        let dir = std::env::temp_dir().join(format!("rvs-health-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("args");
        let t = target("127.0.0.1:8080".parse().unwrap());
        let rt = rt();
        let sh = |script: &str| HealthCheckKind::Exec {
            command: "/bin/sh".into(),
            args: vec!["-c".into(), script.into(), "check".into()],
        };
        let ok = sh(&format!(
            "echo \"$@ $RVS_RIP $RVS_RPORT\" > {}; exit 0",
            out.display()
        ));
        assert_eq!(rt.block_on(run(&ok, &t)), Ok(()));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "198.18.0.100 80 127.0.0.1 8080 127.0.0.1 8080"
        );
        let e = rt.block_on(run(&sh("exit 3"), &t)).unwrap_err();
        assert!(e.ends_with("exited with exit status: 3"), "{e}");
        let e = rt
            .block_on(run(
                &HealthCheckKind::Exec {
                    command: "/nonexistent/check".into(),
                    args: vec![],
                },
                &t,
            ))
            .unwrap_err();
        assert!(e.starts_with("cannot run /nonexistent/check"), "{e}");
        // A program still running at the timeout is killed: its marker file never appears.
        let marker = dir.join("late");
        let slow = sh(&format!("sleep 1; touch {}", marker.display()));
        let r = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), run(&slow, &t)).await
        });
        assert!(r.is_err());
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "the timed-out program was not killed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn exec_user_is_looked_up_and_checks_run_as_it() {
        use crate::health::exec_user::run_as;
        use config::HealthSettings;
        let named = |u: &str| HealthSettings {
            exec_user: Some(u.into()),
            exec_dir: None,
        };
        let e = run_as(&named("no-such-user-rvs")).unwrap_err();
        assert_eq!(e, "health.exec_user `no-such-user-rvs`: no such user on this system; create it (useradd --system no-such-user-rvs) or name another");
        let nobody = run_as(&named("nobody")).unwrap().expect("nobody exists");
        assert_eq!(nobody.uid, 65534);
        if uzers::get_current_uid() != 0 {
            eprintln!("not root: cannot check that a check runs as nobody");
            return;
        }
        // As root with supplementary groups, the program runs as nobody with nobody's
        // group only.
        let dir = std::env::temp_dir().join(format!("rvs-health-user-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let out = dir.join("id");
        let mut t = target("127.0.0.1:8080".parse().unwrap());
        t.exec_as = Some(nobody);
        let sh = HealthCheckKind::Exec {
            command: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                format!("echo $(id -u) $(id -g) $(id -G) > {}", out.display()),
            ],
        };
        assert_eq!(rt().block_on(run(&sh, &t)), Ok(()));
        let gid = nobody.gid;
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            format!("65534 {gid} {gid}")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
