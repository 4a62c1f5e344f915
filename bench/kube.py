"""A tiny Kubernetes API client for the benchmark (Python standard library only).

Why not kubectl for everything: every kubectl call is a Go process start (~0.1-0.2 s of CPU) on a 2-core machine
that also runs the control plane, the fake kubelet and the process being measured. Setup and the Deployment watch go
through one keep-alive HTTPS connection instead; kubectl is used only where the issue names it (`kubectl set image`).
"""

import base64
import http.client
import json
import re
import ssl
import threading
import time
import urllib.parse


# Tells the benchmark's own requests apart in the audit log.
USER_AGENT = "rolling-update-bench"


class Kube:
    def __init__(self, kubeconfig_path):
        text = open(kubeconfig_path).read()
        self.kubeconfig_text = text
        server = re.search(r"server:\s*(\S+)", text).group(1)
        ca = base64.b64decode(re.search(r"certificate-authority-data:\s*(\S+)", text).group(1)).decode()
        self.token = re.search(r"token:\s*(\S+)", text).group(1)
        url = urllib.parse.urlparse(server)
        self.host, self.port = url.hostname, url.port
        self.ctx = ssl.create_default_context(cadata=ca)
        self.local = threading.local()

    def _conn(self, fresh=False, timeout=30):
        if fresh:
            return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
            self.local.conn = conn
        return conn

    def request(self, method, path, body=None, content_type="application/json", ok_missing=False):
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in range(3):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.2)
        if resp.status == 404 and ok_missing:
            return None
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def get(self, path, ok_missing=False):
        return self.request("GET", path, ok_missing=ok_missing)

    def create(self, path, obj):
        return self.request("POST", path, obj)

    def delete(self, path):
        return self.request("DELETE", path, ok_missing=True)

    def merge_patch(self, path, patch):
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def watch_until(self, path, resource_version, predicate, timeout):
        """Watches `path` from `resource_version`; returns (wall time of the first event whose object satisfies
        `predicate`, that object), or (None, last object seen) at `timeout`."""
        deadline = time.time() + timeout
        last = None
        rv = resource_version
        while time.time() < deadline:
            left = max(1, int(deadline - time.time()))
            sep = "&" if "?" in path else "?"
            conn = self._conn(fresh=True, timeout=left + 5)
            try:
                conn.request("GET", f"{path}{sep}watch=1&resourceVersion={rv}&timeoutSeconds={left}",
                             headers={"Authorization": f"Bearer {self.token}", "User-Agent": USER_AGENT})
                resp = conn.getresponse()
                if resp.status != 200:
                    raise RuntimeError(f"watch {path}: HTTP {resp.status}")
                while True:
                    line = resp.readline()
                    if not line:
                        break
                    seen_at = time.time()
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        break
                    obj = event["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    last = obj
                    if predicate(obj):
                        return seen_at, obj
            except (http.client.HTTPException, OSError):
                pass
            finally:
                conn.close()
        return None, last

    def wait_for(self, what, check, timeout, every=0.25):
        deadline = time.time() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.time() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(every)
