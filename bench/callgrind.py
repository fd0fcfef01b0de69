#!/usr/bin/env python3
"""Instructions per request of one SCIM operation, counted by callgrind: a figure that does not
move with the machine's noise, to compare two builds of the same request path.

    bench/callgrind.py target/release/scimitar patch
    bench/callgrind.py /tmp/old-scimitar create --requests 496 --seed 600

Starts `scimitar serve` under valgrind on a fresh SQLite file, seeds users through the API,
warms up, zeroes the counters, sends the requests on 16 connections and prints the server's
instructions (every thread) divided by the requests. Standard library only; needs valgrind.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CONNECTIONS = 16
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OPERATIONS = ("get", "filter", "create", "patch", "delete")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user(n: int) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{n}@example.com", "externalId": f"ext-{n}", "displayName": f"User {n}",
        "active": True, "name": {"givenName": "User", "familyName": str(n)},
        "emails": [{"value": f"user{n}@example.com", "type": "work", "primary": True}],
    }  # fmt: skip


class Client:
    def __init__(self, port: int, prefix: str, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.prefix = prefix
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def call(self, method: str, path: str, body=None):
        self.conn.request(method, self.prefix + path, json.dumps(body) if body is not None else None, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            sys.exit(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None


def wait_ready(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the server exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/scim/v2/ServiceProviderConfig")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not answer within 300 s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binary", type=Path)
    p.add_argument("operation", choices=OPERATIONS)
    p.add_argument("--requests", type=int, default=496, help="measured requests (default 496)")
    p.add_argument("--seed", type=int, default=600, help="users created first (default 600)")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scimitar-callgrind-"))
    port = free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite://{work}/scimitar.db", SCIMITAR_LISTEN=f"127.0.0.1:{port}",
               RUST_LOG="warn", SCIMITAR_TENANT_RATE_LIMIT="1000000")  # fmt: skip
    created = json.loads(subprocess.check_output([args.binary, "tenant", "create", "--name", "cg", "--json"], env=env))
    prefix = "/" + created["scim_url"].split("://", 1)[1].split("/", 1)[1]
    out = work / "callgrind.out"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(args.binary), "serve"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "valgrind.log", "w"))
    try:
        wait_ready(port, proc)
        setup = Client(port, prefix, created["token"])
        # Verifies the token once (argon2), as the first request of an IdP does.
        setup.call("GET", "/Users?count=1")
        ids = [setup.call("POST", "/Users", user(n))["id"] for n in range(args.seed)]
        numbers = itertools.count(args.seed)
        lock = threading.Lock()

        def one(client: Client) -> None:
            with lock:
                n = next(numbers)
            if args.operation == "get":
                client.call("GET", "/Users/" + random.choice(ids))
            elif args.operation == "filter":
                client.call("GET", f"/Users?filter=userName%20eq%20%22user{random.randrange(args.seed)}@example.com%22")
            elif args.operation == "create":
                client.call("POST", "/Users", user(n))
            elif args.operation == "patch":
                ops = [{"op": "replace", "path": "active", "value": random.random() < 0.5},
                       {"op": "replace", "path": "displayName", "value": f"Renamed {n}"}]  # fmt: skip
                client.call("PATCH", "/Users/" + random.choice(ids), {"schemas": [PATCH_URN], "Operations": ops})
            else:
                with lock:
                    victim = ids.pop()
                client.call("DELETE", "/Users/" + victim)

        def drive(total: int) -> int:
            each = total // CONNECTIONS

            def connection() -> None:
                client = Client(port, prefix, created["token"])
                for _ in range(each):
                    one(client)

            threads = [threading.Thread(target=connection) for _ in range(CONNECTIONS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return each * CONNECTIONS

        drive(4 * CONNECTIONS)
        subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done = drive(args.requests)
        # The provisioning log commits within 100 ms of a request: its work is counted too.
        time.sleep(0.5)
        subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        proc.terminate()
        proc.wait()
    dump = next(work.glob("callgrind.out.*"))
    total = next(int(line.split()[1]) for line in dump.read_text().splitlines() if line.startswith("summary:"))
    print(f"{args.operation}: {total / done / 1000:.0f}k instructions per request ({done} requests; profile: {dump})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
