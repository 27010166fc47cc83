# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report filters: order (problems first), escaping, no external assets, and the HTML as a
real browser renders it (Debian's chromium, headless) says what the JSON says."""
import html.parser
import json
import shutil
import subprocess

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.turris.containers.plugins.filter.fleet_report import (
    fleet_report_html, fleet_report_markdown)

HOSTILE = '<script>alert(1)</script>|x'
REPORT = {
    'turris-omnia': {
        'board': 'omnia', 'arch': 'armv7l', 'os_version': '7.2.3', 'status': 'ok',
        'kernel': {'ready': {'lxc': True, 'docker': False}, 'missing': {'docker': ['CONFIG_VETH', 'CONFIG_BRIDGE_NETFILTER']}},
        'storage': {'path': '/srv/lxc', 'fstype': 'btrfs', 'free_bytes': 3 * 1024 ** 3},
        'containers': {'web': {'flavor': 'debian', 'state': 'running', 'address': '192.168.13.20', 'image': 'Debian/Bookworm'}},
        'packages': {'lxc': '6.0.4-1'},
    },
    'turris-1x': {
        'board': 'turris1x', 'os_version': '6.5.2', 'status': 'failed',
        'problems': ['container "pbx" (flavor asterisk): memory_limit "lots" is not a size like 256M', HOSTILE],
        'containers': {HOSTILE: {'flavor': 'busybox', 'state': 'stopped'}},
    },
    'mox': {'board': 'mox', 'status': 'changed'},
}


def test_routers_with_problems_come_first_then_by_name():
    md = fleet_report_markdown(REPORT)
    rows = [line.split('|')[1].strip() for line in md.splitlines() if line.startswith('| ') and not line.startswith(('| router', '| ---'))]
    assert rows == ['turris-1x', 'mox', 'turris-omnia']
    page = fleet_report_html(REPORT)
    assert page.index('id="r-turris-1x"') < page.index('id="r-mox"') < page.index('id="r-turris-omnia"')


def test_markdown_table_has_one_row_per_router_and_escapes_pipes():
    md = fleet_report_markdown(REPORT, title='Fleet | today')
    table = [line for line in md.splitlines() if line.startswith('|')]
    assert len(table) == 2 + len(REPORT)
    # every table row has exactly the header's number of unescaped column separators
    cols = table[0].count('|')
    for line in table:
        assert line.replace('\\|', '').count('|') == cols, line
    assert 'docker missing CONFIG_VETH CONFIG_BRIDGE_NETFILTER' in md
    assert '3.0 GiB free on /srv/lxc (btrfs)' in md
    assert '- <script>alert(1)</script>\\|x' in md  # the problem list under "## turris-1x"


def test_html_escapes_everything_and_loads_nothing_from_outside():
    page = fleet_report_html(REPORT)
    assert '<script' not in page
    assert html.escape(HOSTILE) in page
    for outside in ('src=', '<link', '@import', 'url(', 'http://', 'https://'):
        assert outside not in page


class _Text(html.parser.HTMLParser):
    """Per router section: its text, and the classes of the cells (verdict colours)."""

    def __init__(self):
        super().__init__()
        self.routers, self.current, self.stack = {}, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'section' and 'data-router' in attrs:
            self.current = attrs['data-router']
            self.routers[self.current] = {'text': [], 'classes': []}
        if self.current and attrs.get('class'):
            self.routers[self.current]['classes'].append(attrs['class'])

    def handle_endtag(self, tag):
        if tag == 'section':
            self.current = None

    def handle_data(self, data):
        if self.current:
            self.routers[self.current]['text'].append(data)


def sections(page):
    parser = _Text()
    parser.feed(page)
    return {r: (' '.join(' '.join(v['text']).split()), v['classes']) for r, v in parser.routers.items()}


def check_matches_json(found, report):
    assert set(found) == set(report)
    for router, row in report.items():
        text, classes = found[router]
        for key in ('board', 'os_version', 'status'):
            if row.get(key):
                assert row[key] in text, (router, key)
        for problem in row.get('problems', []):
            assert problem in text
        for use, ready in row.get('kernel', {}).get('ready', {}).items():
            assert ('%s %s' % (use, 'ready' if ready else 'not ready')) in text
            for symbol in row['kernel'].get('missing', {}).get(use, []):
                assert symbol in text
        for name, c in row.get('containers', {}).items():
            assert name in text and c['state'] in text
        troubled = (row.get('problems') or row.get('status') == 'failed'
                    or not all(row.get('kernel', {}).get('ready', {}).values()))
        assert ('bad' in classes) == bool(troubled), router


def test_html_sections_say_what_the_json_says():
    check_matches_json(sections(fleet_report_html(REPORT)), REPORT)


@pytest.mark.skipif(shutil.which('chromium') is None,
                    reason="Debian's chromium is not installed: `make hostdeps` (tests/sim/install-host-deps.sh) installs it")
def test_html_renders_in_headless_chromium(tmp_path):
    page = tmp_path / 'report.html'
    page.write_text(fleet_report_html(REPORT), encoding='utf-8')
    (tmp_path / 'report.json').write_text(json.dumps(REPORT), encoding='utf-8')
    proc = subprocess.run(['chromium', '--headless', '--no-sandbox', '--disable-gpu', '--user-data-dir=%s' % (tmp_path / 'profile'),
                           '--dump-dom', page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The DOM after the browser parsed and laid out the page: the same sections, the same content.
    assert '<section' in proc.stdout, proc.stderr[-2000:]
    check_matches_json(sections(proc.stdout), json.loads((tmp_path / 'report.json').read_text(encoding='utf-8')))


@pytest.mark.parametrize('bad', [None, [], 'text', {'r1': 'not a row'}])
def test_bad_report_is_refused_with_what_was_given(bad):
    for render in (fleet_report_html, fleet_report_markdown):
        with pytest.raises(AnsibleFilterError, match='fleet_report'):
            render(bad)
