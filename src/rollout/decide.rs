//! The engine's decisions, apart from its effects: what the two RCs' replica counts should be next, given what
//! is observed now. Pure, so a deterministic model of the cluster (tests/model.rs) can drive it through
//! thousands of random histories (pods that flap, crash, are evicted; a controller that lags; a kill at any
//! write) and check the availability floor and the surge ceiling on every step, which no timing-dependent
//! integration test can.
//!
//! The converge loop ([`super::converge`]) observes, calls [`decide`], writes what it says, and waits.

use crate::plan::Limits;

/// What is observed of one RC: its `spec.replicas` as we last wrote it, and its pods (by controller UID).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideView {
    pub replicas: i32,
    /// Active pods (not terminating, not finished).
    pub live: i32,
    /// Active pods Ready for at least the effective minReadySeconds.
    pub available: i32,
}

/// Everything one decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// The RC being scaled down; `None` on a first deploy.
    pub from: Option<SideView>,
    /// The RC being scaled up to `limits.desired`.
    pub to: SideView,
    pub limits: Limits,
    /// Available `to` pods that finish the pass: `desired` for an update; for a rollback, the old RC's
    /// availability before the run (an old pod that was already crash-looping is not waited for).
    pub required_available: i32,
}

/// The next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `from` is at 0 and `to` at `desired` with enough available pods.
    Done,
    /// Write these replica counts (either or both may change).
    Scale { to: i32, from: Option<i32> },
    /// Nothing to write until a pod changes.
    Wait,
}

/// Decides the next step. Scale-up and scale-down are decided together from the same observation; the surge
/// ceiling counts `from`'s live pods too, because after a scale-down the RC controller needs a moment to mark
/// the pods it removes, and until then they still run.
pub fn decide(v: &View) -> Decision {
    let from = v.from.unwrap_or_default();
    let desired = v.limits.desired;
    if from.replicas == 0
        && v.to.replicas == desired
        && v.to.available >= v.required_available.min(desired)
    {
        return Decision::Done;
    }
    // A resume with a smaller `replicas` than the interrupted run asked for: the new RC comes down to it.
    let up = if v.to.replicas > desired {
        desired
    } else {
        v.limits
            .scale_up_target(from.replicas.max(from.live), v.to.replicas)
    };
    let down = match v.from {
        Some(f) => {
            let d = v
                .limits
                .scale_down_target(f.replicas, f.available, up, v.to.available);
            (d != f.replicas).then_some(d)
        }
        None => None,
    };
    if up == v.to.replicas && down.is_none() {
        return Decision::Wait;
    }
    Decision::Scale { to: up, from: down }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::IntOrPercent::Int;

    fn side(replicas: i32, live: i32, available: i32) -> SideView {
        SideView {
            replicas,
            live,
            available,
        }
    }

    impl View {
        /// The same view once the new RC's side has come to `to`.
        fn with_to(self, to: SideView) -> View {
            View { to, ..self }
        }
    }

    /// 3 replicas, surge 1, unavailable 0, all 3 to stay available: the usual rollout.
    fn view(from: SideView, to: SideView) -> View {
        View {
            from: Some(from),
            to,
            limits: Limits::resolve(3, Int(1), Int(0)),
            required_available: 3,
        }
    }

    #[test]
    fn first_step_surges_and_waits_for_availability() {
        let v = view(side(3, 3, 3), side(0, 0, 0));
        assert_eq!(decide(&v), Decision::Scale { to: 1, from: None });
        let v = v.with_to(side(1, 1, 0));
        assert_eq!(
            decide(&v),
            Decision::Wait,
            "the new pod is not available yet"
        );
        let v = v.with_to(side(1, 1, 1));
        assert_eq!(
            decide(&v),
            Decision::Scale {
                to: 1,
                from: Some(2)
            }
        );
    }

    /// Issue 12, case 3: an old pod that was already crash-looping is removed like the Deployment controller's
    /// cleanupUnhealthyReplicas does, and a rollback finishes at the availability the RC had before the run.
    #[test]
    fn unavailable_pods_of_the_side_going_down_may_always_go() {
        let v = view(side(3, 3, 2), side(1, 1, 0));
        assert_eq!(
            decide(&v),
            Decision::Scale {
                to: 1,
                from: Some(2)
            },
            "the crash-looping old pod goes; the two available stay"
        );
        // Rolling back: the failed new RC (from) has nothing available and goes to 0 at once.
        let back = View {
            required_available: 2,
            ..view(side(2, 2, 0), side(3, 3, 2))
        };
        assert_eq!(
            decide(&back),
            Decision::Scale {
                to: 3,
                from: Some(0)
            }
        );
        let back = View {
            from: Some(side(0, 0, 0)),
            ..back
        };
        assert_eq!(
            decide(&back),
            Decision::Done,
            "2 of 3 available is as available as before the run"
        );
    }

    /// Issue 12, item 10: a resume asked for fewer replicas than the interrupted run scaled the new RC to.
    #[test]
    fn a_smaller_replicas_on_resume_is_applied() {
        let v = view(side(0, 0, 0), side(5, 5, 5));
        assert_eq!(decide(&v), Decision::Scale { to: 3, from: None });
        let v = v.with_to(side(3, 5, 5));
        assert_eq!(decide(&v), Decision::Done);
    }

    #[test]
    fn an_update_is_not_done_below_desired() {
        let v = view(side(0, 0, 0), side(3, 3, 2));
        assert_eq!(decide(&v), Decision::Wait);
    }
}
