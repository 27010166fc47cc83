# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/report.yml run by ansible-playbook for real (hosts on the local connection: the report
play only reads variables and writes on the controller): JSON, Markdown and HTML in turris_report_dir,
a row for a router that failed earlier in the run, and the legacy JSON file."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- name: A run in which one router fails
  hosts: all
  gather_facts: false
  tasks:
    - name: Facts as bootstrap and namespaces publish them
      ansible.builtin.set_fact:
        turris_board: "{{ board }}"
        turris_os_version: "7.2.3"
        namespaces_readiness:
          ready: {lxc: true, docker: "{{ board != 'turris1x' }}"}
          missing: {lxc: [], docker: "{{ ['CONFIG_VETH'] if board == 'turris1x' else [] }}"}
          checks: [a long list the report leaves out]
    - name: One router fails
      ansible.builtin.fail:
        msg: broken on purpose
      when: inventory_hostname == 'r2'

- name: The report
  ansible.builtin.import_playbook: %s
""" % (ROOT / "playbooks" / "report.yml")


def test_report_rows_for_every_router_in_three_formats(tmp_path):
    (tmp_path / "inventory.yml").write_text(
        "all:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: %s\n  hosts:\n"
        "    r1: {board: omnia}\n    r2: {board: mox}\n    r3: {board: turris1x}\n" % sys.executable)
    (tmp_path / "run.yml").write_text(PLAYBOOK)
    out = tmp_path / "report"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH="%s:%s" % (ROOT / ".build" / "collections", os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
                           str(tmp_path / "run.yml"), "-e", "turris_hosts=all", "-e", "turris_report_dir=%s" % out,
                           "-e", "turris_report_file=%s" % (tmp_path / "legacy.json")],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)
    # r2 failed on purpose: ansible-playbook exits 2, and the report is still written
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "fleet-report.json").read_text())
    assert json.loads((tmp_path / "legacy.json").read_text()) == report
    assert sorted(report) == ["r1", "r2", "r3"]
    assert report["r2"]["status"] == "failed" and report["r2"]["problems"]
    assert report["r1"]["status"] == "ok" and report["r1"]["board"] == "omnia"
    assert report["r3"]["kernel"] == {"ready": {"lxc": True, "docker": False}, "missing": {"lxc": [], "docker": ["CONFIG_VETH"]}}
    md = (out / "fleet-report.md").read_text()
    assert md.index("| r2 | failed") < md.index("| r1 | ok") < md.index("| r3 | ok")
    assert "docker missing CONFIG_VETH" in md
    page = (out / "fleet-report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'data-router="r3"' in page and "CONFIG_VETH" in page
