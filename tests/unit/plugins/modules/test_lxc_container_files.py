# SPDX-License-Identifier: GPL-3.0-or-later
"""lxc_container's files (written into the root filesystem in one call) and command (a script on
lxc-attach's stdin, never in an argv), with the real LXC of the test machine: a busybox container,
check -> apply -> check -> apply, the files and the argv seen from outside."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: modrun
from modrun import run_module  # noqa: E402  pylint: disable=wrong-import-position

MODULE = "lxc_container"
SECRET = "sip-Pa55-word-7731"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("lxc-create") or not shutil.which("busybox"),
    reason="needs root, LXC (apt-get install lxc) and busybox (apt-get install busybox-static) on the test machine")


@pytest.fixture(scope="module")
def box():
    """A busybox container in a private lxcpath, and an lxc-attach on PATH that records its argv
    before it runs the real one."""
    top = tempfile.mkdtemp(prefix="tlxc-files-")
    lxc_path = os.path.join(top, "lxc")
    os.mkdir(lxc_path)
    tools = os.path.join(top, "bin")
    os.mkdir(tools)
    log = os.path.join(top, "attach-argv")
    real = shutil.which("lxc-attach")
    with open(os.path.join(tools, "lxc-attach"), "w") as f:
        f.write('#!/bin/sh\nfor a in "$@"; do printf "%%s\\0" "$a"; done >> %s\nprintf "\\n" >> %s\nexec %s "$@"\n'
                % (log, log, real))
    os.chmod(os.path.join(tools, "lxc-attach"), 0o755)
    base = {"name": "tlxc-files", "template": "busybox", "network": {"type": "empty"}, "lxc_path": lxc_path,
            "lxc_auto_path": os.path.join(top, "lxc-auto"), "stop_timeout": 5}
    res = run_module(MODULE, dict(base, state="present"))
    assert not res.get("failed"), res
    try:
        yield {"base": base, "top": top, "tools": tools, "log": log,
               "rootfs": os.path.join(lxc_path, "tlxc-files", "rootfs")}
    finally:
        subprocess.run(["lxc-destroy", "-P", lxc_path, "-n", "tlxc-files", "-f"], capture_output=True, check=False)
        shutil.rmtree(top, ignore_errors=True)


def run(box, args, check=False):
    return run_module(MODULE, dict(box["base"], **args), check=check, path=[box["tools"]])


FILES = [
    {"path": "/etc/asterisk/pjsip.conf", "content": "[6001]\npassword=%s\n" % SECRET, "mode": "0640", "group": 385,
     "secret": True},
    {"path": "/etc/init.d/rcS", "content": "#!/bin/sh\n/bin/syslogd\n", "mode": 0o744},
    {"path": "/etc/turris-containers/marker-1", "content": ""},
]


def test_files_check_apply_idempotent_and_secret_never_shown(box):
    args = {"state": "present", "files": FILES}
    r = run(box, args, check=True)
    assert not r.get("failed") and r["changed"] and r["actions"] == ["files"], r
    assert not os.path.exists(os.path.join(box["rootfs"], "etc/asterisk"))
    headers = [d["after_header"] for d in r["diff"]]
    assert "tlxc-files:/etc/asterisk/pjsip.conf (mode 0640, owner 0:385)" in headers
    assert "#!/bin/sh\n/bin/syslogd\n" in [d["after"] for d in r["diff"]]
    assert SECRET not in repr(r)
    r = run(box, args)
    assert not r.get("failed") and r["changed"] and r["actions"] == ["files"], r
    assert SECRET not in repr(r)
    pj = os.path.join(box["rootfs"], "etc/asterisk/pjsip.conf")
    with open(pj) as f:
        assert f.read() == FILES[0]["content"]
    st = os.stat(pj)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 0, 385)
    assert os.stat(os.path.join(box["rootfs"], "etc/init.d/rcS")).st_mode & 0o7777 == 0o744
    assert os.path.getsize(os.path.join(box["rootfs"], "etc/turris-containers/marker-1")) == 0
    for check in (True, False):
        r = run(box, args, check=check)
        assert not r.get("failed") and not r["changed"] and r["actions"] == [], r
    # a mode changed by hand is put back; a changed secret shows only that it changed
    os.chmod(pj, 0o644)
    changed = [dict(FILES[0], content="password=other-%s\n" % SECRET)] + FILES[1:]
    r = run(box, {"state": "present", "files": changed})
    assert r["changed"] and SECRET not in repr(r), r
    assert [d["after"] for d in r["diff"][1:]] == ["(secret content, changed, not shown)\n"]
    assert os.stat(pj).st_mode & 0o7777 == 0o640


@pytest.mark.parametrize("path", ["/../../../etc/w2b-escape", "etc/relative", "/etc/a\nb", "/etc/", "/"])
def test_files_outside_or_bad_paths_are_refused(box, path):
    r = run(box, {"state": "present", "files": [{"path": path, "content": SECRET, "secret": True}]})
    assert r.get("failed") and r["changed"] is False, r
    assert "files[0].path" in r["msg"] and SECRET not in repr(r), r
    assert not os.path.exists("/etc/w2b-escape")


def test_files_through_a_link_out_of_the_rootfs_are_refused(box):
    link = os.path.join(box["rootfs"], "escape")
    outside = os.path.join(box["top"], "outside")
    os.mkdir(outside)
    os.symlink(outside, link)
    try:
        for check in (True, False):
            r = run(box, {"state": "present", "files": [{"path": "/escape/x", "content": "y"}]}, check=check)
            assert r.get("failed") and r["changed"] is False and "files[0].path" in r["msg"], r
        assert os.listdir(outside) == []
    finally:
        os.unlink(link)


def test_command_goes_on_stdin_never_in_argv(box):
    token = "w2b-script-%d" % os.getpid()
    # the script looks for its own text in every command line of the container, then reads stdin:
    # a script in argv would be found; a script read from stdin by sh must not be eaten by cat
    # (the grep pattern matches the token without holding it: grep's own argv does not count)
    script = ('grep -l "w2b-scrip[t]-%d" /proc/[0-9]*/cmdline 2>/dev/null > /root/seen || true\n'
              'cat > /root/stdin-of-the-script\necho "ran %s"\n' % (os.getpid(), token))
    open(box["log"], "w").close()
    r = run(box, {"state": "started", "command": script})
    assert not r.get("failed") and r["changed"] and r["stdout"] == "ran %s\n" % token, r
    with open(box["log"], "rb") as f:
        argvs = [line.split(b"\0")[:-1] for line in f.read().split(b"\n") if line]
    assert argvs, "lxc-attach was not called"
    for argv in argvs:
        assert not any(token.encode() in a for a in argv), argv
    assert argvs[-1][-4:] == [b"/bin/sh", b"-c", b'script=$(cat) && exec </dev/null && eval "$script"', b"sh"]
    seen = subprocess.run(["lxc-attach", "-P", box["base"]["lxc_path"], "-n", "tlxc-files", "--", "/bin/cat",
                           "/root/seen", "/root/stdin-of-the-script"], capture_output=True, text=True, check=True)
    assert seen.stdout == ""
    # a failing script fails the task, and what it printed is in the message
    r = run(box, {"state": "started", "command": "echo bad >&2; exit 3"})
    assert r.get("failed") and r["rc"] == 3 and "bad" in r["msg"], r


def test_a_failing_playbook_run_never_prints_the_secret(box, tmp_path):
    """ansible-playbook -vvv on the controller (connection local): a secret file refused, then one
    written and a failing script - the whole output, diff and invocation included, is searched. The
    secret comes from a vars file, as a user's would (vault): ansible-core 2.19 shows a failed task's
    source lines, which would print a secret written into the playbook itself."""
    play = tmp_path / "play.yml"
    (tmp_path / "secret.yml").write_text("w2b_secret: %s\n" % SECRET)
    base = box["base"]
    play.write_text("""
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A secret file outside the root filesystem
      turris.containers.lxc_container:
        name: %(name)s
        lxc_path: %(lxc_path)s
        lxc_auto_path: %(auto)s
        state: present
        files:
          - {path: /../../etc/w2b-secret, content: "password={{ w2b_secret }}", secret: true}
      ignore_errors: true
    - name: A secret file written, then a script that fails
      turris.containers.lxc_container:
        name: %(name)s
        lxc_path: %(lxc_path)s
        lxc_auto_path: %(auto)s
        state: started
        files:
          - {path: /etc/w2b-secret, content: "password={{ w2b_secret }}", secret: true}
        command: "echo failing; exit 4"
""" % {"name": base["name"], "lxc_path": base["lxc_path"], "auto": base["lxc_auto_path"]})
    root = Path(__file__).resolve().parents[4]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(root / ".build" / "collections"),
               ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="default", PATH=os.environ["PATH"])
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", "--diff",
                           "-i", "localhost,", "-e", "@%s" % (tmp_path / "secret.yml"),
                           "-e", "ansible_python_interpreter=" + sys.executable, str(play)], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "files[0].path" in out and "rc 4" in out, out[-3000:]
    assert SECRET not in out
    # the refused path (ignore_errors above: its failure is the point) wrote nothing outside the rootfs
    assert not os.path.exists(os.path.normpath(os.path.join(box["rootfs"], "../../etc/w2b-secret")))
    with open(os.path.join(box["rootfs"], "etc/w2b-secret")) as f:
        assert f.read() == "password=%s" % SECRET
