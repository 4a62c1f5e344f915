//! `run()`: inputs -> plan -> rollout -> diagnosis -> report, top to bottom.
//!
//! Every path ends in an [`Outcome`] that is reported the same way (log, job summary, outputs, commit status,
//! PR comment), except bad input, which is refused before anything else happens. The exit code is the
//! outcome's (see [`crate::exit`]).

use std::time::Instant;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{ReplicationController, Service};
use kube::api::{Api, ListParams};
use secrecy::ExposeSecret as _;

use crate::cluster::{self, Cluster};
use crate::diagnosis;
use crate::exit;
use crate::inputs::{Mode, Settings};
use crate::outcome::{Outcome, ResultKind};
use crate::plan::preview;
use crate::plan::{self, Observed, Plan};
use crate::report::github::{DeploymentState, ReportConfig, ReportError, Reporter};
use crate::report::{actions, markdown};
use crate::rollout::{self, kube_ops, lock, Cancel, Engine};

/// Reads the process environment and runs. Returns the exit code.
pub async fn run(cancel: Cancel) -> i32 {
    let settings = match Settings::from_process_env() {
        Ok(s) => s,
        Err(e) => {
            actions::error(&format!("{e}"));
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    run_with(settings, cancel).await
}

/// A failure before or outside the rollout: bad input found late (exit 2), or a fault (exit 3), or the lock.
enum Stop {
    BadInput(String),
    Fault(anyhow::Error),
    Locked(lock::Held),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Fault(e)
    }
}

pub async fn run_with(settings: Settings, cancel: Cancel) -> i32 {
    mask_secrets(&settings);
    let started = Instant::now();
    let (settings, scope) = match preview_scope(settings) {
        Ok(scoped) => scoped,
        Err(e) => {
            actions::error(&e.to_string());
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let report_namespace = settings
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let reporter = Reporter::new(
        &settings.github,
        ReportConfig::new(&settings, &report_namespace),
    );

    let (outcome, code) = match deploy(
        &settings,
        scope.as_ref(),
        &cancel,
        reporter.as_ref(),
        started,
    )
    .await
    {
        Ok(outcome) => {
            let code = outcome.result.exit_code();
            (outcome, code)
        }
        Err(Stop::BadInput(message)) => {
            actions::error(&message);
            eprintln!("error: {message}");
            return exit::BAD_INPUT;
        }
        Err(Stop::Locked(held)) => {
            let message = held.to_string();
            actions::error(&message);
            (error_outcome(&settings, &message, started), exit::LOCKED)
        }
        Err(Stop::Fault(e)) => {
            let message = format!("{e:#}");
            actions::error(&message);
            (error_outcome(&settings, &message, started), exit::ERROR)
        }
    };
    report(&settings, scope.as_ref(), reporter.as_ref(), &outcome).await;
    code
}

/// A pull request's preview: its number and the production RC it copies.
struct Scope {
    pr: u64,
    production_rc: String,
}

/// Previews and their cleanup work under the preview's own base name `<rc>-pr-<N>`: their own lock, their
/// own sticky comment and status context, never the production RC's.
fn preview_scope(
    mut settings: Settings,
) -> Result<(Settings, Option<Scope>), preview::PreviewError> {
    let mode = match settings.mode {
        Mode::Preview => "preview",
        Mode::Cleanup => "cleanup",
        _ => return Ok((settings, None)),
    };
    let pr = settings
        .github
        .pr_number
        .ok_or_else(|| preview::PreviewError::NotAPullRequest {
            mode,
            event: settings.github.event_name.clone(),
        })?;
    let production_rc = std::mem::take(&mut settings.rc);
    settings.rc = preview::base_name(&production_rc, pr);
    Ok((settings, Some(Scope { pr, production_rc })))
}

fn mask_secrets(settings: &Settings) {
    if let Some(token) = &settings.github.token {
        actions::add_mask(token.expose_secret());
    }
    if let Some(kubeconfig) = &settings.kubeconfig {
        for line in kubeconfig.expose_secret().lines() {
            let secret_keys = [
                "token:",
                "client-key-data:",
                "client-certificate-data:",
                "password:",
            ];
            let trimmed = line.trim().trim_start_matches("- ");
            for key in secret_keys {
                if let Some(value) = trimmed.strip_prefix(key) {
                    let value = value.trim().trim_matches('"');
                    if !value.is_empty() {
                        actions::add_mask(value);
                    }
                }
            }
        }
    }
}

fn error_outcome(settings: &Settings, message: &str, started: Instant) -> Outcome {
    Outcome {
        result: ResultKind::Error,
        namespace: settings
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        rc_name: format!("{}-{}", settings.rc, settings.version),
        previous_rc_name: None,
        version: settings.version.clone(),
        images: vec![],
        desired_replicas: 0,
        ready_replicas: 0,
        duration: started.elapsed(),
        timeline: vec![],
        summary: message.lines().next().unwrap_or(message).to_string(),
        diagnosis: None,
        after_failure: None,
        environment_url: None,
    }
}

/// Reads every RC and Service of the namespace, and the manifest.
async fn observe(cluster: &Cluster, settings: &Settings) -> Result<Observed, Stop> {
    let manifest = match &settings.manifest {
        Some(path) => Some(plan::load_manifest(path).map_err(|e| Stop::BadInput(e.to_string()))?),
        None => None,
    };
    let rcs: Api<ReplicationController> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = ListParams::default();
    let rcs = kube_ops::retry(|| rcs.list(&params)).await.map_err(|e| {
        if matches!(&e, kube::Error::Api(s) if s.code == 404) {
            Stop::BadInput(format!(
                "input `namespace`: namespace `{}` does not exist; create it or fix the input",
                cluster.namespace
            ))
        } else {
            Stop::Fault(anyhow::anyhow!(kube_ops::explain(
                &e,
                "list",
                "replicationcontrollers"
            )))
        }
    })?;
    let services = kube_ops::retry(|| services.list(&params))
        .await
        .map_err(|e| Stop::Fault(anyhow::anyhow!(kube_ops::explain(&e, "list", "services"))))?;
    Ok(Observed {
        rcs: rcs.items,
        services: services.items,
        manifest,
    })
}

async fn deploy(
    settings: &Settings,
    scope: Option<&Scope>,
    cancel: &Cancel,
    reporter: Option<&Reporter>,
    started: Instant,
) -> Result<Outcome, Stop> {
    actions::group("Connecting to the cluster");
    let cluster = cluster::connect(settings).await.map_err(|e| {
        if format!("{e}").contains("input `kubeconfig`") {
            Stop::BadInput(format!("{e:#}"))
        } else {
            Stop::Fault(e)
        }
    })?;
    println!("namespace {}", cluster.namespace);
    actions::end_group();

    let holder = lock::identity(
        settings.github.run_id.as_deref(),
        settings.github.repository.as_deref(),
    );
    let guard = if settings.dry_run {
        None
    } else {
        match lock::acquire(
            cluster.client.clone(),
            &cluster.namespace,
            &settings.rc,
            &holder,
        )
        .await
        {
            Ok(Ok(guard)) => Some(guard),
            Ok(Err(held)) => return Err(Stop::Locked(held)),
            Err(e) => {
                if format!("{e:#}").contains("404") {
                    return Err(Stop::BadInput(format!(
                        "input `namespace`: namespace `{}` does not exist; create it or fix the input",
                        cluster.namespace
                    )));
                }
                return Err(Stop::Fault(e));
            }
        }
    };
    let result = deploy_locked(settings, scope, &cluster, cancel, reporter, started).await;
    if let Some(guard) = guard {
        guard.release().await;
    }
    result
}

async fn deploy_locked(
    settings: &Settings,
    scope: Option<&Scope>,
    cluster: &Cluster,
    cancel: &Cancel,
    reporter: Option<&Reporter>,
    started: Instant,
) -> Result<Outcome, Stop> {
    if let (Mode::Cleanup, Some(scope)) = (settings.mode, scope) {
        return clean_up(settings, scope, cluster, started).await;
    }
    actions::group("Planning");
    let mut observed = observe(cluster, settings).await?;
    let preview_labels = match scope {
        Some(scope) => Some(prepare_preview(settings, scope, &mut observed)?),
        None => None,
    };
    let plan = match settings.mode {
        Mode::Rollback => plan::rollback::build(settings, &cluster.namespace, &observed)
            .map_err(|e| e.to_string()),
        _ => plan::build(settings, &cluster.namespace, &observed).map_err(|e| e.to_string()),
    }
    .map_err(Stop::BadInput)?;
    let mut environment_url = None;
    if let (Some(scope), Some(production_labels)) = (scope, preview_labels) {
        environment_url = Some(
            preview_service(
                settings,
                scope,
                cluster,
                &observed,
                &plan,
                &production_labels,
            )
            .await?,
        );
    }
    if let Some(reason) = &plan.current_reason {
        println!("{reason}");
    }
    for warning in &plan.warnings {
        actions::warning(warning);
    }
    preflight(cluster, &plan).await;
    actions::end_group();

    if settings.dry_run {
        println!("{}", plan::render_dry_run(&plan));
        let mut outcome = base_outcome(settings, &plan, started);
        outcome.result = ResultKind::DryRun;
        outcome.summary = format!("dry run: {} planned, nothing changed", outcome.rc_name);
        return Ok(outcome);
    }

    if let Some(reporter) = reporter {
        let description = format!(
            "rolling {} to {}",
            settings.rc,
            plan.new_rc.metadata.name.as_deref().unwrap_or_default()
        );
        if let Err(e) = reporter.pending(&description).await {
            actions::warning(&e.warning());
        }
    }

    actions::group("Rolling update");
    let mut engine = Engine::start(
        cluster.client.clone(),
        &cluster.namespace,
        settings,
        cancel.clone(),
    )
    .await
    .context("starting the rollout")?;
    let executed = rollout::execute(&mut engine, &plan).await;
    actions::end_group();
    let executed = executed?;

    let mut outcome = base_outcome(settings, &plan, started);
    outcome.result = executed.result;
    outcome.summary = executed.summary;
    outcome.ready_replicas = executed.ready;
    outcome.previous_rc_name = executed.previous_rc_name.or(outcome.previous_rc_name);
    outcome.diagnosis = executed.diagnosis;
    outcome.after_failure = executed.after_failure;
    outcome.timeline = std::mem::take(&mut engine.timeline);
    outcome.duration = started.elapsed();
    outcome.environment_url = environment_url;
    Ok(outcome)
}

type Labels = std::collections::BTreeMap<String, String>;

fn template_labels(rc: &ReplicationController) -> Labels {
    rc.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// Turns the production RC (or the manifest) into the preview's source, isolated from production Services.
/// Returns the production pods' labels, from which the preview Service is derived.
fn prepare_preview(
    settings: &Settings,
    scope: &Scope,
    observed: &mut Observed,
) -> Result<Labels, Stop> {
    let production = plan::current::find(
        &scope.production_rc,
        "",
        &settings.version_label,
        &observed.rcs,
    )
    .map_err(|e| Stop::BadInput(e.to_string()))?
    .current;
    let has_preview = observed.rcs.iter().any(|rc| {
        rc.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(plan::annotations::PREVIEW_PR_LABEL))
            == Some(&scope.pr.to_string())
    });
    let source = match (observed.manifest.take(), has_preview) {
        (Some(manifest), _) => Some(manifest),
        (None, false) => Some(production.clone().ok_or_else(|| {
            Stop::BadInput(
                preview::PreviewError::NoSource {
                    rc: scope.production_rc.clone(),
                }
                .to_string(),
            )
        })?),
        (None, true) => None,
    };
    let production_labels = production
        .as_ref()
        .or(source.as_ref())
        .map(template_labels)
        .unwrap_or_default();
    if let Some(source) = source {
        let replicas = settings.replicas.unwrap_or(1);
        let isolated = preview::isolate(
            &source,
            &observed.services,
            &scope.production_rc,
            scope.pr,
            &settings.version_label,
            replicas,
        )
        .map_err(|e| Stop::BadInput(e.to_string()))?;
        observed.manifest = Some(isolated);
    }
    Ok(production_labels)
}

/// Checks the planned pods against the live production Services, then creates or updates the preview Service.
async fn preview_service(
    settings: &Settings,
    scope: &Scope,
    cluster: &Cluster,
    observed: &Observed,
    plan: &Plan,
    production_labels: &Labels,
) -> Result<String, Stop> {
    let labels = template_labels(&plan.new_rc);
    preview::check_isolated(&labels, &observed.services)
        .map_err(|e| Stop::BadInput(e.to_string()))?;
    let manifest = match &settings.service_manifest {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Stop::BadInput(format!(
                    "input `service_manifest`: cannot read {}: {e}; check the path",
                    path.display()
                ))
            })?;
            Some(serde_yaml::from_str(&text).map_err(|e| {
                Stop::BadInput(format!(
                    "input `service_manifest`: {} is not a Service manifest: {e}",
                    path.display()
                ))
            })?)
        }
        None => None,
    };
    let service = preview::service(
        production_labels,
        &labels,
        &observed.services,
        manifest,
        &scope.production_rc,
        scope.pr,
    )
    .map_err(|e| Stop::BadInput(e.to_string()))?;
    if settings.dry_run {
        return Ok(preview::environment_url(&service, &cluster.namespace));
    }
    let service =
        rollout::preview::ensure_service(&cluster.client, &cluster.namespace, &service).await?;
    let url = preview::environment_url(&service, &cluster.namespace);
    println!(
        "preview Service {} -> {url}",
        service.metadata.name.as_deref().unwrap_or_default()
    );
    Ok(url)
}

/// `mode: cleanup`: removes the PR's preview.
async fn clean_up(
    settings: &Settings,
    scope: &Scope,
    cluster: &Cluster,
    started: Instant,
) -> Result<Outcome, Stop> {
    actions::group("Removing the preview");
    let removed = rollout::preview::cleanup(&cluster.client, &cluster.namespace, scope.pr).await?;
    actions::end_group();
    let summary = format!(
        "preview of PR #{} removed: {} RC(s) ({}), {} pod(s), {} Service(s) ({})",
        scope.pr,
        removed.rcs.len(),
        removed.rcs.join(", "),
        removed.pods,
        removed.services.len(),
        removed.services.join(", ")
    );
    println!("{summary}");
    Ok(Outcome {
        result: ResultKind::Success,
        namespace: cluster.namespace.clone(),
        rc_name: settings.rc.clone(),
        previous_rc_name: removed.rcs.first().cloned(),
        version: settings.version.clone(),
        images: vec![],
        desired_replicas: 0,
        ready_replicas: 0,
        duration: started.elapsed(),
        timeline: vec![],
        summary,
        diagnosis: None,
        after_failure: None,
        environment_url: None,
    })
}

/// Warnings before any change: surge pods that cannot fit, a quota without room.
async fn preflight(cluster: &Cluster, plan: &Plan) {
    let Some(template) = plan.new_rc.spec.as_ref().and_then(|s| s.template.as_ref()) else {
        return;
    };
    let snap = rollout::snapshot::gather(
        &cluster.client,
        &cluster.namespace,
        &plan.new_rc,
        plan.current.as_ref(),
        &plan.limits,
    )
    .await;
    for warning in diagnosis::preflight(&snap, template) {
        actions::warning(&format!("pre-flight: {warning}"));
    }
}

fn base_outcome(settings: &Settings, plan: &Plan, started: Instant) -> Outcome {
    Outcome {
        result: ResultKind::Success,
        namespace: plan.namespace.clone(),
        rc_name: plan.new_rc.metadata.name.clone().unwrap_or_default(),
        previous_rc_name: plan.current.as_ref().and_then(|c| c.metadata.name.clone()),
        version: settings.version.clone(),
        images: plan.images.clone(),
        desired_replicas: plan.desired,
        ready_replicas: 0,
        duration: started.elapsed(),
        timeline: vec![],
        summary: String::new(),
        diagnosis: None,
        after_failure: None,
        environment_url: None,
    }
}

/// Log, job summary, outputs, GitHub. Never changes the exit code.
async fn report(
    settings: &Settings,
    scope: Option<&Scope>,
    reporter: Option<&Reporter>,
    outcome: &Outcome,
) {
    if let Some(d) = &outcome.diagnosis {
        if !d.findings.is_empty() {
            println!("\nDiagnosis:\n{}", diagnosis::text::render_text(d));
        }
    }
    match outcome.result {
        ResultKind::Failure => actions::error(&format!("rollout failed: {}", outcome.summary)),
        ResultKind::Cancelled => actions::warning(&outcome.summary),
        ResultKind::Error => {}
        _ => actions::notice(&outcome.summary),
    }
    println!(
        "Result: {} ({})",
        outcome.result.as_str().to_uppercase(),
        outcome.summary
    );
    let ctx = markdown::RenderContext::new(
        &outcome.namespace,
        &settings.rc,
        markdown::run_url(&settings.github),
    );
    let body = markdown::render(outcome, &ctx);
    let mut comment_url = None;
    if let Some(reporter) = reporter {
        let result = reporter.finish(outcome, &body).await;
        for w in &result.warnings {
            actions::warning(w);
        }
        comment_url = result.comment_url;
        if let Some(scope) = scope {
            if let Err(e) = deployment(reporter, settings, scope, outcome).await {
                actions::warning(&e.warning());
            }
        }
    }
    if let Err(e) = actions::append_summary(&body) {
        actions::warning(&format!("could not write the job summary: {e}"));
    }
    if let Err(e) = actions::write_outputs(outcome, comment_url.as_deref()) {
        actions::warning(&format!("could not write the step outputs: {e}"));
    }
    if std::env::var_os("ROLLING_UPDATE_PRINT_REPORT").is_some() {
        println!("\n----- report (as posted to the pull request) -----\n{body}");
    }
}

/// The GitHub Deployment of a preview: environment `pr-<N>` with the preview's address; inactive after cleanup.
async fn deployment(
    reporter: &Reporter,
    settings: &Settings,
    scope: &Scope,
    outcome: &Outcome,
) -> Result<(), ReportError> {
    let environment = preview::environment(scope.pr);
    match settings.mode {
        Mode::Cleanup => {
            reporter.deactivate_environment(&environment).await?;
        }
        Mode::Preview if outcome.result != ResultKind::DryRun => {
            let id = reporter
                .create_deployment(&environment, &settings.github.status_sha, &outcome.summary)
                .await?;
            let state = DeploymentState::for_result(outcome.result);
            reporter
                .deployment_status(
                    id,
                    state,
                    outcome.environment_url.as_deref(),
                    &outcome.summary,
                )
                .await?;
        }
        _ => {}
    }
    Ok(())
}
