//! The engine's decisions ([`decide`]) driven by a deterministic model of the cluster through thousands of random
//! histories, with the availability floor, the surge ceiling, convergence and resumption checked at every tick.
//! Timing hides these on a real control plane; here every history is reproducible from the values proptest
//! prints on failure (`seed` drives every random choice of the history).
//!
//! The model (one tick = 100 ms):
//! - the RC controller reconciles each RC after a random lag: it creates missing pods and deletes surplus ones the
//!   way `controller.ActivePods` ranks them (unready before ready, then the most recently ready first);
//! - the kubelet makes a new pod Ready after a random delay, or never (a bad image); Ready pods flap or crash
//!   (unready for a while) and are evicted (deleted; the controller replaces them); some old pods crash-loop
//!   from the start;
//! - terminating pods linger for a while (they count for neither the floor nor the ceiling);
//! - API writes fail at random (the engine tries again on its next step), and the engine process is killed at
//!   random writes (before or after the write lands); a fresh run reads the RCs and carries on, as the action's
//!   resume does.
//! - The driver mirrors `converge`: progress (more available new pods, or a write) resets the progress deadline;
//!   when it passes, the update fails and the roles swap for the rollback.
//!
//! Invariants:
//! - ceiling: active pods of both RCs never exceed desired + max_surge;
//! - floor (no external disruption): available pods never drop below min(available at start, desired −
//!   max_unavailable); with disruptions, no scale-down the engine writes would take the pods it leaves available
//!   below that floor by the controller's deletion order;
//! - every history ends in a finished update (new RC at desired, all available, old at 0) or a complete rollback
//!   (old RC at its original count with at least as many available as at the start, new at 0);
//! - the engine writes only the two RCs' replica counts (the model has nothing else it could write).

use proptest::prelude::*;
use rolling_update_action::inputs::IntOrPercent;
use rolling_update_action::plan::Limits;
use rolling_update_action::rollout::decide::{decide, Decision, SideView, View};

/// splitmix64: every random choice of a history comes from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

#[derive(Debug, Clone)]
struct Pod {
    /// Tick it turned Ready, if it is Ready now.
    ready_since: Option<u64>,
    /// Tick it will turn Ready (again); `None`: never.
    ready_at: Option<u64>,
    /// Ticks left before a terminating pod is gone.
    terminating: Option<u64>,
    /// Unready because of a disruption (flap, crash) rather than the engine.
    disrupted: bool,
}

#[derive(Debug, Clone)]
struct Rc {
    spec: i32,
    pods: Vec<Pod>,
    /// Ticks until the controller next reconciles this RC.
    lag: u64,
    /// New pods of this RC become Ready after this many ticks; `None`: never (a bad image).
    startup: Option<u64>,
}

impl Rc {
    fn active(&self) -> impl Iterator<Item = &Pod> {
        self.pods.iter().filter(|p| p.terminating.is_none())
    }
    fn live(&self) -> i32 {
        self.active().count() as i32
    }
    fn available(&self, now: u64, min_ready: u64) -> i32 {
        self.active()
            .filter(|p| p.ready_since.is_some_and(|s| s + min_ready <= now))
            .count() as i32
    }
    fn view(&self, now: u64, min_ready: u64) -> SideView {
        SideView {
            replicas: self.spec,
            live: self.live(),
            available: self.available(now, min_ready),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Params {
    seed: u64,
    desired: i32,
    surge: i32,
    unavailable: i32,
    min_ready: u64,
    new_is_bad: bool,
    crashlooping_old: i32,
    /// Per-mille chance per tick per Ready pod of a flap or crash, and of an eviction.
    disruption: u64,
    eviction: u64,
    /// Per-mille chance that a write fails, and that the process is killed at a write.
    write_fault: u64,
    kill: u64,
}

struct Cluster {
    now: u64,
    rng: Rng,
    old: Rc,
    new: Rc,
    min_ready: u64,
    disruption: u64,
    eviction: u64,
    /// Disruptions stop after this tick, so every history can settle.
    calm_after: u64,
}

impl Cluster {
    fn tick(&mut self) {
        self.now += 1;
        let now = self.now;
        let calm = now > self.calm_after;
        for rc in [&mut self.old, &mut self.new] {
            for p in &mut rc.pods {
                if let Some(left) = p.terminating.as_mut() {
                    *left = left.saturating_sub(1);
                    continue;
                }
                if p.ready_since.is_none() && p.ready_at.is_some_and(|at| at <= now) {
                    p.ready_since = Some(now);
                    p.disrupted = false;
                }
            }
            rc.pods.retain(|p| p.terminating != Some(0));
        }
        if !calm {
            let (disruption, eviction) = (self.disruption, self.eviction);
            for which in 0..2 {
                let n = if which == 0 {
                    self.old.pods.len()
                } else {
                    self.new.pods.len()
                };
                for i in 0..n {
                    let roll_flap = self.rng.chance(disruption);
                    let roll_evict = self.rng.chance(eviction);
                    let back_in = 1 + self.rng.below(30);
                    let rc = if which == 0 {
                        &mut self.old
                    } else {
                        &mut self.new
                    };
                    let p = &mut rc.pods[i];
                    if p.terminating.is_some() || p.ready_since.is_none() {
                        continue;
                    }
                    if roll_evict {
                        p.terminating = Some(5);
                    } else if roll_flap {
                        p.ready_since = None;
                        p.ready_at = Some(now + back_in);
                        p.disrupted = true;
                    }
                }
            }
        }
        // The RC controller, after its lag.
        for which in 0..2 {
            let lag_draw = 1 + self.rng.below(8);
            let rc = if which == 0 {
                &mut self.old
            } else {
                &mut self.new
            };
            if rc.lag > 0 {
                rc.lag -= 1;
                continue;
            }
            rc.lag = lag_draw;
            let live = rc.live();
            if live < rc.spec {
                for _ in live..rc.spec {
                    let ready_at = rc.startup.map(|s| now + s);
                    rc.pods.push(Pod {
                        ready_since: None,
                        ready_at,
                        terminating: None,
                        disrupted: false,
                    });
                }
            } else if live > rc.spec {
                // controller.ActivePods order: unready first, then the most recently Ready first.
                let mut order: Vec<usize> = (0..rc.pods.len())
                    .filter(|&i| rc.pods[i].terminating.is_none())
                    .collect();
                order.sort_by_key(|&i| match rc.pods[i].ready_since {
                    None => (0, 0),
                    Some(s) => (1, u64::MAX - s),
                });
                for &i in order.iter().take((live - rc.spec) as usize) {
                    rc.pods[i].terminating = Some(3);
                }
            }
        }
    }

    fn available(&self) -> i32 {
        self.old.available(self.now, self.min_ready) + self.new.available(self.now, self.min_ready)
    }

    fn active(&self) -> i32 {
        self.old.live() + self.new.live()
    }
}

/// How a history ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Updated,
    RolledBack,
}

fn history(p: Params) -> Result<End, String> {
    let limits = Limits::resolve(
        p.desired,
        IntOrPercent::Int(p.surge),
        IntOrPercent::Int(p.unavailable),
    );
    let mut rng = Rng(p.seed);
    let healthy_startup = 1 + rng.below(20);
    let mut old = Rc {
        spec: p.desired,
        pods: vec![],
        lag: 0,
        startup: Some(healthy_startup),
    };
    for i in 0..p.desired {
        let crashlooping = i < p.crashlooping_old;
        old.pods.push(Pod {
            ready_since: (!crashlooping).then_some(0),
            ready_at: None,
            terminating: None,
            disrupted: false,
        });
    }
    let new = Rc {
        spec: 0,
        pods: vec![],
        lag: 0,
        startup: if p.new_is_bad {
            None
        } else {
            Some(1 + rng.below(30))
        },
    };
    let mut c = Cluster {
        now: p.min_ready + 1,
        rng: Rng(p.seed ^ 0xA5A5),
        old,
        new,
        min_ready: p.min_ready,
        disruption: p.disruption,
        eviction: p.eviction,
        calm_after: 600,
    };
    let original = p.desired;
    let available_at_start = c.old.available(c.now, c.min_ready);
    let floor = available_at_start.min(limits.min_available());
    let back = Limits::resolve(
        original,
        IntOrPercent::Int(limits.max_surge),
        IntOrPercent::Int(limits.max_unavailable),
    );
    let progress_deadline = 150;
    let mut rolling_back = false;
    let mut best = -1;
    let mut last_progress = c.now;
    let disruptions = p.disruption > 0 || p.eviction > 0;

    for _ in 0..20_000 {
        // Invariants on what the cluster shows now.
        if c.active() > limits.max_total() {
            return Err(format!(
                "ceiling broken at tick {}: {} active > {}",
                c.now,
                c.active(),
                limits.max_total()
            ));
        }
        if !disruptions && c.available() < floor {
            return Err(format!(
                "floor broken at tick {}: {} available < {floor} (old {:?} new {:?})",
                c.now,
                c.available(),
                c.old.view(c.now, c.min_ready),
                c.new.view(c.now, c.min_ready)
            ));
        }

        // The engine: observe, decide, write.
        let (from, to, lim, required) = if rolling_back {
            (&c.new, &c.old, back, available_at_start.min(original))
        } else {
            (&c.old, &c.new, limits, p.desired)
        };
        let view = View {
            from: Some(from.view(c.now, c.min_ready)),
            to: to.view(c.now, c.min_ready),
            limits: lim,
            required_available: required,
        };
        if view.to.available > best {
            best = view.to.available;
            last_progress = c.now;
        }
        match decide(&view) {
            Decision::Done => {
                return if rolling_back {
                    check_rolled_back(&c, original, available_at_start)
                } else {
                    check_updated(&c, p.desired)
                };
            }
            Decision::Scale { to: up, from: down } => {
                if let Some(d) = down {
                    // The engine's own scale-down never takes what it leaves below the floor.
                    let kept = view.from.unwrap().available.min(d) + view.to.available;
                    if kept < floor.min(view.from.unwrap().available + view.to.available) {
                        return Err(format!(
                            "scale-down to {d} at tick {} keeps {kept} available < floor {floor}: {view:?}",
                            c.now
                        ));
                    }
                }
                let killed = c.rng.chance(p.kill);
                // A write fails, or the process dies just before it lands (half of the kills).
                let fails = c.rng.chance(p.write_fault);
                let killed_before = killed && c.rng.chance(500);
                let lands = !fails && !killed_before;
                if lands {
                    let (from_rc, to_rc) = if rolling_back {
                        (&mut c.new, &mut c.old)
                    } else {
                        (&mut c.old, &mut c.new)
                    };
                    to_rc.spec = up;
                    if let Some(d) = down {
                        from_rc.spec = d;
                    }
                    last_progress = c.now;
                }
                // A killed process is replaced by a fresh run: it reads the RCs' specs (the model's state) and
                // resumes with nothing remembered but what the cluster holds. Its progress clock restarts.
                if killed {
                    best = -1;
                    last_progress = c.now;
                }
            }
            Decision::Wait => {}
        }
        if c.now - last_progress > progress_deadline {
            // A rollback has no fail-fast and keeps going while the cluster is still being disrupted; once it is
            // calm, a rollback that stalls for a whole progress deadline is a bug.
            if rolling_back && c.now <= c.calm_after + progress_deadline {
                c.tick();
                continue;
            }
            if rolling_back {
                return Err(format!(
                    "rollback stalled at tick {}: old {:?} new {:?}",
                    c.now,
                    c.old.view(c.now, c.min_ready),
                    c.new.view(c.now, c.min_ready)
                ));
            }
            rolling_back = true;
            best = -1;
            last_progress = c.now;
        }
        c.tick();
    }
    Err(format!(
        "no end after 20000 ticks: old {:?} new {:?}",
        c.old.view(c.now, c.min_ready),
        c.new.view(c.now, c.min_ready)
    ))
}

fn check_updated(c: &Cluster, desired: i32) -> Result<End, String> {
    let new = c.new.view(c.now, c.min_ready);
    if c.old.spec != 0 || new.replicas != desired || new.available < desired {
        return Err(format!(
            "update declared done at tick {} with old {:?} new {new:?}",
            c.now,
            c.old.view(c.now, c.min_ready)
        ));
    }
    Ok(End::Updated)
}

fn check_rolled_back(c: &Cluster, original: i32, available_at_start: i32) -> Result<End, String> {
    let old = c.old.view(c.now, c.min_ready);
    if c.new.spec != 0
        || old.replicas != original
        || old.available < available_at_start.min(original)
    {
        return Err(format!(
            "rollback declared done at tick {} with old {old:?} new {:?}",
            c.now,
            c.new.view(c.now, c.min_ready)
        ));
    }
    Ok(End::RolledBack)
}

fn params() -> impl Strategy<Value = Params> {
    (
        any::<u64>(),
        1..12i32,
        0..4i32,
        0..3i32,
        prop_oneof![Just(0u64), 1..40u64],
        prop::bool::weighted(0.3),
        0..3i32,
        prop_oneof![Just(0u64), 1..15u64],
        prop_oneof![Just(0u64), 1..5u64],
        prop_oneof![Just(0u64), 1..200u64],
        prop_oneof![Just(0u64), 1..100u64],
    )
        .prop_map(
            |(
                seed,
                desired,
                surge,
                unavailable,
                min_ready,
                new_is_bad,
                crash,
                dis,
                ev,
                wf,
                kill,
            )| {
                Params {
                    seed,
                    desired,
                    surge,
                    unavailable,
                    min_ready,
                    new_is_bad,
                    crashlooping_old: crash.min(desired),
                    disruption: dis,
                    eviction: ev,
                    write_fault: wf,
                    kill,
                }
            },
        )
}

fn cases() -> u32 {
    std::env::var("MODEL_HISTORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_history_keeps_the_floor_and_ceiling_and_ends_updated_or_rolled_back(p in params()) {
        let end = history(p);
        prop_assert!(end.is_ok(), "{p:?}: {}", end.unwrap_err());
        let end = end.unwrap();
        if !p.new_is_bad && p.disruption == 0 && p.eviction == 0 {
            prop_assert_eq!(end, End::Updated, "{:?}: a good image with no disruption must finish the update", p);
        }
        if p.new_is_bad {
            prop_assert_eq!(end, End::RolledBack, "{:?}: a bad image must be rolled back", p);
        }
    }
}

/// Issue 12, case 3, as a single history: one old pod crash-looping, a new image that never turns Ready. The
/// rollback completes at the availability the RC had before the run.
#[test]
fn a_crash_looping_old_pod_does_not_block_the_rollback() {
    let p = Params {
        seed: 7,
        desired: 3,
        surge: 1,
        unavailable: 0,
        min_ready: 0,
        new_is_bad: true,
        crashlooping_old: 1,
        disruption: 0,
        eviction: 0,
        write_fault: 0,
        kill: 0,
    };
    assert_eq!(history(p), Ok(End::RolledBack));
}
