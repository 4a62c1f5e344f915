"""A counting proxy: what one run of the action asks of the API server, request by request, with response bytes.

Why a proxy: the audit log counts requests (bench.py does, per impersonated user) but not the size of the answers,
and a list of every pod of a big cluster is one request of tens of megabytes. The action's kubeconfig points at
this proxy (plain HTTP on loopback, same token and `as:` impersonation); the proxy forwards every request over TLS
to the API server and counts the bytes of each response body as it streams through (watch streams included, as
their events arrive). The action asks for no compression (kube-rs without its `gzip` feature), so those are the
bytes the API server encoded and the action decoded.
"""

import http.client
import http.server
import threading
import time

# Hop-by-hop headers, not forwarded (the proxy frames its own responses).
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection", "upgrade"}


class Meter:
    def __init__(self, host, port, ssl_context):
        self.host, self.port, self.ctx = host, port, ssl_context
        self.lock = threading.Lock()
        self.requests = []  # dicts: method, path, status, bytes, at (bytes grow while a watch streams)
        meter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                meter.forward(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self):
        """The requests so far (copies: open watches keep counting)."""
        with self.lock:
            return [dict(r) for r in self.requests]

    def reset(self):
        with self.lock:
            self.requests = []

    def forward(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP}
        entry = {"method": h.command, "path": h.path, "status": None, "bytes": 0, "at": time.time()}
        with self.lock:
            self.requests.append(entry)
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=None)
        try:
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            entry["status"] = resp.status
            h.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    h.send_header(k, v)
            if h.command == "HEAD" or resp.status in (204, 304):
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                with self.lock:
                    entry["bytes"] += len(chunk)
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (OSError, http.client.HTTPException):
            # The action went away (its watches are cut when it exits): what was counted stands.
            h.close_connection = True
        finally:
            conn.close()


def category(method, path, namespace):
    """Why the action made a request, from its path: the buckets the cost case reports."""
    base, _, query = path.partition("?")
    watch = "watch=true" in query or "watch=1" in query
    if base in ("/api/v1/pods", "/api/v1/nodes"):
        return ("watch " if watch else "list ") + ("cluster pods" if base.endswith("pods") else "nodes")
    ns = f"/api/v1/namespaces/{namespace}/"
    if method == "GET" and base in (ns + "events", ns + "resourcequotas"):
        return "list events, quotas"
    if method == "GET" and base == ns + "pods":
        return "watch namespace pods" if watch else "list namespace pods"
    if method == "GET" and base.startswith(ns + "pods/") and base.endswith("/log"):
        return "pod logs"
    if base.startswith("/api/v1/namespaces/kube-system/configmaps"):
        return "autoscaler status"
    if "/leases" in base:
        return "lease"
    if "/replicationcontrollers" in base:
        return "replicationcontrollers"
    return "other"


# The reads a snapshot for a diagnosis (or the pre-flight check) makes: what "per diagnosis" divides.
SNAPSHOT = ("list cluster pods", "watch cluster pods", "list nodes", "watch nodes", "list events, quotas",
            "list namespace pods", "pod logs", "autoscaler status")


def summarize(requests, namespace):
    """Requests and bytes per category, and the number of snapshots taken (one events list each)."""
    by = {}
    for r in requests:
        c = category(r["method"], r["path"], namespace)
        b = by.setdefault(c, {"requests": 0, "bytes": 0})
        b["requests"] += 1
        b["bytes"] += r["bytes"]
    snapshots = sum(1 for r in requests
                    if r["method"] == "GET" and r["path"].split("?")[0] == f"/api/v1/namespaces/{namespace}/events")
    snap = [by[c] for c in SNAPSHOT if c in by]
    pod_pages = [r for r in requests if category(r["method"], r["path"], namespace) == "list cluster pods"]

    def first_list(kind):
        """The requests and bytes of the first full list of `kind` (its first page and the pages that follow it)."""
        pages = [r for r in requests if category(r["method"], r["path"], namespace) == kind]
        first = []
        for r in pages:
            if first and "continue=" not in r["path"]:
                break
            first.append(r)
        return len(first), sum(r["bytes"] for r in first)
    once = [first_list("list cluster pods"), first_list("list nodes")]
    return {
        "requests": len(requests),
        "bytes": sum(r["bytes"] for r in requests),
        "snapshots": snapshots,
        "snapshot_requests": sum(b["requests"] for b in snap),
        "snapshot_bytes": sum(b["bytes"] for b in snap),
        # A full list of the cluster's pods is one first page (no `continue` token) and the pages after it.
        "cluster_pod_lists": sum(1 for r in pod_pages if "continue=" not in r["path"]),
        "cluster_pod_pages": len(pod_pages),
        # What the snapshots cost beyond one list of the cluster's pods and nodes (the least any build must read).
        "beyond_one_list_requests": sum(b["requests"] for b in snap) - sum(n for n, _ in once),
        "beyond_one_list_bytes": sum(b["bytes"] for b in snap) - sum(b for _, b in once),
        "by_category": dict(sorted(by.items())),
    }
