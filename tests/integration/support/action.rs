//! Running the action's binary the way a runner does: only the environment we give it.

use std::collections::BTreeMap;
use std::process::Stdio;

pub const ACTION_BIN: &str = env!("CARGO_BIN_EXE_rolling-update");

/// What a run of the action produced.
#[derive(Debug)]
pub struct ActionRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the action with exactly `env` (plus PATH and HOME); prints its output so a failing test shows it.
pub async fn run_action(env: &BTreeMap<String, String>) -> ActionRun {
    let mut command = tokio::process::Command::new(ACTION_BIN);
    command.env_clear();
    for var in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(var) {
            command.env(var, v);
        }
    }
    let out = command
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("failed to run the action binary");
    let run = ActionRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    println!(
        "--- action exit code {}\n--- stdout\n{}\n--- stderr\n{}",
        run.code, run.stdout, run.stderr
    );
    run
}
