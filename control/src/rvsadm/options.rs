//! rvsadm's own options, taken out of the command line before the rest goes
//! to ipvsadm's parser: where the admin API is and which token to send.

use super::error::CliError;
use config::ipvsadm::{IpvsError, UsageError};

/// Admin API address when neither `--admin` nor `RVS_ADMIN` is given
/// (rvsd's default `admin.listen`).
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:9180";

/// Token file read when no token is given otherwise, if it is readable.
pub const DEFAULT_TOKEN_FILE: &str = "/etc/rvs/token";

/// Environment variable with the admin API address.
pub const ENV_ADMIN: &str = "RVS_ADMIN";
/// Environment variable with the token itself.
pub const ENV_TOKEN: &str = "RVS_TOKEN";
/// Environment variable with the path of a token file.
pub const ENV_TOKEN_FILE: &str = "RVS_TOKEN_FILE";

/// What to do, once rvsadm's own options are out of the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// An ipvsadm command line (`argv[0]` included) for `parse_argv`.
    Ipvsadm(Vec<String>),
    /// `rvsadm --to-yaml`: convert `-S` rules on stdin to rvs YAML.
    ToYaml,
}

/// A command line split into rvsadm's settings and the ipvsadm part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Base URL of the admin API, without a trailing `/`.
    pub admin_url: String,
    /// `--token-file` if given (read later, see [`resolve_token`]).
    pub token_file: Option<String>,
    /// What to do.
    pub mode: Mode,
}

/// Splits `argv` into rvsadm's options (`--admin URL`, `--token-file PATH`,
/// `--to-yaml`, also in `--opt=value` form, anywhere before a `--`) and
/// the ipvsadm command line. `env` reads environment variables.
pub fn parse_invocation(
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Invocation, CliError> {
    let mut rest: Vec<String> = Vec::with_capacity(argv.len());
    let mut admin: Option<String> = None;
    let mut token_file: Option<String> = None;
    let mut to_yaml = false;
    let mut words = argv.iter().enumerate();
    let mut after_dashdash = false;
    while let Some((i, w)) = words.next() {
        if i == 0 || after_dashdash {
            rest.push(w.clone());
            continue;
        }
        if w == "--" {
            after_dashdash = true;
            rest.push(w.clone());
            continue;
        }
        let (slot, name) = match w.split_once('=') {
            Some(("--admin", v)) => {
                admin = Some(v.to_string());
                continue;
            }
            Some(("--token-file", v)) => {
                token_file = Some(v.to_string());
                continue;
            }
            _ => match w.as_str() {
                "--admin" => (&mut admin, "--admin"),
                "--token-file" => (&mut token_file, "--token-file"),
                "--to-yaml" => {
                    to_yaml = true;
                    continue;
                }
                _ => {
                    rest.push(w.clone());
                    continue;
                }
            },
        };
        match words.next() {
            Some((_, v)) => *slot = Some(v.clone()),
            None => return Err(CliError::MissingValue(name)),
        }
    }
    let admin = admin
        .or_else(|| env(ENV_ADMIN).filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_string());
    let mode = if to_yaml {
        // --to-yaml is a command of its own: anything else is a mistake.
        if let Some(extra) = rest.get(1) {
            return Err(IpvsError::Usage(UsageError::UnexpectedArgument(extra.clone())).into());
        }
        Mode::ToYaml
    } else {
        Mode::Ipvsadm(rest)
    };
    let admin_url = normalize_url(&admin);
    if !admin_url.starts_with("http://") {
        return Err(CliError::BadUrl(admin_url));
    }
    Ok(Invocation {
        admin_url,
        token_file,
        mode,
    })
}

/// `127.0.0.1:9180` -> `http://127.0.0.1:9180`; drops a trailing `/`.
fn normalize_url(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// The token to send: the contents of `--token-file PATH`, else `RVS_TOKEN`,
/// else the contents of `RVS_TOKEN_FILE`, else of [`DEFAULT_TOKEN_FILE`] if it
/// can be read, else none. Files are trimmed as rvsd trims its own token
/// file; an explicitly named file that cannot be read is an error.
pub fn resolve_token(
    token_file: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<Option<String>, CliError> {
    let from_file = |path: &str| {
        read(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| CliError::TokenFile {
                path: path.to_string(),
                reason: e.to_string(),
            })
    };
    let token = if let Some(path) = token_file {
        from_file(path)?
    } else if let Some(t) = env(ENV_TOKEN).filter(|t| !t.is_empty()) {
        t.trim().to_string()
    } else if let Some(path) = env(ENV_TOKEN_FILE).filter(|p| !p.is_empty()) {
        from_file(&path)?
    } else {
        match read(DEFAULT_TOKEN_FILE) {
            Ok(s) => s.trim().to_string(),
            // Not there or not ours to read: go without a token; the
            // daemon's 401 then says what is missing.
            Err(_) => String::new(),
        }
    };
    Ok(Some(token).filter(|t| !t.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn own_options_are_removed_anywhere_before_dashdash() {
        let inv = parse_invocation(
            &args("rvsadm -Ln --admin 198.18.0.1:9 --token-file=/t --stats"),
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(inv.admin_url, "http://198.18.0.1:9");
        assert_eq!(inv.token_file.as_deref(), Some("/t"));
        assert_eq!(inv.mode, Mode::Ipvsadm(args("rvsadm -Ln --stats")));

        let inv = parse_invocation(&args("rvsadm --set -- --admin 1 2"), &env_of(&[])).unwrap();
        assert_eq!(inv.mode, Mode::Ipvsadm(args("rvsadm --set -- --admin 1 2")));
    }

    #[test]
    fn admin_url_precedence() {
        let env = env_of(&[(ENV_ADMIN, "http://198.18.0.2:1/")]);
        let inv = parse_invocation(&args("rvsadm -L"), &env).unwrap();
        assert_eq!(inv.admin_url, "http://198.18.0.2:1");
        let inv = parse_invocation(&args("rvsadm --admin=http://198.18.0.3:2 -L"), &env).unwrap();
        assert_eq!(inv.admin_url, "http://198.18.0.3:2");
        let inv = parse_invocation(&args("rvsadm -L"), &env_of(&[])).unwrap();
        assert_eq!(inv.admin_url, DEFAULT_ADMIN_URL);
    }

    #[test]
    fn missing_values_and_to_yaml_extras_are_refused() {
        let e = parse_invocation(&args("rvsadm -L --admin"), &env_of(&[])).unwrap_err();
        assert_eq!(e.to_string(), "rvsadm: option --admin needs a value");
        assert_eq!(e.exit_code(), 2);
        let e = parse_invocation(&args("rvsadm --to-yaml -n"), &env_of(&[])).unwrap_err();
        assert_eq!(e.to_string(), "unexpected argument -n");
        let e = parse_invocation(&args("rvsadm --admin https://198.18.0.1 -L"), &env_of(&[]));
        assert!(e.unwrap_err().to_string().contains("plain HTTP"));
        let inv = parse_invocation(&args("rvsadm --to-yaml"), &env_of(&[])).unwrap();
        assert_eq!(inv.mode, Mode::ToYaml);
    }

    #[test]
    fn token_precedence() {
        let read = |p: &str| match p {
            "/flag" => Ok(" flag-token\n".to_string()),
            "/envfile" => Ok("envfile-token\n".to_string()),
            DEFAULT_TOKEN_FILE => Ok("default-token\n".to_string()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        let all = env_of(&[(ENV_TOKEN, "env-token"), (ENV_TOKEN_FILE, "/envfile")]);
        let t = |f: Option<&str>, env: &dyn Fn(&str) -> Option<String>| {
            resolve_token(f, env, &read).unwrap()
        };
        assert_eq!(t(Some("/flag"), &all).as_deref(), Some("flag-token"));
        assert_eq!(t(None, &all).as_deref(), Some("env-token"));
        let file_only = env_of(&[(ENV_TOKEN_FILE, "/envfile")]);
        assert_eq!(t(None, &file_only).as_deref(), Some("envfile-token"));
        assert_eq!(t(None, &env_of(&[])).as_deref(), Some("default-token"));

        let none = |_: &str| Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(resolve_token(None, &env_of(&[]), &none).unwrap(), None);
        let e = resolve_token(Some("/missing"), &env_of(&[]), &none).unwrap_err();
        assert!(e.to_string().contains("/missing"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
}
