//! Step arithmetic: kubectl rolling-update's fencepost rules, kept pure so every case is a unit test.
//!
//! kubectl hard-coded surge 1 / unavailable 0 and slept a minute between steps; the arithmetic itself was
//! right and users know its words ("keep 3 pods available, don't exceed 4 pods"), so we keep it and drive it
//! from watches instead of sleeps.

use crate::inputs::IntOrPercent;

/// Resolved limits for one rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub desired: i32,
    pub max_surge: i32,
    pub max_unavailable: i32,
}

fn value(v: IntOrPercent, desired: i32, round_up: bool) -> i32 {
    match v {
        IntOrPercent::Int(n) => n,
        IntOrPercent::Percent(p) => {
            let scaled = i64::from(p) * i64::from(desired);
            let v = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            v as i32
        }
    }
}

impl Limits {
    /// kubectl's ResolveFenceposts: surge rounds up, unavailable rounds down; if both come out 0 (small
    /// percentages), unavailable becomes 1 so the rollout can make progress.
    pub fn resolve(desired: i32, max_surge: IntOrPercent, max_unavailable: IntOrPercent) -> Limits {
        let surge = value(max_surge, desired, true);
        let mut unavailable = value(max_unavailable, desired, false).min(desired);
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        Limits {
            desired,
            max_surge: surge,
            max_unavailable: unavailable,
        }
    }

    /// Pods that must stay available at every moment (the Service's floor).
    pub fn min_available(&self) -> i32 {
        (self.desired - self.max_unavailable).max(0)
    }

    /// Pods that may exist at once.
    pub fn max_total(&self) -> i32 {
        self.desired + self.max_surge
    }

    /// kubectl's words: "keep 3 pods available, don't exceed 4 pods".
    pub fn describe(&self) -> String {
        format!(
            "keep {} pods available, don't exceed {} pods",
            self.min_available(),
            self.max_total()
        )
    }

    /// The new RC's next replica count: as far up as the surge limit allows, all the way once the old RC is
    /// gone, never past `desired`. Returns the current count when no step is possible.
    pub fn scale_up_target(&self, old_replicas: i32, new_replicas: i32) -> i32 {
        if new_replicas >= self.desired {
            return new_replicas;
        }
        let increment = if old_replicas == 0 {
            self.desired - new_replicas
        } else {
            self.max_total() - (old_replicas + new_replicas)
        };
        if increment <= 0 {
            return new_replicas;
        }
        (new_replicas + increment).min(self.desired)
    }

    /// The old RC's next replica count: its unavailable pods may always go (the RC controller deletes
    /// not-ready pods first, as the Deployment controller's `cleanupUnhealthyReplicas` relies on), its available
    /// ones only as far as the floor allows, counting new pods that are available (ready for
    /// min_ready_seconds). Without the first part a crash-looping old pod blocks a rollback forever.
    pub fn scale_down_target(
        &self,
        old_replicas: i32,
        old_available: i32,
        new_replicas: i32,
        new_available: i32,
    ) -> i32 {
        if old_replicas <= 0 {
            return 0;
        }
        let old_available = old_available.clamp(0, old_replicas);
        let unhealthy = old_replicas - old_available;
        let new_available = new_available.clamp(0, new_replicas.max(0));
        let spare = (old_available + new_available - self.min_available()).max(0);
        let decrement = unhealthy + spare.min(old_available);
        (old_replicas - decrement).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntOrPercent::{Int, Percent};

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let l = Limits::resolve(10, Percent(25), Percent(25));
        assert_eq!((l.max_surge, l.max_unavailable), (3, 2));
        let l = Limits::resolve(3, Percent(1), Percent(1));
        assert_eq!((l.max_surge, l.max_unavailable), (1, 0));
        let l = Limits::resolve(3, Percent(0), Percent(10));
        assert_eq!(
            (l.max_surge, l.max_unavailable),
            (0, 1),
            "both zero -> unavailable 1"
        );
    }

    #[test]
    fn describe_uses_kubectl_words() {
        let l = Limits::resolve(3, Int(1), Int(0));
        assert_eq!(l.describe(), "keep 3 pods available, don't exceed 4 pods");
    }

    /// Simulates a whole rollout where every pod becomes available at once, checking the floor and ceiling.
    fn simulate(l: Limits) -> Vec<(i32, i32)> {
        let (mut old, mut new) = (l.desired, 0);
        let mut steps = vec![];
        for _ in 0..100 {
            new = l.scale_up_target(old, new);
            assert!(
                old + new <= l.max_total().max(l.desired),
                "ceiling broken at {old}+{new}"
            );
            // new pods become available, then scale down
            let next_old = l.scale_down_target(old, old, new, new);
            assert!(next_old + new >= l.min_available(), "floor broken");
            old = next_old;
            steps.push((old, new));
            if old == 0 && new == l.desired {
                return steps;
            }
        }
        panic!("no convergence: {steps:?}");
    }

    #[test]
    fn surge_one_rolls_three_in_three_steps() {
        let steps = simulate(Limits::resolve(3, Int(1), Int(0)));
        assert_eq!(steps, vec![(2, 1), (1, 2), (0, 3)]);
    }

    #[test]
    fn surge_zero_unavailable_one_scales_down_first() {
        let l = Limits::resolve(3, Int(0), Int(1));
        assert_eq!(l.scale_up_target(3, 0), 0, "no room to surge");
        assert_eq!(l.scale_down_target(3, 3, 0, 0), 2);
        assert_eq!(l.scale_up_target(2, 0), 1);
        simulate(l);
    }

    #[test]
    fn surge_three_rolls_ten_in_four_steps() {
        let steps = simulate(Limits::resolve(10, Int(3), Int(0)));
        assert_eq!(steps.len(), 4);
    }

    #[test]
    fn unavailable_new_pods_block_scale_down() {
        let l = Limits::resolve(3, Int(1), Int(0));
        assert_eq!(l.scale_down_target(3, 3, 1, 0), 3);
        assert_eq!(l.scale_down_target(3, 3, 1, 1), 2);
    }

    #[test]
    fn unhealthy_old_pods_always_go_available_ones_only_to_the_floor() {
        let l = Limits::resolve(3, Int(1), Int(0));
        assert_eq!(l.scale_down_target(3, 2, 1, 0), 2, "the unhealthy one goes");
        assert_eq!(
            l.scale_down_target(3, 0, 0, 0),
            0,
            "nothing available: all may go"
        );
        assert_eq!(
            l.scale_down_target(3, 2, 1, 1),
            2,
            "at the floor: only the unhealthy one"
        );
        assert_eq!(l.scale_down_target(3, 2, 2, 2), 1);
    }

    #[test]
    fn old_gone_scales_new_all_the_way() {
        let l = Limits::resolve(5, Int(1), Int(0));
        assert_eq!(l.scale_up_target(0, 2), 5);
    }
}
