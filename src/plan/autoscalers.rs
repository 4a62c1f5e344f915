//! A HorizontalPodAutoscaler that targets the RC this run scales down would fight the rollout: it resizes the old
//! RC back up as we scale it down, and it never scales the new one. The Deployment controller avoids this by
//! owning the scale of one object; we cannot, so the run refuses before anything changes and says how to hand
//! the autoscaler over.

use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ReplicationController;

use super::error::{PlanError, Result};

/// Refuses when an HPA's `scaleTargetRef` is the old RC.
pub fn check(hpas: &[HorizontalPodAutoscaler], old: &ReplicationController) -> Result<()> {
    let old_name = old.metadata.name.as_deref().unwrap_or_default();
    let targets_old = |h: &&HorizontalPodAutoscaler| {
        let target = &h.spec.scale_target_ref;
        target.kind == "ReplicationController" && target.name == old_name
    };
    match hpas.iter().find(targets_old) {
        Some(h) => Err(PlanError::AutoscalerTargetsOld {
            hpa: h.metadata.name.clone().unwrap_or_default(),
            rc: old_name.to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(kind: &str, name: &str) -> HorizontalPodAutoscaler {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api-hpa"},
            "spec": {"scaleTargetRef": {"kind": kind, "name": name, "apiVersion": "v1"}, "maxReplicas": 5}
        }))
        .unwrap()
    }

    #[test]
    fn an_hpa_on_the_old_rc_is_refused_naming_it() {
        let old: ReplicationController =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "api-rc"}})).unwrap();
        let e = check(&[hpa("ReplicationController", "api-rc")], &old).unwrap_err();
        assert_eq!(
            e,
            PlanError::AutoscalerTargetsOld {
                hpa: "api-hpa".into(),
                rc: "api-rc".into()
            }
        );
        assert!(e.to_string().contains("kubectl delete hpa api-hpa"), "{e}");
        assert!(check(&[hpa("Deployment", "api-rc")], &old).is_ok());
        assert!(check(&[hpa("ReplicationController", "billing")], &old).is_ok());
    }
}
