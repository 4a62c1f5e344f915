#!/usr/bin/env python3
"""The benchmark driver (started by bench/run.sh, which owns the cluster and the build; see docs/benchmark.md).

For every case of the matrix it rolls the seeds' RC with the action's release binary and the same pod template as
a Deployment with the Deployment controller, in fresh namespaces of one real control plane with the fake kubelet,
one rollout at a time. Requests are counted from the API server's audit log: each run of the action talks to the
cluster as its own impersonated user (`as:` in the kubeconfig it gets), so its requests are exactly the audit events
with that impersonatedUser, whatever the controllers and the fake kubelet do at the same time.
"""

import glob
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kube import Kube  # noqa: E402
import report  # noqa: E402

READY_DELAY_ANNOTATION = "fake-kubelet.rolling-update.github.io/ready-delay-ms"
OLD_IMAGE = "registry.local/node-api:1.0"
NEW_IMAGE = "registry.local/node-api:2.0"
SHA = "0123456789abcdef0123456789abcdef01234567"
# kubectl rolling-update's defaults (update period 1m; surge 1 / unavailable 0 hard-coded).
KUBECTL_UPDATE_PERIOD_S = 60.0
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "fake-kubelet")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def surge_count(surge, n):
    """Surge rounds up, as kubectl's ResolveFenceposts and the Deployment controller do."""
    if surge.endswith("%"):
        return max(1, math.ceil(int(surge[:-1]) * n / 100))
    return int(surge)


def pod_template(delay_ms, cpu, extra_spec=None, label="api-pods", version=None):
    spec = {
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {"name": "node-api-container", "image": OLD_IMAGE, "ports": [{"containerPort": 3000}],
             "resources": {"requests": {"cpu": cpu}}},
            {"name": "fluentd", "image": "registry.local/fluentd:v1.16"},
        ],
    }
    spec.update(extra_spec or {})
    labels = {"name": label, **({"version": version} if version else {})}
    return {"metadata": {"labels": labels,
                         "annotations": {READY_DELAY_ANNOTATION: str(delay_ms)}},
            "spec": spec}


def service():
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api-srv"},
            "spec": {"selector": {"name": "api-pods"}, "ports": [{"port": 80, "targetPort": 3000}]}}


class Bench:
    def __init__(self, kubeconfig, action_bin, state_dir, pod_cpu):
        self.kube = Kube(kubeconfig)
        self.kubeconfig = kubeconfig
        self.action_bin = action_bin
        self.state_dir = state_dir
        self.pod_cpu = pod_cpu
        self.seq = 0

    # ----- where the CPU goes -----

    def component_cpu(self):
        """CPU seconds (user + sys) used so far by each component of the cluster, from its pid file."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for name in COMPONENTS:
            try:
                pid = open(os.path.join(self.state_dir, f"{name}.pid")).read().strip()
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                out[name] = (int(fields[11]) + int(fields[12])) / tick
            except (OSError, ValueError, IndexError):
                out[name] = None

        out["machine"] = machine_cpu()
        return out

    def cpu_since(self, before):
        """CPU seconds since `before`, per component, and `machine`: all processes of the machine (other
        engineers' builds and tests share it)."""
        after = self.component_cpu()
        return {k: round(after[k] - before[k], 2) for k in after if after[k] is not None and before.get(k) is not None}

    # ----- namespaces -----

    def new_namespace(self, label):
        self.seq += 1
        name = f"bench-{os.getpid() % 10000}-{self.seq}-{label}"[:63].rstrip("-")
        self.kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
        # The namespace's default service account is not needed (ServiceAccount admission is off).
        return name

    def delete_namespace(self, ns, wait=True):
        self.kube.delete(f"/api/v1/namespaces/{ns}")
        if wait:
            # Gone before the next measurement: its pods' deletion must not load the cluster during the next one.
            self.kube.wait_for(f"namespace {ns} to be deleted",
                               lambda: self.kube.get(f"/api/v1/namespaces/{ns}", ok_missing=True) is None, 300, 0.5)

    # ----- our rollout -----

    def seed_rc(self, ns, n, delay_ms, cpu, extra_spec=None, name="api-rc", label="api-pods", versioned=False):
        """`versioned`: the RC as an earlier release by the action left it (`api-rc-v1`, a `version` label in its
        selector, the base annotation), so the run measures a release's steady state. Otherwise a hand-made
        legacy RC, which the first run migrates (relabels its pods) once."""
        selector = {"name": label}
        meta = {"name": name}
        if versioned:
            selector["version"] = "v1"
            meta = {"name": f"{name}-v1", "annotations": {"rolling-update.github.io/base": name}}
        rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta,
              "spec": {"replicas": n, "selector": selector,
                       "template": pod_template(delay_ms, cpu, extra_spec, label, selector.get("version"))}}
        self.kube.create(f"/api/v1/namespaces/{ns}/replicationcontrollers", rc)
        if label == "api-pods":
            self.kube.create(f"/api/v1/namespaces/{ns}/services", service())
        name = meta["name"]

        def ready():
            s = self.kube.get(f"/api/v1/namespaces/{ns}/replicationcontrollers/{name}").get("status", {})
            return s.get("availableReplicas", 0) == n and s.get("replicas", 0) == n
        self.kube.wait_for(f"{n} ready pods of {name} in {ns}", ready, 120 + n)

    def several(self, n=10, delay=1, surge="1"):
        """Issue 16: an API and a worker of `n` replicas each, rolled in one step, against each rolled alone."""
        out = {"replicas": n, "ready_delay_s": delay, "surge": surge}
        runs = {"together": ["api-rc", "worker-rc"], "api_alone": ["api-rc"], "worker_alone": ["worker-rc"]}
        for key, rcs in runs.items():
            ns = self.new_namespace(f"several-{key.replace('_', '-')}")
            try:
                for rc in rcs:
                    self.seed_rc(ns, n, int(delay * 1000), self.pod_cpu, name=rc,
                                 label="api-pods" if rc == "api-rc" else "worker-pods")
                run = self.run_action(ns, f"bench-action-{ns}", surge, {"INPUT_RC": "\n".join(rcs)})
                if run["exit_code"] != 0:
                    out_text = "\n".join(line for _, line in run["lines"])
                    raise RuntimeError(f"the action failed (exit {run['exit_code']}) in {ns}:\n{out_text}")
                out[f"{key}_s"] = run["wall_s"]
            finally:
                self.delete_namespace(ns)
        out["ratio_to_slower_alone"] = out["together_s"] / max(out["api_alone_s"], out["worker_alone_s"])
        return out

    def action_kubeconfig(self, user, server=None):
        """The cluster's kubeconfig, acting as `user` (in group system:masters) so the audit log names our run;
        `server`: a plain-HTTP proxy to talk through instead (see meter.py)."""
        lines = []
        for line in self.kube.kubeconfig_text.splitlines():
            if server and line.strip().startswith("server:"):
                line = line[: len(line) - len(line.lstrip())] + f"server: {server}"
            elif server and line.strip().startswith("certificate-authority-data:"):
                continue
            lines.append(line)
            if line.strip().startswith("token:"):
                indent = line[: len(line) - len(line.lstrip())]
                lines += [f"{indent}as: {user}", f"{indent}as-groups:", f"{indent}- system:masters"]
        return "\n".join(lines) + "\n"

    def run_action(self, ns, user, surge, extra_env=None, action_bin=None):
        env = {
            "PATH": os.environ["PATH"],
            "INPUT_KUBECONFIG": self.action_kubeconfig(user),
            "INPUT_NAMESPACE": ns, "INPUT_RC": "api-rc",
            "INPUT_IMAGES": f"node-api-container={NEW_IMAGE}", "INPUT_VERSION": "v2",
            "INPUT_MAX_SURGE": surge, "INPUT_MAX_UNAVAILABLE": "0", "INPUT_TIMEOUT": "30m",
            "GITHUB_SHA": SHA, "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "workflow_dispatch",
        }
        env.update(extra_env or {})
        lines = []
        start = time.time()
        proc = subprocess.Popen([action_bin or self.action_bin], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, bufsize=1)

        def read():
            for line in proc.stdout:
                lines.append((time.time(), line.rstrip("\n")))
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        _, status, usage = os.wait4(proc.pid, 0)
        end = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join(10)
        return {
            "start": start, "end": end, "wall_s": end - start, "exit_code": proc.returncode,
            "cpu_s": usage.ru_utime + usage.ru_stime, "cpu_user_s": usage.ru_utime, "cpu_sys_s": usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss / 1024.0, "lines": lines,
        }

    def ours(self, case):
        n, surge, delay = case["replicas"], case["surge"], case["ready_delay_s"]
        legacy = case.get("legacy", False)
        ns = self.new_namespace(f"rc-{n}-{surge.replace('%', 'pc')}-{delay}s" + ("-legacy" if legacy else ""))
        try:
            self.seed_rc(ns, n, int(delay * 1000), self.pod_cpu, versioned=not legacy)
            user = f"bench-action-{ns}"
            cpu_before = self.component_cpu()
            run = self.run_action(ns, user, surge)
            cluster_cpu = self.cpu_since(cpu_before)
            out = "\n".join(line for _, line in run["lines"])
            if run["exit_code"] != 0:
                raise RuntimeError(f"the action failed (exit {run['exit_code']}) in {ns}:\n{out}")
            rcs = self.kube.get(f"/api/v1/namespaces/{ns}/replicationcontrollers")["items"]
            names = sorted(rc["metadata"]["name"] for rc in rcs)
            if "api-rc" in names or len(names) != 1:
                raise RuntimeError(f"unexpected RCs after the rollout in {ns}: {names}\n{out}")
            # The action counts available pods from its own pod watch; the RC's status is written by the
            # controller a moment later, so give it time before cross-checking.
            def all_available():
                rc = self.kube.get(f"/api/v1/namespaces/{ns}/replicationcontrollers/{names[0]}")
                return rc.get("status", {}).get("availableReplicas", 0) == n
            self.kube.wait_for(f"{names[0]} to report {n} available", all_available, 30)
            succeeded = [t for t, line in run["lines"] if "Update succeeded. Deleting" in line]
            migrating = [t for t, line in run["lines"] if "Adding version=" in line]
            created = [t for t, line in run["lines"] if "] Created api-rc-" in line]
            # The engine prints a scale step right after its request returns: the first one is the time from
            # process start to the first scale-up the user waits for.
            scaled = [t for t, line in run["lines"] if " up to " in line and "] Scaling api-rc-" in line]
            return {
                "cluster_cpu_s": cluster_cpu,
                "legacy_migration_s": (created[0] - migrating[0]) if migrating and created else None,
                "until_new_rc_created_s": (created[0] - run["start"]) if created else None,
                "until_first_scale_up_s": (scaled[0] - run["start"]) if scaled else None,
                "namespace": ns, "user": user, "wall_s": run["wall_s"],
                "until_update_succeeded_s": (succeeded[0] - run["start"]) if succeeded else None,
                "cpu_s": run["cpu_s"], "cpu_user_s": run["cpu_user_s"], "cpu_sys_s": run["cpu_sys_s"],
                "max_rss_mb": run["max_rss_mb"], "start": run["start"], "end": run["end"],
                "log": [f"{t - run['start']:7.2f}s {line}" for t, line in run["lines"]],
            }
        finally:
            self.delete_namespace(ns)

    # ----- the Deployment controller -----

    def deployment(self, case):
        n, surge, delay = case["replicas"], case["surge"], case["ready_delay_s"]
        ns = self.new_namespace(f"deploy-{n}-{surge.replace('%', 'pc')}-{delay}s")
        try:
            surge_value = surge if surge.endswith("%") else int(surge)
            dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
                   "spec": {"replicas": n, "selector": {"matchLabels": {"name": "api-pods"}},
                            "strategy": {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxSurge": surge_value, "maxUnavailable": 0}},
                            "minReadySeconds": 0, "template": pod_template(int(delay * 1000), self.pod_cpu)}}
            path = f"/apis/apps/v1/namespaces/{ns}/deployments"
            self.kube.create(path, dep)
            self.kube.create(f"/api/v1/namespaces/{ns}/services", service())

            def available():
                d = self.kube.get(f"{path}/api")
                s = d.get("status", {})
                done = (s.get("observedGeneration", 0) >= d["metadata"]["generation"]
                        and s.get("availableReplicas", 0) == n and s.get("updatedReplicas", 0) == n
                        and s.get("replicas", 0) == n)
                return d if done else None
            before = self.kube.wait_for(f"{n} available pods of deployment api in {ns}", available, 120 + n)
            generation = before["metadata"]["generation"] + 1

            def finished(d):
                s = d.get("status", {})
                return (d["metadata"]["generation"] >= generation and s.get("observedGeneration", 0) >= generation
                        and s.get("updatedReplicas", 0) == n and s.get("availableReplicas", 0) == n
                        and s.get("replicas", 0) == n)
            seen = {}
            watcher = threading.Thread(daemon=True, target=lambda: seen.update(zip(
                ("at", "obj"), self.kube.watch_until(f"{path}?fieldSelector=metadata.name%3Dapi",
                                                     before["metadata"]["resourceVersion"], finished, 1800))))
            watcher.start()
            time.sleep(0.3)  # the watch is open before the change
            cpu_before = self.component_cpu()
            start = time.time()
            subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "-n", ns, "set", "image", "deployment/api",
                            f"node-api-container={NEW_IMAGE}"], check=True, stdout=subprocess.DEVNULL)
            watcher.join()
            cluster_cpu = self.cpu_since(cpu_before)
            if not seen.get("at"):
                raise RuntimeError(f"the Deployment in {ns} did not finish: {json.dumps(seen.get('obj', {}).get('status'))}")
            # Old ReplicaSets at 0, as the issue asks (implied by replicas == updatedReplicas == N; checked anyway).
            rss = self.kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets")["items"]
            old = [rs for rs in rss if rs["spec"]["template"]["spec"]["containers"][0]["image"] == OLD_IMAGE]
            if any(rs["spec"].get("replicas", 0) != 0 for rs in old):
                raise RuntimeError(f"old ReplicaSet not at 0 in {ns}")
            return {"namespace": ns, "wall_s": seen["at"] - start, "start": start, "cluster_cpu_s": cluster_cpu}
        finally:
            self.delete_namespace(ns)

    # ----- the capacity case -----

    def dedicated_node(self, node, owner):
        """A fake-kubelet node of 1 CPU, tainted for `owner`'s pods only; returns the pod placement that reaches it."""
        taint_key = "rolling-update.bench/dedicated"
        self.kube.create("/api/v1/nodes", {"metadata": {"name": node, "labels": {
            "rolling-update.test/fake": "true", taint_key: owner, "kubernetes.io/hostname": node,
            "kubernetes.io/os": "linux"}},
            "spec": {"taints": [{"key": taint_key, "value": owner, "effect": "NoSchedule"}]}})
        res = {"cpu": "1", "memory": "4Gi", "pods": "110"}
        self.kube.request("PATCH", f"/api/v1/nodes/{node}/status", {"status": {
            "capacity": res, "allocatable": res,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}]}},
            content_type="application/merge-patch+json")

        def usable():
            taints = self.kube.get(f"/api/v1/nodes/{node}").get("spec", {}).get("taints", [])
            return not any(t["key"].startswith("node.kubernetes.io/") for t in taints)
        self.kube.wait_for(f"the fake kubelet to take node {node}", usable, 30)
        return {"nodeSelector": {taint_key: owner},
                "tolerations": [{"key": taint_key, "operator": "Equal", "value": owner, "effect": "NoSchedule"}]}

    def capacity(self):
        """One node of 1 CPU with 970m requested (a 670m pod of another workload + 3 x 100m api pods), surge 1:
        the surge pod cannot be scheduled. Seconds from the scheduler's first FailedScheduling event to our
        `Stopping early: ...` line."""
        ns = self.new_namespace("capacity")
        node = f"{ns}-node"
        try:
            placement = self.dedicated_node(node, ns)
            other = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other-workload", "labels": {"app": "other"}},
                     "spec": {"containers": [{"name": "main", "image": "registry.local/other:1",
                                              "resources": {"requests": {"cpu": "670m"}}}], **placement}}
            self.kube.create(f"/api/v1/namespaces/{ns}/pods", other)
            self.seed_rc(ns, 3, 1000, "100m", placement)
            user = f"bench-action-{ns}"
            run = self.run_action(ns, user, "1", {"INPUT_PROGRESS_DEADLINE": "5m"})
            events = self.kube.get(f"/api/v1/namespaces/{ns}/events")["items"]
            failed = [e for e in events if e.get("reason") == "FailedScheduling"]
            if not failed:
                raise RuntimeError(f"no FailedScheduling event in {ns}")

            def when(e):
                stamp = e.get("eventTime") or e.get("firstTimestamp") or e["metadata"]["creationTimestamp"]
                return parse_time(stamp)
            first = min(failed, key=when)
            first_at = when(first)
            stop = [(t, line) for t, line in run["lines"] if "Stopping early" in line]
            diag = stop[0] if stop else None
            return {
                "namespace": ns, "user": user, "exit_code": run["exit_code"],
                "first_failed_scheduling": first.get("message"),
                "first_failed_scheduling_after_start_s": first_at - run["start"],
                "diagnosis_line": diag[1].split("] ", 1)[-1] if diag else None,
                "diagnosis_after_event_s": (diag[0] - first_at) if diag else None,
                "exit_after_event_s": run["end"] - first_at,
                "wall_s": run["wall_s"], "cpu_s": run["cpu_s"], "max_rss_mb": run["max_rss_mb"],
                "log": [f"{t - run['start']:7.2f}s {line}" for t, line in run["lines"]],
            }
        finally:
            self.delete_namespace(ns)
            self.kube.delete(f"/api/v1/nodes/{node}")

    # ----- the cost case (issue 13) -----

    def ghost_node(self, name, pods):
        """A Node object no kubelet serves (no fake label): pods bound to it by spec.nodeName are never run, so
        thousands of them load neither the scheduler nor the fake kubelet, yet they hold room on a node."""
        self.kube.create("/api/v1/nodes", {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
        res = {"cpu": "1000", "memory": "4000Gi", "pods": str(pods)}
        self.kube.request("PATCH", f"/api/v1/nodes/{name}/status", {"status": {"capacity": res, "allocatable": res}},
                          content_type="application/merge-patch+json")

    def fill(self, namespaces, per_namespace, node, threads=8):
        """per_namespace pods in each namespace, bound to `node`, 10m CPU each; created by `threads` connections."""
        def pod(i):
            return {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"filler-{i}", "labels": {"app": "filler", "tier": "batch"}},
                    # Bound by hand (no scheduler), tolerating everything: the node never reports Ready, and no
                    # taint manager may evict them. Grace 0: no kubelet will confirm a deletion.
                    "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                             "tolerations": [{"operator": "Exists"}],
                             "containers": [{"name": "main", "image": "registry.local/filler:1",
                                             "env": [{"name": "MODE", "value": "worker"}],
                                             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}
        work = [(ns, i) for ns in namespaces for i in range(per_namespace)]
        errors = []

        def run(part):
            try:
                for ns, i in part:
                    self.kube.create(f"/api/v1/namespaces/{ns}/pods", pod(i))
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)
        workers = [threading.Thread(target=run, args=(work[k::threads],)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if errors:
            raise errors[0]

    def cost(self, binaries, pods=10000, namespaces=10):
        """Issue 13: requests and bytes per diagnosis and per rollout with `pods` pods in other namespaces. For each
        binary ({label: path}): a rollout that fails on capacity (diagnosed every 2 s until it stops early, then
        rolled back) and one that succeeds (surge 0), each through a counting proxy (meter.py)."""
        from meter import Meter, summarize
        out = {"pods": pods, "namespaces": namespaces, "binaries": {}}
        ghost = "bench-cost-ghost"
        fill_ns = [self.new_namespace(f"cost-fill-{k}") for k in range(namespaces)]
        meter = Meter(self.kube.host, self.kube.port, self.kube.ctx)
        try:
            self.ghost_node(ghost, pods + 10)
            began = time.time()
            self.fill(fill_ns, pods // namespaces, ghost)
            out["fill_s"] = time.time() - began
            # What a full list of them weighs (one page of 500, as the apiserver encodes it).
            page = self.kube.request("GET", "/api/v1/pods?limit=500")
            out["bytes_per_pod_listed"] = len(json.dumps(page, separators=(",", ":"))) / max(1, len(page["items"]))
            log(f"  {pods} pods in {namespaces} namespaces in {out['fill_s']:.0f}s")
            for label, binary in binaries.items():
                out["binaries"][label] = self.cost_runs(label, binary, meter, summarize)
        finally:
            meter.stop()
            for ns in fill_ns:
                self.delete_namespace(ns, wait=False)
            self.kube.delete(f"/api/v1/nodes/{ghost}")
        return out

    def cost_runs(self, label, binary, meter, summarize):
        ns = self.new_namespace(f"cost-{label}")
        other = self.new_namespace(f"cost-{label}-other")
        node = f"{ns}-node"
        try:
            placement = self.dedicated_node(node, ns)
            # Another team's workload on the same node, in its own namespace: only a cluster-wide read sees it.
            other_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other-workload"},
                         "spec": {"terminationGracePeriodSeconds": 1,
                                  "containers": [{"name": "main", "image": "registry.local/other:1",
                                                  "resources": {"requests": {"cpu": "670m"}}}], **placement}}
            self.kube.create(f"/api/v1/namespaces/{other}/pods", other_pod)
            self.seed_rc(ns, 3, 1000, "100m", placement)
            runs = {}
            for key, surge, unavailable in (("fails_on_capacity", "1", "0"), ("succeeds", "0", "1")):
                meter.reset()
                user = f"bench-action-{ns}-{key}"
                env = {"INPUT_KUBECONFIG": self.action_kubeconfig(user, server=meter.url),
                       "INPUT_PROGRESS_DEADLINE": "5m", "INPUT_MAX_UNAVAILABLE": unavailable}
                run = self.run_action(ns, user, surge, env, action_bin=binary)
                time.sleep(1)  # the last watch chunks counted
                summary = summarize(meter.snapshot(), ns)
                lines = [line for _, line in run["lines"]]
                stop = next((line.split("] ", 1)[-1] for line in lines if "Stopping early" in line), None)
                runs[key] = {"exit_code": run["exit_code"], "wall_s": run["wall_s"], "cpu_s": run["cpu_s"],
                             "max_rss_mb": run["max_rss_mb"], "stopping_line": stop, **summary,
                             "log": [f"{t - run['start']:7.2f}s {line}" for t, line in run["lines"]]}
                want = 1 if key == "fails_on_capacity" else 0
                if run["exit_code"] != want:
                    raise RuntimeError(f"{label} {key}: exit {run['exit_code']}, expected {want}:\n" + "\n".join(lines))
                log(f"  {label} {key}: {summary['requests']} requests, {summary['bytes'] / 1e6:.1f} MB, "
                    f"{summary['snapshots']} snapshots, {run['wall_s']:.1f}s")
            return runs
        finally:
            self.delete_namespace(ns)
            self.delete_namespace(other)
            self.kube.delete(f"/api/v1/nodes/{node}")


def machine_cpu():
    """Busy CPU seconds of the whole machine so far (all CPUs), from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def parse_time(stamp):
    """RFC 3339 with optional fraction (MicroTime) -> epoch seconds."""
    from datetime import datetime, timezone
    stamp = stamp.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in stamp else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(stamp, fmt).replace(tzinfo=timezone.utc).timestamp()


def audit_lines(audit_log):
    """Every line of the audit log, its rotated parts (`audit-<time>.log`, oldest first) included: a rotation
    once left the earlier cases of a long run with no requests counted."""
    base, ext = os.path.splitext(audit_log)
    for path in sorted(glob.glob(f"{base}-*{ext}")) + [audit_log]:
        with open(path) as f:
            yield from f


def count_requests(audit_log, users):
    """Per impersonated user: requests (unique audit IDs) and their breakdown by verb and resource."""
    ids = {u: set() for u in users}
    kinds = {u: Counter() for u in users}
    for line in audit_lines(audit_log):
        if '"impersonatedUser"' not in line:
            continue
        e = json.loads(line)
        user = e.get("impersonatedUser", {}).get("username")
        if user not in ids or e["auditID"] in ids[user]:
            continue
        ids[user].add(e["auditID"])
        ref = e.get("objectRef", {})
        res = ref.get("resource", "?") + ("/" + ref["subresource"] if ref.get("subresource") else "")
        kinds[user][f"{e['verb']} {res}"] += 1
    return {u: {"total": len(ids[u]), "by_kind": dict(sorted(kinds[u].items()))} for u in users}


def agent(event):
    """Who made an audited request: the action (impersonated), a controller, the scheduler, kubectl, the fake kubelet."""
    ua = event.get("userAgent", "")
    if event.get("impersonatedUser"):
        return "action"
    if ua.startswith("kube-controller-manager/"):
        return ua.rsplit("/", 1)[-1]
    if ua.startswith("kube-scheduler/"):
        return "scheduler"
    if ua.startswith("kubectl"):
        return "kubectl"
    if ua.startswith("rolling-update-bench"):
        return "bench"
    if ua == "":
        return "fake-kubelet"  # the other client without a User-Agent (kube-rs sets none)
    return ua.split("/", 1)[0]


def count_namespace_requests(audit_log, windows):
    """Every client's requests in each rollout's namespace while it ran: windows = {key: (namespace, start, end)}."""
    from datetime import datetime
    by_ns = {}
    for key, (ns, start, end) in windows.items():
        by_ns.setdefault(ns, []).append((key, start, end))
    seen = set()
    counts = {key: Counter() for key in windows}
    for line in audit_lines(audit_log):
        e = json.loads(line)
        ns = e.get("objectRef", {}).get("namespace")
        if ns not in by_ns or e["auditID"] in seen:
            continue
        seen.add(e["auditID"])
        at = datetime.fromisoformat(e["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        for key, start, end in by_ns[ns]:
            if start <= at <= end:
                counts[key][agent(e)] += 1
    return {key: dict(c.most_common()) for key, c in counts.items()}


def machine():
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu_model": cpu_model, "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "loadavg_at_start": open("/proc/loadavg").read().split()[:3], "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def matrix(full):
    cases = []
    for delay in (1, 3):
        for n in (3, 10, 50, 200):
            for surge in ("1", "25%"):
                # 200 replicas at surge 1 is 200 sequential steps (200 s / 600 s per rollout, twice): only with
                # BENCH_FULL=1, to keep one run under ~25 minutes.
                if n == 200 and surge == "1" and not full:
                    continue
                cases.append({"replicas": n, "surge": surge, "ready_delay_s": delay})
    only = os.environ.get("BENCH_ONLY")  # e.g. "10:25%:1,3:1:3" for quick experiments
    if only:
        wanted = {tuple(c.split(":")) for c in only.split(",")}
        cases = [c for c in cases if (str(c["replicas"]), c["surge"], str(c["ready_delay_s"])) in wanted]
    return cases


def median_run(runs):
    """The run with the median wall time (the lower middle one of an even count): its own numbers stay together."""
    return sorted(runs, key=lambda run: run["wall_s"])[(len(runs) - 1) // 2]


def read_notes():
    """The hand-written analysis of the last run, kept beside the generated table (bench/analysis.md)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    return open(path).read() if os.path.exists(path) else None


def main():
    kubeconfig, action_bin, state_dir, out_dir = sys.argv[1:5]
    full = os.environ.get("BENCH_FULL") == "1"
    bench = Bench(kubeconfig, action_bin, state_dir, os.environ.get("BENCH_POD_CPU", "10m"))
    began = time.time()
    results = {"machine": machine(), "full_matrix": full, "cases": [], "capacity": None,
               "settings": {"pod_cpu_request": bench.pod_cpu, "nodes": os.environ.get("NODES"),
                            "node_cpu": os.environ.get("NODE_CPU"), "node_pods": os.environ.get("NODE_PODS"),
                            "kubectl_update_period_s": KUBECTL_UPDATE_PERIOD_S}}

    reps_short = int(os.environ.get("BENCH_REPS", "5"))
    reps_long = int(os.environ.get("BENCH_REPS_LONG", "1"))
    results["settings"]["reps"] = {"short": reps_short, "long": reps_long}
    log("warm-up rollout (not recorded)")
    bench.ours({"replicas": 3, "surge": "1", "ready_delay_s": 1})

    for case in matrix(full):
        n, surge, delay = case["replicas"], case["surge"], case["ready_delay_s"]
        s = surge_count(surge, n)
        steps = math.ceil(n / s)
        case.update({"surge_pods": s, "steps": steps, "lower_bound_s": steps * delay,
                     # kubectl rolling-update: surge 1 hard-coded, one full update period per pod (ready delay < 1m).
                     "kubectl_model_s": n * max(KUBECTL_UPDATE_PERIOD_S, delay)})
        # Run-to-run noise on this machine is a few percent, the size of the difference being measured: each case
        # runs `reps` times, ours and the Deployment controller in turn, and the table compares medians. The long
        # sequential cases (lower bound over a minute) run once: their noise is a small part of them.
        reps = reps_short if case["lower_bound_s"] <= 60 else reps_long
        ours_runs, deployment_runs = [], []
        for rep in range(reps):
            log(f"N={n} surge={surge} ({s}) delay={delay}s, run {rep + 1}/{reps}: ours")
            ours_runs.append(bench.ours(case))
            log(f"  ours {ours_runs[-1]['wall_s']:.2f}s; deployment controller")
            deployment_runs.append(bench.deployment(case))
            log(f"  deployment {deployment_runs[-1]['wall_s']:.2f}s (lower bound {case['lower_bound_s']}s)")
        case["ours"], case["deployment"] = median_run(ours_runs), median_run(deployment_runs)
        case["ours"]["runs_wall_s"] = [run["wall_s"] for run in ours_runs]
        case["deployment"]["runs_wall_s"] = [run["wall_s"] for run in deployment_runs]
        firsts = [run["until_first_scale_up_s"] for run in ours_runs if run["until_first_scale_up_s"] is not None]
        case["ours"]["runs_first_scale_up_s"] = firsts
        results["cases"].append(case)

    if os.environ.get("BENCH_SKIP_LEGACY") != "1":
        # Every case above starts from an RC an earlier release of the action made. A hand-made legacy RC costs its
        # first run a one-time migration (relabel each pod, patch the selector, let the controller settle).
        log("legacy RC (first run: migration), N=10 surge=1 delay=1s")
        results["legacy"] = bench.ours({"replicas": 10, "surge": "1", "ready_delay_s": 1, "legacy": True})
        log(f"  ours {results['legacy']['wall_s']:.2f}s, migration {results['legacy']['legacy_migration_s']}s")

    if os.environ.get("BENCH_SKIP_SEVERAL") != "1":
        log("several RCs: an API and a worker of 10 replicas in one step, and each alone")
        results["several"] = bench.several()
        log(f"  together {results['several']['together_s']:.2f}s, "
            f"ratio to the slower alone {results['several']['ratio_to_slower_alone']:.2f}")

    if os.environ.get("BENCH_SKIP_CAPACITY") != "1":
        log("capacity case")
        results["capacity"] = bench.capacity()
        log(f"  diagnosis {results['capacity']['diagnosis_after_event_s']}s after the first FailedScheduling")

    only = os.environ.get("BENCH_ONLY")
    if os.environ.get("BENCH_SKIP_COST") != "1" and (not only or "cost" in only.split(",")):
        # Issue 13. BENCH_BASELINE_BIN: an older build to measure beside this one, against the same 10,000 pods.
        binaries = {"this": bench.action_bin}
        if os.environ.get("BENCH_BASELINE_BIN"):
            binaries = {"baseline": os.environ["BENCH_BASELINE_BIN"], **binaries}
        pods = int(os.environ.get("BENCH_COST_PODS", "10000"))
        log(f"cost case: {pods} pods in other namespaces; {', '.join(binaries)}")
        results["cost"] = bench.cost(binaries, pods)
        results["cost"]["baseline_commit"] = os.environ.get("BENCH_BASELINE_COMMIT")
        results["cost"]["commit"] = results["machine"]["commit"]
        results["cost"]["date"] = results["machine"]["date"]

    # Let the audit log's batch flush, then attribute requests to each run.
    time.sleep(3)
    users = [c["ours"]["user"] for c in results["cases"]]
    if results["capacity"]:
        users.append(results["capacity"]["user"])
    if results.get("legacy"):
        users.append(results["legacy"]["user"])
    counts = count_requests(os.path.join(state_dir, "audit.log"), users)
    for c in results["cases"]:
        c["ours"]["requests"] = counts[c["ours"]["user"]]
    if results["capacity"]:
        results["capacity"]["requests"] = counts[results["capacity"]["user"]]
    if results.get("legacy"):
        results["legacy"]["requests"] = counts[results["legacy"]["user"]]
    windows = {}
    for i, c in enumerate(results["cases"]):
        for who in ("ours", "deployment"):
            run = c[who]
            windows[(i, who)] = (run["namespace"], run["start"], run["start"] + run["wall_s"])
    in_ns = count_namespace_requests(os.path.join(state_dir, "audit.log"), windows)
    for (i, who), agents in in_ns.items():
        results["cases"][i][who]["namespace_requests"] = agents
    results["total_runtime_s"] = time.time() - began

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(report.render(results, read_notes()))
    log(f"done in {results['total_runtime_s']:.0f}s: {out_dir}/results.md, {out_dir}/results.json")


if __name__ == "__main__":
    main()
