//! The exec check (keepalived's MISC_CHECK, ldirectord's `checktype=external`): a
//! program told about the service and the server, judged by its exit status.

use std::path::Path;
use std::process::Stdio;

use super::target::Target;

/// Run `command` with `args` and the service and server as arguments and in the
/// environment; exit status 0 means up.
pub(super) async fn run(command: &Path, args: &[String], t: &Target) -> Result<(), String> {
    let status = tokio::process::Command::new(command)
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
}
