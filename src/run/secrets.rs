//! Secrets never reach a log: the runner is told to mask them (`::add-mask::`), and a panic, the one path that
//! prints a message nobody wrote on purpose, goes through a hook that redacts them before printing.

use secrecy::ExposeSecret as _;

use crate::inputs::Settings;
use crate::report::actions;

const KUBECONFIG_SECRET_KEYS: [&str; 4] = [
    "token:",
    "client-key-data:",
    "client-certificate-data:",
    "password:",
];

/// The secret values of the run: the GitHub token and the credentials inside the kubeconfig.
pub fn values(settings: &Settings) -> Vec<String> {
    let mut secrets = vec![];
    if let Some(token) = &settings.github.token {
        secrets.push(token.expose_secret().to_string());
    }
    if let Some(kubeconfig) = &settings.kubeconfig {
        for line in kubeconfig.expose_secret().lines() {
            let trimmed = line.trim().trim_start_matches("- ");
            for key in KUBECONFIG_SECRET_KEYS {
                if let Some(value) = trimmed.strip_prefix(key) {
                    let value = value.trim().trim_matches('"');
                    if !value.is_empty() {
                        secrets.push(value.to_string());
                    }
                }
            }
        }
    }
    secrets
}

/// Tells the runner to mask every secret, and makes a panic print its message with the secrets cut out.
pub fn protect(settings: &Settings) {
    let secrets = values(settings);
    for secret in &secrets {
        actions::add_mask(secret);
    }
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        actions::eprint_untrusted(&format!(
            "internal error (a bug in rolling-update, please report it): {}{at}",
            redact(&payload, &secrets)
        ));
    }));
}

/// `text` with every secret replaced by `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_cuts_every_secret() {
        let secrets = vec!["ghp_abcdef".to_string(), "s3cr3t-token".to_string()];
        let text = "called with ghp_abcdef and Bearer s3cr3t-token twice: s3cr3t-token";
        assert_eq!(
            redact(text, &secrets),
            "called with *** and Bearer *** twice: ***"
        );
    }

    #[test]
    fn kubeconfig_credentials_are_found() {
        let kubeconfig = "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: \"https://127.0.0.1:1\"}
contexts:
- name: x
  context: {cluster: c, user: a}
current-context: x
users:
- name: a
  user:
    token: \"abc123token\"
    client-key-data: S0VZ
";
        let vars = [
            ("INPUT_RC", "api-rc"),
            ("INPUT_IMAGES", "x=y:1"),
            ("INPUT_KUBECONFIG", kubeconfig),
            ("INPUT_GITHUB_TOKEN", "ghs_tokenvalue"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_EVENT_NAME", "workflow_dispatch"),
        ];
        let settings =
            Settings::from_env(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        let found = values(&settings);
        for secret in ["ghs_tokenvalue", "abc123token", "S0VZ"] {
            assert!(
                found.iter().any(|s| s == secret),
                "{secret} not found in {found:?}"
            );
        }
    }
}
