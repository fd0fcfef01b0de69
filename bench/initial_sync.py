#!/usr/bin/env python3
"""An IdP's initial sync, two ways, each on a fresh server and database: every user and group by
its own POST, and the same data by POST /Bulk (RFC 7644 §3.7).

    bench/initial_sync.py                               # SQLite, 10,000 users, 100 groups
    bench/initial_sync.py --backend sqlite,postgres --no-build

Users carry the same document as bench/run's creates; each group has --members members (named
by id, so the groups come after the users in both ways). Single requests go on --connections
keep-alive connections through wrk (as bench/run seeds); bulk requests of --bulk-size operations
on one connection (an IdP's sync job sends one at a time) and on --bulk-connections. The server
and PostgreSQL run on core 0, the clients on core 1. Prints a Markdown table; progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.machinery
import importlib.util
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"


def load_run():
    """bench/run as a module: its servers, clients and wrk runner."""
    loader = importlib.machinery.SourceFileLoader("bench_run", str(HERE / "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    loader.exec_module(module)
    return module


run = load_run()


def user(name: str, n: int) -> dict:
    """The user bench/wrk/scim.lua's M.user sends."""
    user_name, external, display = f"{name}{n}@example.com", f"{name}ext-{n}", f"User {n}"
    return {
        "schemas": [USER_URN, ENTERPRISE_URN], "userName": user_name, "externalId": external,
        "name": {"givenName": "Benchmark", "familyName": display, "formatted": f"Benchmark {display}"},
        "displayName": display, "active": True,
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "addresses": [{"streetAddress": "1 Example Street", "locality": "Springfield",
                       "postalCode": "12345", "country": "US", "type": "work"}],
        "title": "Engineer", "preferredLanguage": "en-US", "locale": "en-US",
        "timezone": "America/Los_Angeles",
        ENTERPRISE_URN: {"employeeNumber": external, "department": "Research and Development",
                         "organization": "Example Inc."},
    }  # fmt: skip


def group(k: int, members: list[str]) -> dict:
    return {"schemas": [GROUP_URN], "displayName": f"sync-group-{k}",
            "members": [{"value": m, "type": "User"} for m in members]}  # fmt: skip


def group_members(ids: list[str], groups: int, members: int) -> list[list[str]]:
    """Group k's members: `members` users starting at k * members, wrapping around."""
    return [[ids[(k * members + j) % len(ids)] for j in range(members)] for k in range(groups)]


def verify(server, users: int, groups: int, members: int) -> None:
    client = run.Client(server)
    found = client.call("GET", "/Users?count=0")["totalResults"]
    made = client.call("GET", "/Groups?count=1&excludedAttributes=members")
    if found != users or made["totalResults"] != groups:
        raise run.BenchError(f"{server.name}: {found} users and {made['totalResults']} groups after the sync")
    gid = made["Resources"][0]["id"]
    got = len(client.call("GET", f"/Groups/{gid}").get("members", []))
    if got != members:
        raise run.BenchError(f"{server.name}: a group has {got} members, not {members}")


def by_single_requests(server, work: Path, args) -> float:
    started = time.monotonic()
    ids_file = run.seed_users(server, work, "user", args.users, args.connections)
    ids = ids_file.read_text().split()
    client = run.Client(server)
    for k, members in enumerate(group_members(ids, args.groups, args.members)):
        client.call("POST", "/Groups", group(k, members), expect=(201,))
    return time.monotonic() - started


def send_bulk(client, operations: list[dict]) -> list[dict]:
    body = {"schemas": [BULK_REQUEST], "Operations": operations}
    results = client.call("POST", "/Bulk", body, expect=(200,))["Operations"]
    failed = [r for r in results if not r["status"].startswith("2")]
    if failed or len(results) != len(operations):
        raise run.BenchError(f"{len(failed)} of {len(operations)} bulk operations failed: {failed[:3]}")
    return results


def by_bulk(server, args, connections: int) -> float:
    batches = [
        [{"method": "POST", "bulkId": f"u{n}", "path": "/Users", "data": user("user", n)}
         for n in range(start, min(start + args.bulk_size, args.users + 1))]
        for start in range(1, args.users + 1, args.bulk_size)
    ]  # fmt: skip
    ids: dict[str, str] = {}
    lock = threading.Lock()
    errors: list[Exception] = []
    next_batch = iter(batches)

    def worker():
        client = run.Client(server)
        while True:
            with lock:
                batch = next(next_batch, None)
            if batch is None:
                return
            try:
                results = send_bulk(client, batch)
            except Exception as e:  # reported after the threads end
                errors.append(e)
                return
            with lock:
                for r in results:
                    ids[r["bulkId"]] = r["location"].rsplit("/", 1)[1]

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise run.BenchError(f"{server.name}: {errors[0]}")
    ordered = [ids[f"u{n}"] for n in range(1, args.users + 1)]
    operations = [{"method": "POST", "bulkId": f"g{k}", "path": "/Groups", "data": group(k, members)}
                  for k, members in enumerate(group_members(ordered, args.groups, args.members))]  # fmt: skip
    client = run.Client(server)
    for start in range(0, len(operations), args.bulk_size):
        send_bulk(client, operations[start : start + args.bulk_size])
    return time.monotonic() - started


def parse_args(argv: list[str]):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="sqlite", help="comma-separated: sqlite, postgres (default sqlite)")
    p.add_argument("--users", type=int, default=10_000, help="users (default 10000)")
    p.add_argument("--groups", type=int, default=100, help="groups (default 100)")
    p.add_argument("--members", type=int, default=100, help="members of each group (default 100)")
    p.add_argument("--bulk-size", type=int, default=1000, help="operations per bulk request (default 1000)")
    p.add_argument("--connections", type=int, default=16, help="connections for single requests (default 16)")
    p.add_argument("--bulk-connections", type=int, default=4, help="connections for the second bulk run (default 4)")
    p.add_argument("--no-build", action="store_true", help="use target/release/scimitar as built")
    a = p.parse_args(argv)
    a.backend = [b.strip() for b in a.backend.split(",") if b.strip()]
    if any(b not in ("sqlite", "postgres") for b in a.backend):
        p.error("--backend takes sqlite and postgres")
    return a


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    binary = (run.ROOT / "target" / "release" if args.no_build else run.build("release")) / "scimitar"
    urls = {"sqlite": run.sqlite_url, "postgres": run.postgres_url}
    ways = [
        ("single requests", f"{args.connections} connections", lambda s, w: by_single_requests(s, w, args)),
        (f"bulk of {args.bulk_size}", "1 connection", lambda s, w: by_bulk(s, args, 1)),
        (f"bulk of {args.bulk_size}", f"{args.bulk_connections} connections",
         lambda s, w: by_bulk(s, args, args.bulk_connections)),
    ]  # fmt: skip
    rows = []
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="scimitar-sync-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        for backend in args.backend:
            single = None
            for way, connections, sync in ways:
                way_work = work / f"{backend}-{len(rows)}"
                way_work.mkdir()
                with contextlib.ExitStack() as per_way:
                    target = run.scimitar_target(f"Scimitar {backend}", binary, urls[backend])
                    server = target.start(per_way, way_work)
                    run.log(f"{backend}: {way} on {connections}")
                    seconds = sync(server, way_work)
                    verify(server, args.users, args.groups, args.members)
                single = single or seconds
                rate = args.users / seconds
                run.log(f"{backend}: {way} on {connections}: {seconds:.2f} s ({rate:,.0f} users/s)")
                rows.append((backend, way, connections, seconds, rate, single / seconds))
    print(f"Initial sync of {args.users:,} users and {args.groups} groups of {args.members} members, "
          f"each way on a fresh server and database.\n")  # fmt: skip
    print("| backend | how | connections | seconds | users/s | speed-up over single requests |")
    print("|---|---|---|---:|---:|---:|")
    for backend, way, connections, seconds, rate, speedup in rows:
        print(f"| {backend} | {way} | {connections} | {seconds:.2f} | {rate:,.0f} | {speedup:.2f} × |")
    print(f"\nMachine: {json.dumps(run.machine())}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except run.BenchError as e:
        run.log(f"error: {e}")
        sys.exit(2)
