# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``uci`` module judged by libuci itself: the files it writes are compared byte for byte
with the golden corpus (``tests/conformance/uci``, written by OpenWrt's ``uci``), not with the
simulator's ``uci`` command, which is built on the same ``_uci`` library and would share its bugs.

* Every case: the module adds a section to the case's input and removes it again; the file it
  writes must be libuci's ``canonical`` (what ``uci`` writes for that input) plus the section,
  then exactly ``canonical``.
* The ``ops`` cases a declarative module can express (edits of named sections: options set,
  changed, removed, lists, sections added at the end or deleted): the module is driven from
  the case's input to the state of ``ops.result`` and must write exactly ``ops.result``. The
  desired state is read from the golden file by the small reader below (libuci's output
  format, independent of ``_uci``). Cases that reorder, rename or add anonymous sections, or
  whose result depends on the order of the edits, are out of reach of a declarative module
  and are counted, not silently passed.

The module runs in this process (its ``main()``, arguments as Ansible passes them), which
keeps the ~500 runs to a few seconds; ``test_uci_section.py`` runs it as a separate process.
"""
import contextlib
import io
import json
import os
import re

import pytest

from ansible.module_utils import basic

from ansible_collections.turris.containers.plugins.modules import uci as uci_module
from conftest import CONFORMANCE

CASES = sorted(os.listdir(str(CONFORMANCE / "uci" / "cases")))  # a missing corpus is a collection error
PROBE = "\nconfig probe 'zz_golden_probe'\n\toption x 'it'\\''s'\n"

# libuci's canonical file: "\nconfig TYPE['NAME']\n", then "\toption|list KEY 'VALUE'\n" lines,
# a final "\n"; a quote in a value is written '\'' and a value may span lines.
_SECTION = re.compile(r"\nconfig (\S+)(?: '((?:[^']|'\\'')*)')?\n")
_OPTION = re.compile(r"\t(option|list) (\S+) '((?:[^']|'\\'')*)'\n")


def _unquote(value):
    return value.replace("'\\''", "'")


def read_canonical(text):
    """[(name or None, type, [(option|list, key, value), ...]), ...] of a file uci wrote."""
    pos, sections = 0, []
    while True:
        m = _SECTION.match(text, pos)
        if not m:
            break
        pos, options = m.end(), []
        while True:
            o = _OPTION.match(text, pos)
            if not o:
                break
            options.append((o.group(1), o.group(2), _unquote(o.group(3))))
            pos = o.end()
        sections.append((None if m.group(2) is None else _unquote(m.group(2)), m.group(1), options))
    assert text[pos:] == "\n", "not libuci's canonical format at byte %d: %r" % (pos, text[pos:pos + 60])
    return sections


def _options(lines):
    out = {}
    for kind, key, value in lines:
        if kind == "list":
            out.setdefault(key, []).append(value)
        else:
            out[key] = value
    return out


@contextlib.contextmanager
def _module_args(args):
    try:  # ansible-core >= 2.19
        from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    except ImportError:
        patch_module_args = None
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    saved = basic._ANSIBLE_ARGS  # pylint: disable=protected-access
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")  # pylint: disable=protected-access
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = saved  # pylint: disable=protected-access


def run(config_dir, check=False, **args):
    args = dict(args, config="pkg", config_dir=str(config_dir), delta_dir=str(config_dir.parent / "delta"),
                _ansible_check_mode=check)
    out = io.StringIO()
    with _module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        uci_module.main()
    return json.loads(out.getvalue())


def golden(case, name):
    return (CONFORMANCE / "uci" / "cases" / case / name).read_bytes()


@pytest.fixture
def confdir(tmp_path):
    (tmp_path / "config").mkdir()
    return tmp_path / "config"


def test_reader_reads_what_uci_wrote():
    # the reader is part of the judge: it must give back every golden file it reads, exactly
    for case in CASES:
        for name in ("canonical", "ops.result"):
            text = golden(case, name).decode("utf-8", "surrogateescape")
            rebuilt = "".join(
                "\nconfig %s%s\n" % (t, "" if n is None else " '%s'" % n.replace("'", "'\\''"))
                + "".join("\t%s %s '%s'\n" % (kind, k, v.replace("'", "'\\''")) for kind, k, v in opts)
                for n, t, opts in read_canonical(text)) + "\n"
            assert rebuilt == text, (case, name)


@pytest.mark.parametrize("case", CASES)
def test_module_writes_what_uci_commit_writes(confdir, case):
    (confdir / "pkg").write_bytes(golden(case, "input"))
    canonical = golden(case, "canonical")
    r = run(confdir, section="zz_golden_probe", type="probe", options={"x": "it's"})
    assert r.get("failed") is not True and r["changed"] is True, r
    assert (confdir / "pkg").read_bytes() == canonical[:-1] + PROBE.encode() + b"\n"
    r = run(confdir, section="zz_golden_probe", state="absent")
    assert r["changed"] is True and r["removed"] == ["zz_golden_probe"], r
    assert (confdir / "pkg").read_bytes() == canonical
    assert sorted(os.listdir(str(confdir))) == ["pkg"]


def plan(case):
    """Module calls that take the case's input to its ops.result, or (None, reason)."""
    before = read_canonical(golden(case, "canonical").decode("utf-8", "surrogateescape"))
    after = read_canonical(golden(case, "ops.result").decode("utf-8", "surrogateescape"))
    named_before = dict((s[0], s) for s in before if s[0] is not None)
    named_after = dict((s[0], s) for s in after if s[0] is not None)

    def key(s):
        return ("named", s[0]) if s[0] is not None else ("anonymous", s[1], tuple(s[2]))

    # a declarative edit keeps anonymous sections and the order, and appends new sections
    expected = [key(s) for s in before if s[0] is None or s[0] in named_after]
    expected += [key(s) for s in after if s[0] is not None and s[0] not in named_before]
    if expected != [key(s) for s in after]:
        return None, "reorder, rename or anonymous sections"
    calls = [dict(section=name, state="absent") for name in named_before if name not in named_after]
    for name, sec_type, lines in after:
        if name is None or named_before.get(name) == (name, sec_type, lines):
            continue
        options = _options(lines)
        if any(v == "" for v in options.values()):
            return None, "an empty value (the module removes an option set to '')"
        old = named_before.get(name)
        if old is not None:
            # options the module changes keep their place and new ones are appended: a result
            # that moved an option (deleted, then set again) depends on the order of the edits
            old_keys = list(dict.fromkeys(k for dummy, k, dummy2 in old[2]))
            new_keys = list(dict.fromkeys(k for dummy, k, dummy2 in lines))
            if [k for k in old_keys if k in options] + [k for k in new_keys if k not in old_keys] != new_keys:
                return None, "an option moved"
        calls.append(dict(section=name, type=sec_type, options=options, replace=True))
    if not calls:
        return None, "no net change (libuci rewrites the file anyway, the module does not)"
    return calls, None


PLANS = dict((case, plan(case)) for case in CASES)
DRIVEN = sorted(case for case, (calls, dummy) in PLANS.items() if calls)


def test_enough_cases_are_driven():
    skipped = dict((case, reason) for case, (calls, reason) in PLANS.items() if calls is None)
    assert len(DRIVEN) >= 60, (len(DRIVEN), skipped)
    assert len(DRIVEN) + len(skipped) == len(CASES) > 100


@pytest.mark.parametrize("case", DRIVEN)
def test_module_reaches_ops_result_byte_for_byte(confdir, case):
    (confdir / "pkg").write_bytes(golden(case, "input"))
    calls, dummy = PLANS[case]
    for call in calls:
        assert run(confdir, check=True, **call)["changed"] is True, call
        r = run(confdir, **call)
        assert r.get("failed") is not True and r["changed"] is True, r
    assert (confdir / "pkg").read_bytes() == golden(case, "ops.result")
    for call in calls:
        assert run(confdir, check=True, **call)["changed"] is False, call
        assert run(confdir, **call)["changed"] is False, call
    assert (confdir / "pkg").read_bytes() == golden(case, "ops.result")
