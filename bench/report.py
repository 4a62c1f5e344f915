"""Renders bench/results.json as the markdown of bench/results.md (the README pastes its table).

Targets are ratios within one run, never assertions: a miss is reported, with the numbers that explain it.
"""


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def wall_target(case):
    return 1.10 * case["lower_bound_s"] + 2.0


def mark(ok):
    return "yes" if ok else "**no**"


def group_requests(by_kind):
    """The action's requests in a few buckets that say why they were made."""
    buckets = {"setup (RC/Service lists, preflight, create)": 0, "scale steps (patch RC)": 0,
               "annotations, delete": 0, "pod watch": 0, "lease (lock, renewals)": 0,
               "preflight, diagnosis (get RCs, list pods/events/nodes/quotas)": 0, "legacy relabel (patch pods)": 0, "other": 0}
    for kind, count in by_kind.items():
        verb, res = kind.split(" ", 1)
        if res.startswith("leases"):
            buckets["lease (lock, renewals)"] += count
        elif res == "pods" and verb == "watch":
            buckets["pod watch"] += count
        elif res == "replicationcontrollers" and verb == "patch":
            buckets["scale steps (patch RC)"] += count
        elif res == "replicationcontrollers" and verb == "delete":
            buckets["annotations, delete"] += count
        elif res in ("replicationcontrollers", "services") and verb in ("list", "create"):
            buckets["setup (RC/Service lists, preflight, create)"] += count
        elif res == "pods" and verb == "patch":
            buckets["legacy relabel (patch pods)"] += count
        elif verb in ("get", "list"):
            buckets["preflight, diagnosis (get RCs, list pods/events/nodes/quotas)"] += count
        else:
            buckets["other"] += count
    return buckets


def mb(b):
    return f"{b / 1e6:.2f} MB" if b >= 1e5 else f"{b / 1e3:.1f} kB"


def render_cost(cost):
    """Issue 13: what a diagnosis and a rollout cost the API server with many pods in other namespaces."""
    out = ["\n## Cost of a diagnosis (issue 13)\n"]
    base = cost.get("baseline_commit")
    out.append(f"{cost['pods']:,} pods in {cost['namespaces']} other namespaces, bound to a node no kubelet serves "
               f"(about {cost['bytes_per_pod_listed']:.0f} bytes each in a list), 10m CPU each; created in "
               f"{cost['fill_s']:.0f} s. Our namespace: a 1-CPU node with 670m requested by a pod of another "
               "namespace and 3 x 100m by ours. Two rollouts per build, each through a counting proxy "
               "(`bench/meter.py`: every request and the bytes of its response body, watch streams included): "
               "surge 1, which cannot fit, is diagnosed every 2 s until it stops early and rolls back; surge 0 / "
               "unavailable 1 succeeds. A *snapshot* is one gathering of the diagnosis' inputs (the pre-flight "
               "check, or one diagnosis; counted by its events list); *snapshot reads* are nodes and cluster-wide "
               f"pods (lists and watches), the namespace's pods, events, quotas and logs; *beyond one list* leaves out one full "
               "list of the cluster's pods and nodes, the least any build reads, so what remains is what each further "
               f"diagnosis adds. Commit `{cost['commit']}`"
               + (f", baseline `{base}`" if base else "") + f", {cost['date']}.\n")
    out.append("| build | rollout | exit | snapshots | requests | bytes | snapshot requests | snapshot bytes "
               "| per snapshot: requests | bytes | beyond one list, per snapshot: requests | bytes "
               "| cluster-wide pod lists (pages) | wall | peak RSS |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, runs in cost["binaries"].items():
        for key, run in runs.items():
            n = max(1, run["snapshots"])
            lists = f"{run['cluster_pod_lists']} ({run['cluster_pod_pages']})"
            out.append(f"| {label} | {key.replace('_', ' ')} | {run['exit_code']} | {run['snapshots']} "
                       f"| {run['requests']} | {mb(run['bytes'])} | {run['snapshot_requests']} "
                       f"| {mb(run['snapshot_bytes'])} | {run['snapshot_requests'] / n:.1f} "
                       f"| {mb(run['snapshot_bytes'] / n)} | {run['beyond_one_list_requests'] / n:.1f} "
                       f"| {mb(run['beyond_one_list_bytes'] / n)} | {lists} | {run['wall_s']:.1f} s "
                       f"| {run['max_rss_mb']:.1f} MB |")
    out.append("")
    for label, runs in cost["binaries"].items():
        line = runs.get("fails_on_capacity", {}).get("stopping_line")
        if line:
            out.append(f"- {label}: `{line}`")
    return out


def runs_of(run):
    """The wall times of a case's runs (one, in results from before repetitions)."""
    return run.get("runs_wall_s") or [run["wall_s"]]


def firsts_of(run):
    """Process start to the first scale-up, in every run of a case."""
    if run.get("runs_first_scale_up_s"):
        return run["runs_first_scale_up_s"]
    return [run["until_first_scale_up_s"]] if run.get("until_first_scale_up_s") is not None else []


def first_scale_up_cell(run):
    """The median of the runs, and the slowest when there were several."""
    f = sorted(firsts_of(run))
    if not f:
        return "-"
    median = f"{f[(len(f) - 1) // 2] * 1000:.0f} ms"
    return median if len(f) == 1 else f"{median} (≤ {f[-1] * 1000:.0f})"


def render(r, notes=None):
    """`notes`: hand-written analysis (bench/analysis.md) appended under its own heading."""
    m = r["machine"]
    out = []
    out.append("# Benchmark results\n")
    out.append(f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}; "
               f"commit `{m['commit']}`, {m['date']}. One run of `bench/run.sh` "
               f"({r['total_runtime_s'] / 60:.1f} min). Kubernetes 1.20 control plane on loopback with the fake kubelet "
               f"({r['settings']['nodes']} nodes of {r['settings']['node_cpu']} CPU / {r['settings']['node_pods']} pods); "
               f"the action is the release binary. Times are wall-clock seconds.\n")
    out.append("| N | surge | ready delay | steps | lower bound | runs | ours | first scale-up | ours / (1.1 LB + 2 s) "
               "| Deployment controller | ours / Deployment | requests | CPU s | peak RSS MB "
               "| kubectl rolling-update (model) |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in r["cases"]:
        o, d = c["ours"], c["deployment"]
        out.append(
            f"| {c['replicas']} | {c['surge']} ({c['surge_pods']}) | {c['ready_delay_s']} s | {c['steps']} "
            f"| {c['lower_bound_s']:.0f} s | {len(runs_of(o))} | {o['wall_s']:.1f} s "
            f"| {first_scale_up_cell(o)} "
            f"| {o['wall_s'] / wall_target(c):.2f} "
            f"| {d['wall_s']:.1f} s | {o['wall_s'] / d['wall_s']:.3f} | {o['requests']['total']} "
            f"| {o['cpu_s']:.2f} | {o['max_rss_mb']:.1f} | {c['kubectl_model_s'] / 60:.0f} min |")
    # The optional cases, one paragraph each when the results hold them.
    cap, sev = r.get("capacity"), r.get("several")
    paragraphs = []
    if cap:
        paragraphs.append("Capacity case (one node of 1 CPU, 970m requested, 100m pods, surge 1): first FailedScheduling "
                          f"{fmt(cap['first_failed_scheduling_after_start_s'])} s after the action started "
                          f"(`{cap['first_failed_scheduling']}`); our diagnosis "
                          f"**{fmt(cap['diagnosis_after_event_s'])} s** after it (`{cap['diagnosis_line']}`); the process "
                          f"exited {fmt(cap['exit_after_event_s'])} s after it (rollback included), exit code "
                          f"{cap['exit_code']}, {cap['requests']['total']} requests, {cap['cpu_s']:.2f} CPU s, "
                          f"{cap['max_rss_mb']:.1f} MB.")
    leg = r.get("legacy")
    if leg:
        paragraphs.append("The cases above start from an RC an earlier release of the action made (`api-rc-v1`, versioned "
                          "selector). A hand-made legacy RC (no `version` label; 10 replicas, surge 1, 1 s) costs its first "
                          f"run a one-time migration: **{fmt(leg.get('legacy_migration_s'))} s** of relabelling and settling, "
                          f"first scale-up {fmt((leg.get('until_first_scale_up_s') or 0) * 1000, 0)} ms after start, "
                          f"{leg['wall_s']:.1f} s in all, {leg['requests']['total']} requests.")
    if sev:
        paragraphs.append(f"Several RCs (issue 16): an API and a worker of {sev['replicas']} replicas each, surge {sev['surge']}, "
                          f"{sev['ready_delay_s']} s ready delay, rolled in one step in **{sev['together_s']:.1f} s**; alone, "
                          f"{sev['api_alone_s']:.1f} s and {sev['worker_alone_s']:.1f} s: "
                          f"**{sev['ratio_to_slower_alone']:.2f} x** the slower one alone.")
    for paragraph in paragraphs:
        out += ["", paragraph]

    cost = r.get("cost")
    if cost:
        out += render_cost(cost)

    out.append("\n## Targets\n")
    rows = r["cases"]
    wall_ok = [c for c in rows if c["ours"]["wall_s"] <= wall_target(c)]
    dep_ok = [c for c in rows if c["ours"]["wall_s"] <= c["deployment"]["wall_s"]]
    big = [c for c in rows if c["replicas"] == 200]
    out.append("| target | met |")
    out.append("|---|---|")
    out.append(f"| wall <= 1.10 x lower bound + 2 s | {len(wall_ok)}/{len(rows)} cases |")
    slower = [f"{c['replicas']} / {c['surge']} / {c['ready_delay_s']} s: {c['ours']['wall_s'] / c['deployment']['wall_s']:.4f}"
              for c in rows if c not in dep_ok]
    out.append(f"| wall <= 1.0 x Deployment controller | {len(dep_ok)}/{len(rows)} cases"
               + (f" (over: {'; '.join(slower)})" if slower else "") + " |")
    firsts = [firsts_of(c["ours"]) for c in rows]
    if firsts and all(firsts):
        fast = [f for f in firsts if max(f) <= 0.150]
        every = sorted(x for f in firsts for x in f)
        out.append(f"| process start to first scale-up <= 150 ms (every run) | {len(fast)}/{len(rows)} cases "
                   f"(median {every[len(every) // 2] * 1000:.0f} ms, slowest {every[-1] * 1000:.0f} ms) |")
    for c in big:
        o = c["ours"]
        out.append(f"| 200 replicas, surge {c['surge']}, {c['ready_delay_s']} s: <= 1 CPU s, <= 40 MB | "
                   f"{mark(o['cpu_s'] <= 1.0 and o['max_rss_mb'] <= 40)} ({o['cpu_s']:.2f} s, {o['max_rss_mb']:.1f} MB) |")
    if cap and cap["diagnosis_after_event_s"] is not None:
        out.append(f"| diagnosis <= 15 s after the first FailedScheduling | {mark(cap['diagnosis_after_event_s'] <= 15)} "
                   f"({cap['diagnosis_after_event_s']:.1f} s) |")

    out.append("\n## Requests: steps or time?\n")
    out.append("The action's API requests (audit log, its own impersonated user) for the same rollout at both ready "
               "delays: the same steps take three times as long at 3 s.\n")
    out.append("| N | surge | steps | requests at 1 s | at 3 s | growth 1 s -> 3 s | requests per step (1 s) |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    by_key = {(c["replicas"], c["surge"], c["ready_delay_s"]): c for c in rows}
    for (n, surge, delay), c in by_key.items():
        if delay != 1:
            continue
        slow = by_key.get((n, surge, 3))
        a = c["ours"]["requests"]["total"]
        b = slow["ours"]["requests"]["total"] if slow else None
        out.append(f"| {n} | {surge} | {c['steps']} | {a} | {b if b is not None else '-'} "
                   f"| {('+' + str(b - a)) if b is not None else '-'} | {a / c['steps']:.1f} |")
    out.append("\nBy purpose (each case, `1 s / 3 s`):\n")
    keys = list(group_requests({}).keys())
    out.append("| N | surge | " + " | ".join(keys) + " |")
    out.append("|---:|---:|" + "---:|" * len(keys))
    for (n, surge, delay), c in by_key.items():
        if delay != 1:
            continue
        slow = by_key.get((n, surge, 3))
        g1 = group_requests(c["ours"]["requests"]["by_kind"])
        g3 = group_requests(slow["ours"]["requests"]["by_kind"]) if slow else {}
        out.append(f"| {n} | {surge} | " + " | ".join(f"{g1[k]} / {g3.get(k, '-')}" for k in keys) + " |")

    if all("namespace_requests" in c["ours"] for c in rows):
        out.append("\nEvery client's requests in the rollout's namespace while it ran (audit log), ours against the "
                   "Deployment controller's: `controllers` is the replication controller for ours, the deployment "
                   "and replicaset controllers for theirs; `kubelet` is the fake kubelet; `other` is garbage "
                   "collector, endpoints, quota and kubectl.\n")
        out.append("| N | surge | delay | ours: action | controllers | scheduler | kubelet | other | total "
                   "| Deployment: controllers | scheduler | kubelet | other | total |")
        out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in rows:
            cells = []
            for who in ("ours", "deployment"):
                a = dict(c[who]["namespace_requests"])
                a.pop("bench", None)
                action = a.pop("action", 0)
                ctl = sum(a.pop(k, 0) for k in ("replication-controller", "deployment-controller",
                                                "replicaset-controller"))
                sched, kubelet = a.pop("scheduler", 0), a.pop("fake-kubelet", 0)
                other = sum(a.values())
                total = action + ctl + sched + kubelet + other
                cells += ([str(action)] if who == "ours" else []) + [str(ctl), str(sched), str(kubelet), str(other),
                                                                     str(total)]
            out.append(f"| {c['replicas']} | {c['surge']} | {c['ready_delay_s']} s | " + " | ".join(cells) + " |")

    out.append("\n## Where the time goes\n")
    out.append("CPU seconds used by each process during the rollout (from /proc), and how busy that kept the "
               f"machine's {m['nproc']} CPUs (busy = CPU seconds / (wall x CPUs); `ours` counts the cluster and the action, "
               "`whole machine` every process, other engineers' builds and tests included). `setup` is our time from start "
               "to the new RC created, of which `migration` relabels a legacy RC's pods (once per RC, a "
               "Deployment has no such step).\n")
    comps = ["kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "fake-kubelet"]
    out.append("| N | surge | delay | who | wall | setup (migration) | action | " + " | ".join(comps)
               + " | busy (ours) | busy (whole machine) |")
    out.append("|---:|---:|---:|---|---:|---:|---:|" + "---:|" * len(comps) + "---:|---:|")
    for c in rows:
        for who, run in (("ours", c["ours"]), ("Deployment", c["deployment"])):
            cpu = run.get("cluster_cpu_s", {})
            action = run.get("cpu_s", 0.0) if who == "ours" else 0.0
            total = sum(v for k, v in cpu.items() if v is not None and k != "machine") + action
            machine_busy = cpu.get("machine")
            setup = (f"{fmt(run.get('until_new_rc_created_s'))} ({fmt(run.get('legacy_migration_s'))})"
                     if who == "ours" else "-")
            out.append(f"| {c['replicas']} | {c['surge']} | {c['ready_delay_s']} s | {who} | {run['wall_s']:.1f} "
                       f"| {setup} | {fmt(action, 2) if who == 'ours' else '-'} | "
                       + " | ".join(fmt(cpu.get(k), 2) for k in comps)
                       + f" | {100 * total / (run['wall_s'] * m['nproc']):.0f}% "
                       + (f"| {100 * machine_busy / (run['wall_s'] * m['nproc']):.0f}% |" if machine_busy else "| - |"))

    out.append("\n## How it was measured\n")
    out.append(
        "- **ours**: the release binary started with the action's environment (surge as given, unavailable 0), from "
        "process start to process exit; the old RC is deleted just before exit (`Update succeeded. Deleting api-rc`).\n"
        "- **lower bound**: ceil(N / surge) x ready delay; surge rounds up (25% of 10 is 3), as kubectl and the "
        "Deployment controller round it.\n"
        "- **Deployment controller**: a Deployment with the same pod template and strategy (maxSurge as given, "
        "maxUnavailable 0, minReadySeconds 0) in a fresh namespace of the same cluster, from the start of "
        "`kubectl set image` to the watch event with observedGeneration current and updatedReplicas == "
        "availableReplicas == replicas == N (so the old ReplicaSets are at 0, checked afterwards).\n"
        "- **runs**: each case runs that many times, ours and the Deployment controller in turn; `ours`, "
        "`Deployment controller` and their ratio are the median runs' walls, and requests, CPU and RSS are those of "
        "our median run; first scale-up is the median of the runs, with the slowest in brackets. Cases whose lower "
        "bound is over a minute run once (`BENCH_REPS`, `BENCH_REPS_LONG`).\n"
        "- **requests**: unique audit IDs in the API server's audit log whose impersonated user is that run's own "
        "user (the kubeconfig given to the action has `as: bench-action-<namespace>`); a watch counts once.\n"
        "- **CPU s / peak RSS**: `wait4` rusage of the action's process (user + sys; ru_maxrss).\n"
        "- **kubectl rolling-update (model, not measured)**: its loop with default flags scales the new RC up by one "
        "(surge 1 and unavailable 0 are hard-coded), sleeps `--update-period` (1 m), then scales the old one down; "
        "the ready delay is far below a minute, so N replicas take N x 1 min whatever the surge asked for.\n"
        "- Each rollout runs alone, in a fresh namespace that is deleted (and waited for) before the next one; a warm-up "
        "rollout runs first and is not recorded.")
    if not r["full_matrix"]:
        out.append("- **Not run**: 200 replicas at surge 1 (200 sequential steps: 200 s / 600 s per rollout, twice per "
                   "case, which would push one run far past 25 minutes). `BENCH_FULL=1 bench/run.sh` runs them.")
    if notes:
        out.append("\n" + notes.strip())
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    # Re-renders bench/results.md from bench/results.json and bench/analysis.md (after editing the analysis).
    import json
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results.json")
    notes_path = os.path.join(here, "analysis.md")
    notes = open(notes_path).read() if os.path.exists(notes_path) else None
    with open(os.path.join(os.path.dirname(os.path.abspath(source)), "results.md"), "w") as f:
        f.write(render(json.load(open(source)), notes))
