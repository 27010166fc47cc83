#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench`: figures, no assertions. Prints a table and writes bench/results.json.

Each row is a function in ROWS, run against simulated routers of a fleet of its own, which is
removed afterwards. ``BENCH_ROWS`` picks rows by name (comma-separated; ``all`` for every row;
default: every row but ``fleet50``, which takes half an hour). ``BENCH_TREE`` is the checkout whose
site.yml, roles and modules are measured (default this one), ``BENCH_LABEL`` the name its figures
are kept under in results.json (default ``now``): rows of other labels stay, so a baseline and the
current code sit side by side (``side_by_side``). See bench/README.md.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sim"))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402  pylint: disable=wrong-import-position
import turris_sim  # noqa: E402  pylint: disable=wrong-import-position

env = common.env
timed = common.timed

VENV_BIN = Path(sys.executable).parent
SIM = [sys.executable, str(ROOT / "tests" / "sim" / "turris_sim.py")]
FLEET = "bench"
COUNT = int(os.environ.get("BENCH_COUNT", "10"))
RESULTS = ROOT / "bench" / "results.json"


def inventory():
    return str(turris_sim.HOME / ("inventory-%s.yml" % FLEET))


def row_fleet_up():
    subprocess.run(SIM + ["down", "--fleet", FLEET], check=True, env=env())
    dt, dummy = timed(SIM + ["up", "--fleet", FLEET, "--count", str(COUNT), "--board", "mixed"])
    return {"name": "sim up, %d routers (base cached)" % COUNT, "seconds": round(dt, 2)}


def row_ping():
    dt, dummy = timed([str(VENV_BIN / "ansible"), "-i", inventory(), "all", "-m", "ansible.builtin.ping", "-f", "10"])
    return {"name": "ansible -m ping, %d routers" % COUNT, "seconds": round(dt, 2)}


def row_setup():
    dt, dummy = timed([str(VENV_BIN / "ansible"), "-i", inventory(), "all", "-m", "ansible.builtin.setup", "-f", "10"])
    return {"name": "ansible -m setup, %d routers" % COUNT, "seconds": round(dt, 2)}


def row_uci():
    import bench_uci  # pylint: disable=import-outside-toplevel
    pw = bench_uci.parse_write(200)
    r = bench_uci.router(inventory(), "%s-2" % FLEET, 5)
    return [{"name": "uci parse+write %s (%d bytes)" % (pw["file"], pw["bytes"]), "seconds": pw["parse_write_ms"] / 1000.0},
            {"name": "uci no-op task / ping, one router (ratio)", "seconds": r["uci_noop_s"],
             "ratio_to_ping": r["uci_noop_to_ping"]}]


def row_lxc():
    import bench_lxc  # pylint: disable=import-outside-toplevel
    return bench_lxc.rows(inventory(), "%s-2" % FLEET)


def row_site():
    """site.yml on the 3 demo routers, fresh and no-op: SSH round trips and bytes per router; then
    the same no-op run with Mitogen's strategy."""
    import bench_site  # pylint: disable=import-outside-toplevel
    import bench_mitogen  # pylint: disable=import-outside-toplevel
    return bench_site.demo_rows(on_row=keep, mitogen=bench_mitogen.noop_row)


def row_fleet50():
    import bench_site  # pylint: disable=import-outside-toplevel
    return bench_site.fleet50_rows(on_row=keep)


def row_docker():
    import bench_docker  # pylint: disable=import-outside-toplevel
    return bench_docker.docker_rows()


# Rows on the shared fleet FLEET first (it is removed after the last of them), then those with fleets
# of their own.
SHARED = ["fleet_up", "ping", "setup", "uci", "lxc"]
ROWS = {"fleet_up": row_fleet_up, "ping": row_ping, "setup": row_setup, "uci": row_uci, "lxc": row_lxc,
        "site": row_site, "docker": row_docker, "fleet50": row_fleet50}
DEFAULT = [n for n in ROWS if n != "fleet50"]


def selected():
    wanted = os.environ.get("BENCH_ROWS", "").replace(" ", "")
    if not wanted:
        return DEFAULT
    if wanted == "all":
        return list(ROWS)
    names = wanted.split(",")
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise SystemExit("BENCH_ROWS: unknown row %s; rows are %s (or all)" % (", ".join(unknown), ", ".join(ROWS)))
    if any(n in SHARED for n in names) and "fleet_up" not in names:
        names.insert(0, "fleet_up")  # the shared fleet's rows need it up
    return [n for n in ROWS if n in names]


def show(r):
    extra = "  (x%.2f of ping)" % r["ratio_to_ping"] if "ratio_to_ping" in r else ""
    if "bytes_fetched" in r:
        extra += "  (%.1f MB fetched)" % (r["bytes_fetched"] / 1e6)
    for k in ("tasks", "changed"):
        if k in r:
            extra += "  %s=%s" % (k, r[k])
    if "ssh_round_trips_per_router" in r:
        extra += "  ssh round trips/router %s" % "/".join(str(r["ssh_round_trips_per_router"][k])
                                                         for k in ("min", "mean", "max"))
    if "ssh_bytes_per_router" in r:
        extra += "  kB/router %.0f" % (r["ssh_bytes_per_router"]["mean"] / 1000.0)
    if "load_avg_start" in r:
        extra += "  load %s" % r["load_avg_start"][0]
    print("%-58s %9.2f s%s" % (r["name"], r.get("seconds") or 0, extra), flush=True)


# --------------------------------------------------------------------------- results.json

def side_by_side(runs):
    """For each row name measured under both labels 'baseline' and 'now': the figures together."""
    base = dict((r["name"], r) for r in runs.get("baseline", {}).get("rows", []))
    now = dict((r["name"], r) for r in runs.get("now", {}).get("rows", []))
    out = []
    for name in [n for n in base if n in now]:
        b, n = base[name], now[name]
        entry = {"name": name, "commit": {"baseline": b.get("commit"), "now": n.get("commit")}}
        for key in ("seconds", "tasks", "changed", "load_avg_start", "ssh_round_trips_per_router",
                    "ssh_bytes_per_router", "memory_per_router_after"):
            if key in b or key in n:
                entry[key] = {"baseline": b.get(key), "now": n.get(key)}
        if "per_router" in b and "per_router" in n:
            entry["per_router_round_trips"] = dict(
                ("%s (%s)" % (h, b["per_router"][h]["board"]),
                 {"baseline": b["per_router"][h]["ssh_round_trips"], "now": n["per_router"].get(h, {}).get("ssh_round_trips")})
                for h in b["per_router"])
        out.append(entry)
    return out


def write_results(label, rows):
    import fcntl  # pylint: disable=import-outside-toplevel
    (ROOT / ".build").mkdir(exist_ok=True)
    with open(str(ROOT / ".build" / "bench-results.lock"), "w") as lock:  # two labels may be measured at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_results(label, rows)


def _write_results(label, rows):
    try:
        data = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        data = {}
    runs = data.get("runs", {})
    kept = runs.get(label, {}).get("rows", [])
    names = {r["name"] for r in rows}
    runs[label] = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "rows": [r for r in kept if r["name"] not in names] + rows}
    data.update({"time": runs[label]["time"], "cpus": os.cpu_count(), "rows": rows, "runs": runs,
                 "side_by_side": side_by_side(runs)})
    data.setdefault("notes", [])
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")


def markdown(data):
    """bench/README.md's table: the site.yml figures of 'baseline' and 'now' side by side."""
    runs = data.get("runs", {})
    labels = [l for l in ("baseline", "now") if l in runs]
    rows = dict((l, dict((r["name"], r) for r in runs[l]["rows"])) for l in labels)
    commits = dict((l, sorted({r.get("commit") for r in runs[l]["rows"] if r.get("commit")})) for l in labels)
    out = ["| figure | " + " | ".join("%s (%s)" % (l, ", ".join(commits[l])) for l in labels) + " | target |",
           "| --- |" + " --- |" * len(labels) + " --- |"]

    def cell(label, name, fmt):
        r = rows[label].get(name)
        if not r:
            return "—"
        try:
            return fmt(r)
        except (KeyError, TypeError):
            return "—"

    def trips(r):
        if "per_router" in r:
            return " / ".join(str(v["ssh_round_trips"]) for v in r["per_router"].values())
        t = r["ssh_round_trips_per_router"]
        return "%s (min %s, max %s)" % (t["mean"], t["min"], t["max"])

    def wall(r):
        return "%.0f s (load %.1f → %.1f)" % (r["seconds"], r["load_avg_start"][0], r["load_avg_end"][0])

    def kbytes(r):
        return "%.0f kB" % (r["ssh_bytes_per_router"]["mean"] / 1000.0)

    demo = "3 demo routers (1.x+Docker, Omnia, MOX)"
    fleet = [n for n in set(n for l in labels for n in rows[l]) if n.startswith("site.yml fresh, ") and "forks" in n]
    fleet = fleet[0][len("site.yml fresh, "):] if fleet else "50 routers (Busybox), forks 50"
    mito = [n for n in set(n for l in labels for n in rows[l]) if "Mitogen" in n]
    lines = [
        ("no-op re-run, round trips per router (1.x / Omnia / MOX)", "site.yml no-op re-run, " + demo, trips, "≤ 15"),
        ("fresh run, round trips per router (1.x / Omnia / MOX)", "site.yml fresh, " + demo, trips, "≤ 40"),
        ("no-op re-run, bytes over SSH per router (mean)", "site.yml no-op re-run, " + demo, kbytes, ""),
        ("fresh run, bytes over SSH per router (mean)", "site.yml fresh, " + demo, kbytes, ""),
        ("no-op re-run, wall time, 3 routers", "site.yml no-op re-run, " + demo, wall, ""),
        ("fresh run, wall time, 3 routers", "site.yml fresh, " + demo, wall, ""),
    ]
    if mito:
        lines += [("no-op re-run with Mitogen, wall time, 3 routers", mito[0],
                   lambda r: wall(r) if r.get("works") else "fails: " + r["error"].splitlines()[0][:80], ""),
                  ("no-op re-run with Mitogen, bytes over SSH per router", mito[0], kbytes, "")]
    lines += [
        ("%s: fresh converge, wall time" % fleet, "site.yml fresh, " + fleet, wall, "≤ 15 min"),
        ("%s: no-op re-run, wall time" % fleet, "site.yml no-op re-run, " + fleet, wall, "≤ 3 min"),
        ("%s: fresh, round trips per router" % fleet, "site.yml fresh, " + fleet, trips, "≤ 40"),
        ("%s: no-op, round trips per router" % fleet, "site.yml no-op re-run, " + fleet, trips, "≤ 15"),
        ("%s: memory per router after the converge (cgroup usage / rss, mean)" % fleet, "site.yml fresh, " + fleet,
         lambda r: "%.0f MB / %.0f MB (idle before: %.0f MB)" % (
             r["memory_per_router_after"]["usage_mb"]["mean"], r["memory_per_router_after"]["rss_mb"]["mean"],
             r["memory_per_router_before"]["usage_mb"]["mean"]), ""),
    ]
    for title, name, fmt, target in lines:
        out.append("| %s | %s | %s |" % (title, " | ".join(cell(l, name, fmt) for l in labels), target))
    return "\n".join(out)


KEPT = []


def keep(row):
    """A row measured inside a long row function: shown and written at once, in case a later part fails."""
    KEPT.append(row)
    show(row)
    write_results(os.environ.get("BENCH_LABEL", "now"), [row])


def main():
    if sys.argv[1:] == ["--table"]:
        print(markdown(json.loads(RESULTS.read_text())))
        return 0
    names = selected()
    label = os.environ.get("BENCH_LABEL", "now")
    results = []
    try:
        for name in names:
            out = ROWS[name]()
            for r in out if isinstance(out, list) else [out]:
                results.append(r)
                if not any(r is k for k in KEPT):
                    show(r)
            if name in SHARED and not [n for n in names[names.index(name) + 1:] if n in SHARED]:
                subprocess.run(SIM + ["down", "--fleet", FLEET], env=env(), check=False)
    finally:
        subprocess.run(SIM + ["down", "--fleet", FLEET], env=env(), check=False)
        if [r for r in results if not any(r is k for k in KEPT)]:
            write_results(label, results)
            print("written to %s (label %s)" % (RESULTS, label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
