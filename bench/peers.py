"""Reference SCIM servers for `bench/run --peers`, installed into the cache dir on first use
(never into the repository): scim2-server from PyPI in a venv, and SCIMMY from npm behind its
documented express router (scimmy-routers) in a small in-memory harness written beside it.
Both keep their data in memory; both are started on the server core like Scimitar.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
from pathlib import Path

TOKEN = "bench-peer-token"

# SCIMMY's documented shape: declare User (with the enterprise extension) and Group with
# ingress/egress/degress handlers, mount SCIMMYRouters with a bearer handler. The handlers keep
# resources in a Map; egress filters with SCIMMY's own Filter.match, as its docs show.
SCIMMY_HARNESS = r"""
import express from "express";
import {randomUUID} from "node:crypto";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const [port, token] = process.argv.slice(2);
function store(Resource, extra) {
    const items = new Map();
    SCIMMY.Resources.declare(Resource, extra);
    Resource
        .ingress((resource, data) => {
            const now = new Date().toISOString();
            if (resource.id) {
                const old = items.get(resource.id);
                if (!old) throw new Error("not found");
                const next = {...data, id: resource.id, meta: {...old.meta, lastModified: now}};
                items.set(resource.id, next);
                return next;
            }
            const item = {...data, id: randomUUID(), meta: {created: now, lastModified: now}};
            items.set(item.id, item);
            return item;
        })
        .egress((resource) => {
            if (resource.id) {
                const item = items.get(resource.id);
                if (!item) throw new Error("not found");
                return item;
            }
            const all = [...items.values()];
            return resource.filter ? resource.filter.match(all) : all;
        })
        .degress((resource) => {
            if (!items.delete(resource.id)) throw new Error("not found");
        });
}
store(SCIMMY.Resources.User, {extensions: [{schema: SCIMMY.Schemas.EnterpriseUser, required: false}]});
store(SCIMMY.Resources.Group);

const app = express();
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("wrong token");
        return "bench";
    },
}));
app.listen(Number(port), "127.0.0.1");
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _install(cmd: list[str], where: Path, error) -> None:
    done = subprocess.run(cmd, cwd=where, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise error(f"{' '.join(cmd)} failed in {where}:\n{done.stderr[-1500:]}")


def scim2_server_target(cache: Path, spawn, wait_ready, server_cls, target_cls, error):
    """scim2-server (python-scim), its own CLI with a static bearer token."""
    venv = cache / "scim2-server"

    def start(stack: contextlib.ExitStack, work: Path):
        binary = venv / "bin" / "scim2-server"
        if not binary.exists():
            cache.mkdir(parents=True, exist_ok=True)
            _install(["python3", "-m", "venv", str(venv)], cache, error)
            _install([str(venv / "bin" / "pip"), "install", "-q", "scim2-server"], cache, error)
        version = subprocess.run([str(venv / "bin" / "pip"), "show", "scim2-server"],
                                 capture_output=True, text=True).stdout  # fmt: skip
        name = "scim2-server " + next((l.split()[1] for l in version.splitlines() if l.startswith("Version:")), "")
        port, log_path = _free_port(), work / "scim2-server.log"
        cmd = [str(binary), "--bearer-token", TOKEN, "--hostname", "127.0.0.1", "--port", str(port)]
        proc = spawn(stack, cmd, log_path)
        wait_ready(proc, port, "/v2/ServiceProviderConfig", log_path, headers={"Authorization": f"Bearer {TOKEN}"})
        return server_cls(name, proc, port, "/v2", TOKEN, log_path, frozenset({"put"}))

    return target_cls("scim2-server", start)


def scimmy_target(cache: Path, spawn, wait_ready, server_cls, target_cls, error):
    """SCIMMY with scimmy-routers on express, in the harness above."""
    where = cache / "scimmy"

    def start(stack: contextlib.ExitStack, work: Path):
        if not shutil.which("node") or not shutil.which("npm"):
            raise error("node and npm are needed for SCIMMY (apt-get install nodejs npm)")
        if not (where / "node_modules" / "scimmy-routers").exists():
            where.mkdir(parents=True, exist_ok=True)
            (where / "package.json").write_text(json.dumps({"name": "scimmy-bench", "private": True, "type": "module"}))
            _install(["npm", "install", "--silent", "scimmy", "scimmy-routers", "express"], where, error)
        harness = where / "harness.mjs"
        harness.write_text(SCIMMY_HARNESS)
        versions = []
        for pkg in ("scimmy", "scimmy-routers"):
            with contextlib.suppress(OSError, ValueError):
                versions.append(f"{pkg} {json.loads((where / 'node_modules' / pkg / 'package.json').read_text())['version']}")
        port, log_path = _free_port(), work / "scimmy.log"
        proc = spawn(stack, ["node", str(harness), str(port), TOKEN], log_path, cwd=where)
        wait_ready(proc, port, "/scim/v2/ServiceProviderConfig", log_path, headers={"Authorization": f"Bearer {TOKEN}"})
        return server_cls("SCIMMY (" + ", ".join(versions) + ")", proc, port, "/scim/v2", TOKEN, log_path, frozenset({"put"}))

    return target_cls("SCIMMY", start)
