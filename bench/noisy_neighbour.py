#!/usr/bin/env python3
"""Noisy neighbour: one tenant sends the largest PATCH the limits allow while another tenant
creates users. Prints how long the big PATCH took, and the latency and status of the other
tenant's creates sent meanwhile.

    cargo build --release
    python3 bench/noisy_neighbour.py [--values N] [--database-url URL] [--binary PATH]

Runs target/release/scimitar on a fresh SQLite file (or the given database) on a free loopback
port, and stops it at the end. Standard library only.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "scimitar")
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, token, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    started = time.perf_counter()
    conn.request(method, path, body=data, headers=headers)
    res = conn.getresponse()
    text = res.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return res.status, (json.loads(text) if text else None), elapsed


def tenant(env, name):
    out = subprocess.run(
        [BINARY, "tenant", "create", "--name", name, "--json"],
        env=env, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)["token"]


def main():
    global BINARY
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=None,
                    help="e-mail values in the PATCH (default: the server's advertised limit)")
    ap.add_argument("--database-url")
    ap.add_argument("--creates", type=int, default=20)
    ap.add_argument("--binary", default=BINARY,
                    help="the scimitar binary to measure (default: target/release/scimitar)")
    args = ap.parse_args()
    BINARY = args.binary

    work = tempfile.mkdtemp(prefix="scimitar-bench")
    port = free_port()
    env = dict(os.environ,
               DATABASE_URL=args.database_url or f"sqlite://{work}/bench.db",
               SCIMITAR_LISTEN=f"127.0.0.1:{port}",
               RUST_LOG="warn")
    noisy, quiet = tenant(env, "noisy"), tenant(env, "quiet")
    server = subprocess.Popen([BINARY, "serve"], env=env)
    try:
        deadline = time.time() + 30
        while True:
            try:
                status, spc, _ = request(port, noisy, "GET", "/scim/v2/ServiceProviderConfig")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        limits = spc.get("urn:scimitar:params:scim:limits", {})
        n = args.values or limits.get("maxValuesPerAttribute") or 38885
        status, user, _ = request(port, noisy, "POST", "/scim/v2/Users",
                                  {"schemas": [USER], "userName": "noisy@example.com"})
        assert status == 201, (status, user)
        emails = [{"value": f"{i}@x.io"} for i in range(n)]
        body = {"schemas": [PATCH],
                "Operations": [{"op": "add", "path": "emails", "value": emails}]}
        size = len(json.dumps(body))
        result = {}

        def big():
            result["patch"] = request(port, noisy, "PATCH", f"/scim/v2/Users/{user['id']}", body)

        t = threading.Thread(target=big)
        t.start()
        creates = []
        i = 0
        while t.is_alive() or i < args.creates:
            s, b, e = request(port, quiet, "POST", "/scim/v2/Users",
                              {"schemas": [USER], "userName": f"quiet{i}@example.com"})
            creates.append((s, e))
            i += 1
            if i >= 10 * args.creates:
                break
        t.join()
        ps, pb, pe = result["patch"]
        lat = sorted(e for _, e in creates)
        statuses = sorted({s for s, _ in creates})
        print(f"big PATCH: {n} values, {size} bytes -> {ps} in {pe * 1000:.0f} ms"
              + ("" if ps < 300 else f" ({pb.get('detail')})"))
        print(f"other tenant's creates meanwhile: {len(creates)}, statuses {statuses}, "
              f"p50 {lat[len(lat) // 2] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
