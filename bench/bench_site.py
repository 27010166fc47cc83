#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml on simulated fleets, measured; figures, no assertions.

Per run (a fresh converge, then the no-op re-run on the same routers):

- wall time, and the host's load average (1 and 5 min) at its start and end: the machine may be
  shared with other test runs, so a time is only read next to its load;
- SSH round trips per router, counted from Ansible's own connection log: the run writes its log
  (``ANSIBLE_LOG_PATH``) at ``ANSIBLE_LOG_VERBOSITY=3`` while the screen stays at normal verbosity,
  and every ``<address> SSH: EXEC ssh|scp|sftp ...`` line of the ssh connection plugin is one round
  trip to that router: one client process Ansible starts for one command or one file copy, over the
  ControlPersist master connection (the master's own TCP and key exchange is not counted again).
  With pipelining (the simulator's inventory, as README's) a Python module task is one round trip,
  ``raw``/``command`` one, a ``copy``/``template`` with content that differs two or more. Also where
  the no-op run's round trips go (per task, the sum over routers);
- bytes over SSH per router, both directions, from nftables counters on TCP port 22 in the
  router's own network namespace (IP packet lengths: headers, key exchange and all);
- tasks ok + changed and changed, from the play recap.

``memory_per_router`` reads each router's memory cgroup on the host (the LXC container's
``memory.usage_in_bytes`` and ``memory.stat``; nested containers and page cache included).

The tree measured is ``BENCH_TREE`` (default: this checkout): its ``playbooks/site.yml``, its
roles and modules (``ANSIBLE_COLLECTIONS_PATH`` points at a link to that tree, and every task path in
the log is checked to lie under it), its ``ansible.cfg``. The simulator is this checkout's, so two
trees are measured on the same routers.

    python bench/bench_site.py [COUNT]     # the demo containers on COUNT mixed routers
"""
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sim"))
import common  # noqa: E402  pylint: disable=wrong-import-position
import turris_sim  # noqa: E402  pylint: disable=wrong-import-position

VENV_BIN = Path(sys.executable).parent
SIM = [sys.executable, str(ROOT / "tests" / "sim" / "turris_sim.py")]
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
SSH_EXEC = re.compile(r"<([^>\s]+)> SSH: EXEC (ssh|scp|sftp)\b")
TASK = re.compile(r"\| (?:TASK|RUNNING HANDLER) \[(.*?)\] \*")
TASK_PATH = re.compile(r"\| task path: (\S+?):\d+$", re.M)
NFT_TABLE = "tsim_bench"
# The 50-router fleet's containers: one Busybox container per router (LXC's busybox template, nothing
# downloaded), no Docker.
FLEET_VARS = ROOT / "bench" / "fleet_vars.yml"


# --------------------------------------------------------------------------- the tree measured

def tree():
    return Path(os.environ.get("BENCH_TREE", str(ROOT))).resolve()


def tree_commit(path):
    """The commit of ``path`` and whether the measured parts (roles, modules, playbooks) differ from it."""
    head = subprocess.run(["git", "-C", str(path), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--", "roles", "plugins", "playbooks",
                            "meta", "ansible.cfg"], capture_output=True, text=True, check=False).stdout.strip()
    return head + ("+uncommitted" if dirty else "")


def tree_env(path, log_path=None, control_dir=None):
    """Ansible's environment for the tree: its ansible.cfg, the collection as a link to it."""
    link = path / ".build" / "collections" / "ansible_collections" / "turris" / "containers"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    e = common.env()
    e["ANSIBLE_CONFIG"] = str(path / "ansible.cfg")
    e["ANSIBLE_COLLECTIONS_PATH"] = "%s:%s" % (path / ".build" / "collections",
                                               Path(sys.executable).parents[1] / "lib" / "python3.11" / "site-packages")
    e["ANSIBLE_NOCOLOR"] = "1"
    if log_path:
        e["ANSIBLE_LOG_PATH"] = str(log_path)
        e["ANSIBLE_LOG_VERBOSITY"] = "3"
    if control_dir:  # each run starts without a ControlPersist master left by the one before
        e["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
    return e


# --------------------------------------------------------------------------- the fleet

def fleet_up(fleet, count):
    subprocess.run(SIM + ["down", "--fleet", fleet], check=True, env=common.env(), capture_output=True)
    t0 = time.monotonic()
    res = subprocess.run(SIM + ["up", "--fleet", fleet, "--count", str(count), "--board", "mixed"],
                         env=common.env(), capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError("turris_sim.py up --fleet %s --count %d failed: %s" % (fleet, count, res.stderr[-2000:]))
    return time.monotonic() - t0


def fleet_down(fleet):
    subprocess.run(SIM + ["down", "--fleet", fleet], env=common.env(), check=False, capture_output=True)


def routers(fleet):
    """[(inventory name, container name, board, address)] of a fleet."""
    state = turris_sim.load_state()
    return [("%s-%d" % (fleet, state["routers"][n]["index"]), n, state["routers"][n]["board"],
             state["routers"][n]["ip"]) for n in turris_sim.fleet_routers(state, fleet)]


def router_pid(container):
    return turris_sim.lxc("lxc-info", "-n", container, "-p", "-H").stdout.strip()


NFT_RULES = """table inet %(t)s
delete table inet %(t)s
table inet %(t)s {
 chain input { type filter hook input priority -300; policy accept; tcp dport 22 counter; }
 chain output { type filter hook output priority -300; policy accept; tcp sport 22 counter; }
}
"""


def ssh_counters_reset(fleet):
    for dummy, container, dummy2, dummy3 in routers(fleet):
        subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % router_pid(container), "nft", "-f", "-"],
                       input=NFT_RULES % {"t": NFT_TABLE}, text=True, check=True, capture_output=True)


def ssh_bytes(fleet):
    """{inventory name: bytes to and from the router's port 22 since the reset}."""
    out = {}
    for name, container, dummy, dummy2 in routers(fleet):
        res = subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % router_pid(container), "nft", "-j", "list",
                              "table", "inet", NFT_TABLE], capture_output=True, text=True, check=True)
        total = 0
        for item in json.loads(res.stdout)["nftables"]:
            for expr in item.get("rule", {}).get("expr", []):
                if "counter" in expr:
                    total += expr["counter"]["bytes"]
        out[name] = total
    return out


def memory_cgroup(pid):
    for line in Path("/proc/%s/cgroup" % pid).read_text().splitlines():
        dummy, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        if controllers == "" and Path("/sys/fs/cgroup/memory.current").exists():  # cgroup v2 only
            return Path("/sys/fs/cgroup") / path.lstrip("/")
    raise RuntimeError("no memory cgroup for pid %s" % pid)


def memory_per_router(fleet):
    """Memory of each router from the host's cgroup of its LXC container (MB): usage (rss + page cache,
    what the cgroup is charged) and rss alone, with min/mean/max over the fleet."""
    usage, rss = [], []
    for dummy, container, dummy2, dummy3 in routers(fleet):
        cg = memory_cgroup(router_pid(container))
        if (cg / "memory.usage_in_bytes").exists():  # cgroup v1 (this machine)
            usage.append(int((cg / "memory.usage_in_bytes").read_text()))
            stat = dict(line.split() for line in (cg / "memory.stat").read_text().splitlines())
            rss.append(int(stat["total_rss"]))
        else:
            usage.append(int((cg / "memory.current").read_text()))
            stat = dict(line.split() for line in (cg / "memory.stat").read_text().splitlines())
            rss.append(int(stat["anon"]))

    def summary(values):
        mb = [v / 1048576.0 for v in values]
        return {"min": round(min(mb), 1), "mean": round(sum(mb) / len(mb), 1), "max": round(max(mb), 1)}
    return {"usage_mb": summary(usage), "rss_mb": summary(rss), "routers": len(usage)}


# --------------------------------------------------------------------------- one run

def stats(values):
    values = sorted(values) or [0]
    return {"min": values[0], "mean": round(sum(values) / float(len(values)), 1), "max": values[-1]}


def parse_log(text, addresses):
    """Round trips per router (inventory name) and per task (summed over routers) from an Ansible log."""
    per_router = collections.Counter()
    per_task = collections.Counter()
    task = "(before the first task)"
    for line in text.splitlines():
        m = TASK.search(line)
        if m:
            task = m.group(1)
            continue
        m = SSH_EXEC.search(line)
        if m and m.group(1) in addresses:
            per_router[addresses[m.group(1)]] += 1
            per_task[task] += 1
    return per_router, per_task


def site_run(fleet, label, playbook_args, forks, count_trips=True, strategy_env=None):
    """One ansible-playbook run of the tree's site.yml on the fleet; its figures."""
    path = tree()
    hosts = routers(fleet)
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        log = Path(tmp) / "ansible.log"
        control = Path(tmp) / "cp"
        control.mkdir()
        env = tree_env(path, log if count_trips else None, control)
        env.update(strategy_env or {})
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(turris_sim.HOME / ("inventory-%s.yml" % fleet)),
               "playbooks/site.yml", "-f", str(forks)] + list(playbook_args)
        ssh_counters_reset(fleet)
        load0 = os.getloadavg()
        t0 = time.monotonic()
        res = subprocess.run(cmd, env=env, cwd=path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             check=False)
        dt = time.monotonic() - t0
        load1 = os.getloadavg()
        nbytes = ssh_bytes(fleet)
        # The ControlPersist masters this run started: stopped now, not 60 s later.
        for sock in control.iterdir():
            subprocess.run(["ssh", "-o", "ControlPath=%s" % sock, "-O", "exit", "x"], capture_output=True, check=False)
        if res.returncode != 0:
            raise RuntimeError("site.yml (%s) failed:\n%s" % (label, res.stdout[-5000:]))
        logtext = log.read_text(errors="replace") if count_trips else ""
        if count_trips:  # kept for a look at what was counted: .build/bench-logs/<label>.log
            keep = ROOT / ".build" / "bench-logs"
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, keep / ("%s, %s.log" % (os.environ.get("BENCH_LABEL", "now"),
                                                        re.sub(r"[^A-Za-z0-9.,+ -]", "_", label))))
    if count_trips:
        outside = sorted({p for p in TASK_PATH.findall(logtext) if not p.startswith(str(path) + "/")})
        if outside:
            raise RuntimeError("the run used files outside the tree measured (%s): %s" % (path, outside[:5]))
    recap = {m[0]: m for m in RECAP.findall(res.stdout)}
    row = {
        "name": label,
        "commit": tree_commit(path),
        "tree": str(path),
        "seconds": round(dt, 1),
        "load_avg_start": [round(x, 2) for x in load0[:2]],
        "load_avg_end": [round(x, 2) for x in load1[:2]],
        "routers": len(hosts),
        "forks": forks,
        "tasks": sum(int(r[1]) for r in recap.values()),
        "changed": sum(int(r[2]) for r in recap.values()),
        "ssh_bytes_per_router": stats(list(nbytes.values())),
    }
    if count_trips:
        per_router, per_task = parse_log(logtext, dict((ip, name) for name, dummy, dummy2, ip in hosts))
        row["ssh_round_trips_per_router"] = stats([per_router[name] for name, dummy, dummy2, dummy3 in hosts])
        if len(hosts) <= 5:
            row["per_router"] = dict(
                (name, {"board": board, "ssh_round_trips": per_router[name], "ssh_bytes": nbytes[name],
                        "tasks": int(recap[name][1]) if name in recap else None,
                        "changed": int(recap[name][2]) if name in recap else None})
                for name, dummy, board, dummy2 in hosts)
            row["round_trips_by_task"] = dict(per_task.most_common(12))
    return row


def fleet_name(base):
    """A fleet per BENCH_LABEL, so that a baseline and a current run can be measured at the same time."""
    label = re.sub(r"[^A-Za-z0-9]", "", os.environ.get("BENCH_LABEL", "now"))
    return ("%s_%s" % (base, label))[:16]


def site_rows(count=3, fleet="benchrt", vars_args=("-e", "@playbooks/vars/demo.yml"), forks=None, label="",
              count_trips=True, memory=False, mitogen=None, on_row=None):
    """site.yml fresh, then the no-op re-run, on ``count`` new mixed routers; the fleet removed after.
    ``on_row`` is called with each row as soon as it is measured."""
    forks = forks or count
    fleet = fleet_name(fleet)
    rows = _Rows(on_row)
    try:
        up = fleet_up(fleet, count)
        mem_idle = memory_per_router(fleet) if memory else None
        what = label or "%d routers" % count
        fresh = site_run(fleet, "site.yml fresh, %s" % what, vars_args, forks, count_trips)
        fresh["sim_up_seconds"] = round(up, 1)
        if memory:
            fresh["memory_per_router_before"] = mem_idle
            fresh["memory_per_router_after"] = memory_per_router(fleet)
        rows.append(fresh)
        rows.append(site_run(fleet, "site.yml no-op re-run, %s" % what, vars_args, forks, count_trips))
        if mitogen:
            rows.append(mitogen(fleet, what, vars_args, forks))
    finally:
        fleet_down(fleet)
    return rows


class _Rows(list):
    """A list of rows that tells ``on_row`` of each one as it is added (results are kept even if a later
    run fails)."""

    def __init__(self, on_row):
        super().__init__()
        self.on_row = on_row

    def append(self, row):
        super().append(row)
        if self.on_row:
            self.on_row(row)


def demo_rows(on_row=None, mitogen=None):
    """The 3 demo routers (Turris 1.x with Docker, Omnia, MOX) and the demo containers."""
    return site_rows(3, "benchrt", label="3 demo routers (1.x+Docker, Omnia, MOX)", mitogen=mitogen, on_row=on_row)


def fleet50_rows(on_row=None, count=None):
    """``BENCH_FLEET_COUNT`` (50) mixed routers, one Busybox container each, forks = routers."""
    count = count or int(os.environ.get("BENCH_FLEET_COUNT", "50"))
    return site_rows(count, "bench50", vars_args=("-e", "@%s" % FLEET_VARS), forks=count,
                     label="%d routers (Busybox), forks %d" % (count, count), count_trips=True, memory=True,
                     on_row=on_row)


def main(argv):
    count = int(argv[1]) if len(argv) > 1 else 3
    for r in site_rows(count):
        print(json.dumps(r, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
