# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: turris.containers contributors
"""Filters that render the fleet report (a mapping router -> row) as Markdown or as one HTML page.

A row holds what the playbooks know of a router; every key is optional:
``status`` (ok, changed, failed, unreachable, rolled back, ...), ``problems`` (list of text),
``board``, ``arch``, ``opkg_arch``, ``os_version``, ``configured`` (list), ``kernel``
(``{ready: {use: bool}, missing: {use: [symbols]}}``), ``storage`` (``{path, mount, fstype,
free_bytes}``), ``packages`` (``{name: version}``), ``containers`` (``{name: {flavor, image, state,
address}}``), ``docker`` (``{enabled, running, ...}``), ``snapshot``, ``plan_fits`` (``{fits, containers,
docker_enabled, problems}``: whether the router can take a plan), ``outcome``. Routers with problems come first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html

from ansible.errors import AnsibleFilterError

BAD_STATUS = ('failed', 'unreachable', 'rolled back', 'error')

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.3em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}
.ok{background:#d9f2d9}.bad{background:#f8d0d0}.warn{background:#fcefc7}.none{color:#777}
.summary td:first-child{font-weight:bold}ul{margin:0;padding-left:1.2em}
"""


def _rows(report):
    if not isinstance(report, dict):
        raise AnsibleFilterError("fleet_report expects a mapping router -> row, got %s" % type(report).__name__)
    rows = []
    for host, row in report.items():
        if row is None:
            row = {}
        if not isinstance(row, dict):
            raise AnsibleFilterError("fleet_report: the row of %s is not a mapping but %s" % (host, type(row).__name__))
        rows.append((str(host), row))
    return sorted(rows, key=lambda hr: (0 if _troubled(hr[1]) else 1, hr[0]))


def _troubled(row):
    return bool(row.get('problems')) or str(row.get('status') or '') in BAD_STATUS


def _status(row):
    status = str(row.get('status') or '')
    if not status:
        status = 'problems' if row.get('problems') else 'ok'
    return status


def _status_class(row):
    status = _status(row)
    if _troubled(row):
        return 'bad'
    return 'warn' if status == 'changed' else 'ok'


def _verdicts(row):
    """[(use, ready, missing symbols)] from the row's kernel readiness."""
    kernel = row.get('kernel') or {}
    ready = kernel.get('ready') or {}
    missing = kernel.get('missing') or {}
    return [(str(use), bool(ok), [str(s) for s in (missing.get(use) or [])]) for use, ok in sorted(ready.items())]


def _containers(row):
    items = row.get('containers') or {}
    if isinstance(items, dict):
        items = [dict(c, name=c.get('name', n)) if isinstance(c, dict) else {'name': n} for n, c in items.items()]
    return sorted((c for c in items if isinstance(c, dict)), key=lambda c: str(c.get('name', '')))


def _size(value):
    try:
        n = float(value)
    except (TypeError, ValueError):
        return str(value) if value not in (None, '') else ''
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if n < 1024 or unit == 'TiB':
            return ('%d %s' % (n, unit)) if unit == 'B' else ('%.1f %s' % (n, unit))
        n /= 1024.0
    return str(value)


def _storage(row):
    st = row.get('storage') or {}
    if not st:
        return ''
    free = _size(st.get('free_bytes'))
    where = ' '.join(str(x) for x in (st.get('path'), st.get('fstype') and '(%s)' % st.get('fstype')) if x)
    return ('%s free on %s' % (free, where)).strip() if free else where


def _container_text(c):
    parts = [str(c.get(k)) for k in ('flavor', 'state', 'address') if c.get(k)]
    return '%s (%s)' % (c.get('name'), ', '.join(parts)) if parts else str(c.get('name'))


def _plan(row):
    plan = row.get('plan_fits')
    if not isinstance(plan, dict):
        return ''
    what = ', '.join(str(c) for c in plan.get('containers') or [])
    if plan.get('docker_enabled'):
        what = (what + ' + docker') if what else 'docker'
    return '%s (%s)' % ('fits' if plan.get('fits') else 'does not fit', what or 'nothing')


def _md(text):
    return str(text).replace('\\', '\\\\').replace('|', '\\|').replace('\n', ' ').replace('\r', ' ')


def fleet_report_markdown(report, title='Turris fleet report'):
    """One table, a row per router (problems first), then the problems listed per router."""
    rows = _rows(report)
    out = ['# %s' % _md(title), '',
           '| router | status | board | Turris OS | kernel | storage | containers | plan | problems |',
           '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for host, row in rows:
        kernel = ', '.join('%s %s' % (use, 'ready' if ok else 'missing ' + ' '.join(miss) if miss else 'not ready')
                           for use, ok, miss in _verdicts(row))
        out.append('| %s |' % ' | '.join(_md(x) for x in (
            host, _status(row), row.get('board') or '', row.get('os_version') or '', kernel, _storage(row),
            ', '.join(_container_text(c) for c in _containers(row)) or '-', _plan(row) or '-',
            len(row.get('problems') or []) or '-')))
    for host, row in rows:
        if row.get('problems'):
            out += ['', '## %s' % _md(host), ''] + ['- %s' % _md(p) for p in row['problems']]
    return '\n'.join(out) + '\n'


def _e(text):
    return html.escape(str(text), quote=True)


def _table(headers, body):
    head = ''.join('<th>%s</th>' % _e(h) for h in headers)
    return '<table><tr>%s</tr>%s</table>' % (head, ''.join(body))


def fleet_report_html(report, title='Turris fleet report'):
    """One HTML page without external assets: a summary, then a section per router."""
    rows = _rows(report)
    summary = []
    for host, row in rows:
        summary.append('<tr><td><a href="#r-%s">%s</a></td><td class="%s">%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
            _e(host), _e(host), _status_class(row), _e(_status(row)), _e(row.get('board') or ''),
            _e(row.get('os_version') or ''), _e(len(row.get('problems') or []))))
    parts = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
             '<title>%s</title><style>%s</style></head><body>' % (_e(title), CSS),
             '<h1>%s</h1>' % _e(title),
             '<table class="summary" id="summary"><tr><th>router</th><th>status</th><th>board</th>'
             '<th>Turris OS</th><th>problems</th></tr>%s</table>' % ''.join(summary)]
    for host, row in rows:
        parts.append('<section class="router" id="r-%s" data-router="%s"><h2>%s <span class="%s">%s</span></h2>' % (
            _e(host), _e(host), _e(host), _status_class(row), _e(_status(row))))
        if row.get('problems'):
            parts.append('<ul class="problems">%s</ul>' % ''.join('<li class="bad">%s</li>' % _e(p) for p in row['problems']))
        facts = [(k, row.get(k)) for k in ('board', 'arch', 'opkg_arch', 'os_version', 'snapshot', 'outcome')
                 if row.get(k) not in (None, '')]
        if _plan(row):
            facts.append(('plan', _plan(row)))
        if _storage(row):
            facts.append(('storage', _storage(row)))
        if row.get('configured'):
            facts.append(('configured', ', '.join(str(x) for x in row['configured'])))
        if facts:
            parts.append(_table(('fact', 'value'), ['<tr><td>%s</td><td>%s</td></tr>' % (_e(k), _e(v)) for k, v in facts]))
        verdicts = _verdicts(row)
        if verdicts:
            parts.append(_table(('use', 'kernel', 'missing symbols'), [
                '<tr><td>%s</td><td class="%s">%s</td><td>%s</td></tr>' % (
                    _e(use), 'ok' if ok else 'bad', 'ready' if ok else 'not ready', _e(' '.join(miss)))
                for use, ok, miss in verdicts]))
        containers = _containers(row)
        if containers:
            parts.append(_table(('container', 'flavor', 'image', 'state', 'address'), [
                '<tr><td>%s</td><td>%s</td><td>%s</td><td class="%s">%s</td><td>%s</td></tr>' % (
                    _e(c.get('name')), _e(c.get('flavor') or ''), _e(c.get('image') or ''),
                    'ok' if c.get('state') == 'running' else 'warn', _e(c.get('state') or ''), _e(c.get('address') or ''))
                for c in containers]))
        packages = row.get('packages') or {}
        if packages:
            parts.append(_table(('package', 'version'), ['<tr><td>%s</td><td>%s</td></tr>' % (_e(n), _e(v))
                                                         for n, v in sorted(packages.items())]))
        parts.append('</section>')
    parts.append('</body></html>')
    return '\n'.join(parts) + '\n'


class FilterModule(object):
    def filters(self):
        return {'fleet_report_markdown': fleet_report_markdown, 'fleet_report_html': fleet_report_html}
