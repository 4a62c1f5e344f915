//! Issue 14 on the real control plane: a crashing container whose termination message and log lines hold
//! workflow commands (`::add-mask::`, `::error …::`, `::set-output …::`, `##[error]`) is diagnosed with that text
//! quoted, and the runner, reading the action's stdout and stderr, runs none of those commands.
//!
//! The fake kubelet takes a container's termination message and log lines from pod annotations, set here on the
//! RC's pod template (a real container would write them to /dev/termination-log and stdout); the action reads the
//! lines through the API server's pods/log, which the fake kubelet's log endpoint answers.

use std::time::Duration;

#[path = "../support_github/runner.rs"]
mod runner;

use crate::seeds::{action_env, api_rc_yaml, seed_api_rc};
use crate::support::{self, run_action};

const LOG_ANNOTATION: &str = "fake-kubelet.rolling-update.github.io/log";
const TERMINATION_MESSAGE_ANNOTATION: &str =
    "fake-kubelet.rolling-update.github.io/termination-message";

const HOSTILE_LOG: &str = "starting api\n\
::add-mask::EVIL-MASK-LOG\n\
  ::error title=EVIL-TITLE::EVIL-ERROR-LOG\n\
::set-output name=evil::EVIL-OUTPUT-LOG\n\
connecting ##[error]EVIL-LEGACY-LOG\n\
::stop-commands::EVIL-STOP\n\
::warning::EVIL-AFTER-STOP-LOG";

const HOSTILE_TERMINATION: &str = "panic: cannot reach the database\n\
::add-mask::EVIL-MASK-TERM\n\
   ::error::EVIL-ERROR-TERM\n\
##[set-output name=evil]EVIL-LEGACY-TERM";

#[tokio::test]
async fn commands_in_termination_messages_and_logs_stay_text() {
    let ns = support::namespace("untrusted").await;
    // The hostile texts as YAML double-quoted scalars (JSON strings are valid YAML).
    let annotations = format!(
        "      annotations:\n        {LOG_ANNOTATION}: {}\n        {TERMINATION_MESSAGE_ANNOTATION}: {}\n",
        serde_json::to_string(HOSTILE_LOG).unwrap(),
        serde_json::to_string(HOSTILE_TERMINATION).unwrap()
    );
    let yaml = api_rc_yaml(2, 300, "10m", "").replacen("      annotations:\n", &annotations, 1);
    assert!(yaml.contains(TERMINATION_MESSAGE_ANNOTATION));
    seed_api_rc(&ns, &yaml, 2, Duration::from_secs(60)).await;

    let env = action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:2.0-crashloop",
            ),
            ("INPUT_VERSION", "v2"),
            ("INPUT_MAX_SURGE", "1"),
            ("INPUT_MAX_UNAVAILABLE", "0"),
            ("INPUT_PROGRESS_DEADLINE", "2m"),
        ],
    );
    let run = run_action(&env).await;
    assert_eq!(run.code, 1, "a crashing image fails the rollout");

    let stdout = runner::read(&run.stdout);
    let stderr = runner::read(&run.stderr);
    for (stream, view) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!view.stopped_at_end, "{stream} leaves commands stopped");
        for c in &view.commands {
            assert!(!c.legacy, "a ##[ command on {stream}: {c:?}");
            // Ours: log groups, annotations, and the masks for the run's own secrets.
            assert!(
                ["group", "endgroup", "error", "warning", "notice", "add-mask"]
                    .contains(&c.name.as_str()),
                "{stream} runs {c:?}"
            );
            let from_the_container = c.properties.contains("EVIL")
                || c.data.starts_with("EVIL")
                || (c.name == "add-mask" && c.data.contains("EVIL"));
            assert!(
                !from_the_container,
                "{stream} runs a command from the container: {c:?}"
            );
        }
    }
    // The diagnosis still quotes the container's own words, as text the log shows.
    assert!(stdout.shows("keeps crashing: exit code 1"));
    for text in [
        "::add-mask::EVIL-MASK-TERM",
        "::error::EVIL-ERROR-TERM",
        "##[set-output name=evil]EVIL-LEGACY-TERM",
        "::add-mask::EVIL-MASK-LOG",
        "::error title=EVIL-TITLE::EVIL-ERROR-LOG",
        "##[error]EVIL-LEGACY-LOG",
        "::warning::EVIL-AFTER-STOP-LOG",
    ] {
        assert!(stdout.shows(text), "{text:?} is not in the log");
    }
    // The raw output really held those commands at a line start: without the stop-commands regions the
    // runner would have run them (this is what makes the test able to fail).
    let naive = runner::read(&run.stdout.replace("::stop-commands::", "::no-stop::"));
    assert!(
        naive
            .commands
            .iter()
            .any(|c| c.name == "add-mask" && c.data.starts_with("EVIL-MASK-TERM")),
        "the termination message reached a line start"
    );
    assert!(
        naive.commands.iter().any(|c| c.legacy),
        "the ##[ text reached the output"
    );
}
