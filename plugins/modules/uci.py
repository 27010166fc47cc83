#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: uci
short_description: Manage UCI sections of one package on a Turris / OpenWrt router
version_added: 0.1.0
description:
  - Creates, updates or removes one section of a UCI package (C(/etc/config/<config>)),
    declaratively, and commits the result the way C(uci commit) does.
  - The section is given by its O(section) name, or, for anonymous sections, by its O(type) and
    the options in O(match) that identify it.
  - Several sections of the same package can be given in O(sections) instead; they are judged
    all before anything is written, applied in order and written at once (one module run, so one
    SSH round trip, however many sections).
  - The file is read and written by a parser and writer byte-compatible with libuci (the
    collection's C(_uci) helper), not by calling the C(uci) program, so it works the same on
    every Turris OS release and reports C(changed) only when the parsed section really
    changes (an equal value never reports C(changed); formatting and comments alone do not
    trigger a rewrite).
  - B(Uncommitted changes.) When another tool left uncommitted changes for the same package in
    O(delta_dir) (C(uci set) without C(uci commit)), they are never committed nor discarded
    silently. With O(commit=true) the module fails, lists them in RV(pending_changes) and writes
    nothing; commit them (C(uci commit <config>)) or revert them (C(uci revert <config>)) first.
    With O(commit=false) the module works on the package as C(uci show) sees it (file plus
    pending changes) and appends its own changes to the delta file, next to the others, for a
    later C(uci commit).
  - When the file is rewritten, it is written like libuci does (comments are not kept), through a
    temporary file C(.<config>.uci-XXXXXX) beside it, flushed to disk, then an atomic rename; the
    file mode and owner are kept (a new package file gets mode C(0600), as with libuci). When
    the write fails (a full disk, a read-only filesystem), the module fails with C(changed=false)
    and the file is as it was.
author:
  - turris.containers contributors (!UNKNOWN)
extends_documentation_fragment:
  - turris.containers._attributes
  - turris.containers._attributes.actiongroup
  - turris.containers._uci
attributes:
  check_mode:
    support: full
    details: Computes the change and the diff; writes nothing.
  diff_mode:
    support: full
    details: The section before and after, in C(uci show) form.
  idempotent:
    support: full
    details: An equal value in another form (V(true) for V(1), V(300) for V('300')) is no change.
options:
  config:
    description:
      - The UCI package (config file name in O(config_dir)), for example V(network) or V(lxc-auto).
      - Letters, digits, underscores and dashes only.
    type: str
    required: true
  section:
    description:
      - Name of the section. Letters, digits and underscores only.
      - Mutually exclusive with O(match).
      - One of O(section) and O(type) is required, unless O(sections) is given.
    type: str
  type:
    description:
      - Type of the section (the word after C(config)).
      - Printable ASCII without blanks, other than C(') C(") C(#) C(;) and a backslash, because libuci
        writes the type unquoted and its parser could not read those back.
      - Required to create a named section; with O(section), a different type is changed.
      - Without O(section), selects the anonymous section of this type whose options equal
        O(match) (all sections of the type when O(match) is empty). More than one candidate is
        an error with O(state=present).
    type: str
  match:
    description:
      - Options that identify an anonymous section of O(type), for example the C(name) option of an
        C(lxc-auto) C(container) section.
      - Values follow the same rules as O(options). A section created because none matched gets
        these options too.
    type: dict
  options:
    description:
      - Options of the section. A list value is a UCI C(list); booleans are written V(1) / V(0),
        numbers as decimal text; V(null), an empty string or an empty list remove the option.
      - Values may hold tabs, newlines and carriage returns (libuci stores them inside the quoted
        value and reads them back); other control characters, NUL included, are refused.
      - With O(state=absent), the names of options to remove (values are ignored); the section
        itself is kept.
    type: dict
    default: {}
  state:
    description:
      - V(present) makes the section exist with O(options).
      - V(absent) removes the section (with O(type) and O(match), every matching section), or only
        the options named in O(options). The package file must exist.
    type: str
    choices: [present, absent]
    default: present
  replace:
    description:
      - Remove the options of the section that are not in O(options) (nor in O(match)).
    type: bool
    default: false
  sections:
    description:
      - Several sections of O(config), each as the single form takes it; instead of O(section),
        O(type), O(match), O(options), O(state) and O(replace) (mutually exclusive with them).
      - Each entry is validated before any is applied; one bad entry writes nothing. Later entries
        see what earlier ones did.
    type: list
    elements: dict
    suboptions:
      section:
        description: As O(section).
        type: str
      type:
        description: As O(type). One of O(sections[].section) and O(sections[].type) is required.
        type: str
      match:
        description: As O(match).
        type: dict
      options:
        description: As O(options).
        type: dict
        default: {}
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
        default: present
      replace:
        description: As O(replace).
        type: bool
        default: false
  commit:
    description:
      - V(true) writes the package file (like C(uci commit)).
      - V(false) only records the change in O(delta_dir) (like C(uci set) without commit).
    type: bool
    default: true
  secret_options:
    description:
      - Names of options whose values are secrets; they are hidden in the diff and the results.
    type: list
    elements: str
    default: []
notes:
  - Anonymous sections are named C(cfgXXYYYY) the way libuci names them when the file is read;
    RV(section) is that name after the change is committed.
seealso:
  - module: turris.containers.uci_info
"""

EXAMPLES = r"""
- name: Container bridge interface
  turris.containers.uci:
    config: network
    section: lxcbr
    type: interface
    options:
      proto: static
      ipaddr: 10.0.3.1
      netmask: 255.255.255.0
      device: br-lxc

- name: Start container c1 at boot (anonymous section found by its name)
  turris.containers.uci:
    config: lxc-auto
    type: container
    match:
      name: c1
    options:
      timeout: 300
      command:
        - /bin/true

- name: Docker globals, nothing but what is listed
  turris.containers.uci:
    config: dockerd
    section: globals
    type: globals
    replace: true
    options:
      data_root: /srv/docker/
      iptables: false
      log_level: warn

- name: Stop starting c2 at boot
  turris.containers.uci:
    config: lxc-auto
    type: container
    match:
      name: c2
    state: absent

- name: A firewall zone and its rules, in one call
  turris.containers.uci:
    config: firewall
    sections:
      - type: zone
        match: {name: lxc}
        options: {network: [lxc], input: REJECT, output: ACCEPT, forward: REJECT}
      - type: rule
        match: {name: Allow-lxc-DNS}
        options: {src: lxc, proto: tcp udp, dest_port: 53, target: ACCEPT}

- name: Stage a change for a later "uci commit" only
  turris.containers.uci:
    config: system
    type: system
    options:
      hostname: turris-lab
    commit: false
"""

RETURN = r"""
sections:
  description: With O(sections), one item per entry, in order, with its RV(section), RV(type), RV(options) and RV(removed).
  returned: when O(sections) is given
  type: list
  elements: dict
  sample: [{section: cfg02cd88, type: zone, options: {name: lxc, input: REJECT}, removed: []}]
section:
  description: >-
    Real name of the section (C(cfgXXYYYY) for an anonymous one, as after the commit); null when nothing matched
    (with O(sections), that of the last entry).
  returned: always
  type: str
  sample: cfg02cd88
type:
  description: Type of the section.
  returned: when a section was found or created
  type: str
  sample: container
options:
  description: Options of the section after the change (lists for UCI lists).
  returned: when a section was found or created
  type: dict
  sample: {name: c1, timeout: '300'}
removed:
  description: Names of the sections removed.
  returned: always
  type: list
  elements: str
  sample: [cfg03cd88]
changes:
  description: The change, as C(uci changes) prints it.
  returned: always
  type: list
  elements: str
  sample: ["lxc-auto.cfg02cd88.timeout='300'"]
pending_changes:
  description: Uncommitted changes other tools left for the package, as C(uci changes) prints them.
  returned: always
  type: list
  elements: str
  sample: ["network.lan.ipaddr='192.168.2.1'"]
config_file:
  description: The package file.
  returned: always
  type: str
  sample: /etc/config/lxc-auto
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turris.containers.plugins.module_utils import _files
from ansible_collections.turris.containers.plugins.module_utils import _uci as uci
from ansible_collections.turris.containers.plugins.module_utils import _validate

HIDDEN = '********'


class UciSection:
    """Decide, then act, for one UCI section."""

    def __init__(self, module):
        self.module = module
        p = module.params
        self.config = p['config']
        self.batch = p['sections'] is not None
        self.commit = p['commit']
        self.config_dir = p['config_dir']
        self.delta_dir = p['delta_dir']
        self.secrets = set(p['secret_options'] or [])
        self.path = os.path.join(self.config_dir, self.config)
        self.result = dict(changed=False, section=None, removed=[], changes=[], pending_changes=[], config_file=self.path)
        # what to do, one item per section: {section, type, match, options, state, replace}
        self.ops = []

    # -- validation (before anything is read or written) ----------------------------------

    def fail(self, msg, **kwargs):
        self.result.update(kwargs)
        self.module.fail_json(msg=msg, **self.result)

    def validate(self):
        if not uci.validate_package(self.config):
            self.fail("Invalid config (package) name %r: UCI package names allow %s." % (self.config, uci.PACKAGE_RULE))
        p = self.module.params
        if not self.batch:
            entries = [dict((k, p[k]) for k in ('section', 'type', 'match', 'options', 'state', 'replace'))]
        elif not p['sections']:
            self.fail("Invalid sections []: give at least one section (or section/type without sections).")
        else:
            entries = p['sections']
        for i, entry in enumerate(entries):
            self.ops.append(self._op(entry, 'sections[%d]: ' % i if self.batch else ''))

    def _op(self, entry, where):
        """One section's wish, judged (``where`` names the entry of O(sections) in messages)."""
        section, type_, state = entry['section'], entry['type'], entry['state']
        if section is not None and not uci.validate_name(section):
            self.fail("%sInvalid section name %r: UCI section names allow %s." % (where, section, uci.NAME_RULE))
        if type_ is not None:
            try:
                _validate.check_uci_type('section type', type_)
            except _validate.ValidationError as exc:
                self.fail("%sInvalid section type %r: a UCI section type must be %s." % (where, type_, exc.allowed))
        match = self._values(entry['match'] or {}, where + 'match')
        if state == 'present':
            options = self._values(entry['options'] or {}, where + 'options')
        else:
            options = dict((k, None) for k in self._names(entry['options'] or {}, where + 'options'))
        return dict(section=section, type=type_, match=match, options=options, state=state, replace=entry['replace'])

    def _names(self, values, what):
        for key in values:
            if not uci.validate_name(key):
                self.fail("Invalid option name %r in %s: UCI option names allow %s." % (key, what, uci.NAME_RULE))
        return list(values)

    def _values(self, values, what):
        self._names(values, what)
        out = {}
        for key, value in values.items():
            try:
                out[key] = uci.normalize_value(value, '%s.%s' % (what, key))
            except ValueError as exc:
                self.fail('Invalid value for option %s' % exc)
            if key in self.secrets:
                self._hide(out[key])
        return out

    def _hide(self, value):
        for item in value if isinstance(value, list) else [value]:
            if item:
                self.module.no_log_values.add(item)

    # -- reading ---------------------------------------------------------------------------

    def load(self):
        if not os.path.isdir(self.config_dir):
            self.fail('The UCI config directory %s does not exist.' % self.config_dir)
        if not os.path.exists(self.path):
            if any(op['state'] == 'absent' for op in self.ops):
                self.fail("UCI package %r does not exist (no file %s): nothing to remove from it; "
                          "check the config name." % (self.config, self.path))
            if not self.commit:
                self.fail("UCI package %r does not exist (no file %s): with commit=false changes can only be "
                          "staged for an existing package." % (self.config, self.path))
            return uci.Package(self.config), False
        try:
            # a FIFO or a device in the config directory would block or never end: refused
            _validate.open_regular('UCI package file', self.path).close()
            pkg = uci.parse_file(self.path, self.config)
        except uci.UciParseError as exc:
            self.fail('Cannot parse the UCI package %s: uci: %s. Fix the file (nothing was written).'
                      % (self.path, exc))
        except (IOError, OSError, _validate.ValidationError) as exc:
            self.fail('Cannot read the UCI package %s: %s' % (self.path, exc))
        try:
            pending = uci.pending_changes(self.config, [self.delta_dir])
        except (IOError, OSError) as exc:
            self.fail('Cannot read the uncommitted changes %s: %s' % (os.path.join(self.delta_dir, self.config), exc))
        self.result['pending_changes'] = [self._change_line(d) for d in pending]
        if pending:
            if self.commit:
                self.fail("UCI package %r has uncommitted changes in %s that this module did not make; it never "
                          "commits nor discards them: run 'uci commit %s' or 'uci revert %s' first, or use "
                          "commit=false to stage this change next to them."
                          % (self.config, os.path.join(self.delta_dir, self.config), self.config, self.config))
            uci.load_delta(pkg, uci.read_delta_file(os.path.join(self.delta_dir, self.config)))
        return pkg, True

    # -- output helpers --------------------------------------------------------------------

    def _masked(self, sec):
        sec = sec.copy()
        for key in sec.options:
            if key in self.secrets:
                sec.options[key] = [HIDDEN for dummy in sec.options[key]] if isinstance(sec.options[key], list) else HIDDEN
        return sec

    def _change_line(self, delta):
        if delta.option in self.secrets and delta.value is not None:
            delta = uci.Delta(delta.cmd, delta.section, delta.option, HIDDEN)
        return delta.to_change_line(self.config)

    def _show(self, sections, names=None):
        lines = []
        for i, sec in enumerate(sections):
            ref = names[i] if names else None
            lines.extend(uci.show_section(self.config, self._masked(sec), ref))
        return ''.join(lines)

    # -- main ------------------------------------------------------------------------------

    def apply(self, pkg, op):
        try:
            if op['state'] == 'present':
                return uci.ensure_section(pkg, name=op['section'], type_=op['type'], match=op['match'],
                                          options=op['options'], replace=op['replace'], track=True)
            return uci.remove_section(pkg, name=op['section'], type_=op['type'], match=op['match'],
                                      options=list(op['options']), track=True)
        except ValueError as exc:
            self.fail(str(exc))
        except uci.UciError as exc:
            self.fail('UCI error on %s: %s' % (self.path, exc))

    def describe(self, pkg, text, res):
        """The result fields of one applied section: its real name (an anonymous one's as libuci
        names it when it reads the committed file), type, options, what was removed."""
        out = dict(section=None, removed=[s.name for s in res.removed])
        if res.section is not None:
            real_name = res.section.name
            if self.commit and res.section.anonymous and res.section in pkg.sections:
                real_name = uci.parse(text, self.config).sections[pkg.sections.index(res.section)].name
            after = self._masked(res.section)
            out.update(section=real_name, type=after.type, options=after.as_dict()['options'])
        elif res.removed:
            out['section'] = res.removed[-1].name
        return out

    def run(self):
        self.validate()
        pkg, exists = self.load()
        applied = [self.apply(pkg, op) for op in self.ops]
        text = pkg.export(header=False)
        described = [self.describe(pkg, text, res) for res in applied]
        self.result.update(described[-1])
        if self.batch:
            self.result['sections'] = described
            self.result['removed'] = [name for d in described for name in d['removed']]
        changed = any(res.changed for res in applied)
        self.result['changes'] = [self._change_line(d) for d in pkg.delta]
        self.result['changed'] = changed

        if self.module._diff:
            before, after = [], []
            for res, d in zip(applied, described):
                before.append(self._show(res.before))
                after_secs = res.after if res.section is not None else []
                after.append(self._show(after_secs, [d['section']] * len(after_secs) if d['section'] and res.section is not None else None))
            self.result['diff'] = dict(
                before=''.join(before), after=''.join(after),
                before_header='%s (%s)' % (self.path, 'absent' if not exists else 'present'),
                after_header=self.path)

        if changed and not self.module.check_mode:
            try:
                if self.commit:
                    uci.write_package(self.config_dir, self.config, text)
                else:
                    uci.save_delta(pkg, self.delta_dir, self.config_dir)
            except _files.FileWriteError as exc:
                self.result['changed'] = False
                self.fail('UCI package %r was not changed: %s.' % (self.config, exc))
            except (IOError, OSError) as exc:
                self.result['changed'] = False
                self.fail('UCI package %r was not changed: cannot write %s: %s.'
                          % (self.config, os.path.join(self.delta_dir, self.config), exc.strerror or exc))
        self.module.exit_json(**self.result)


def section_spec():
    """The arguments that name one section and say what to do with it: the single form's, and
    each entry's of ``sections``."""
    return dict(
        section=dict(type='str'),
        type=dict(type='str'),
        match=dict(type='dict'),
        options=dict(type='dict', default={}),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        replace=dict(type='bool', default=False),
    )


# the rules of one section's arguments (the single form's and each entry's of sections)
SECTION_RULES = dict(mutually_exclusive=[('section', 'match')], required_by={'match': 'type'})


def main():
    argument_spec = section_spec()
    argument_spec.update(
        config=dict(type='str', required=True),
        sections=dict(type='list', elements='dict', options=section_spec(), required_one_of=[('section', 'type')],
                      **SECTION_RULES),
        commit=dict(type='bool', default=True),
        secret_options=dict(type='list', elements='str', default=[], no_log=False),
        config_dir=dict(type='path', default='/etc/config'),
        delta_dir=dict(type='path', default='/tmp/.uci'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=SECTION_RULES['mutually_exclusive'] + [('sections', k) for k in ('section', 'type', 'match', 'options')],
        required_one_of=[('section', 'type', 'sections')],
        required_by=SECTION_RULES['required_by'],
        supports_check_mode=True,
    )
    UciSection(module).run()


if __name__ == '__main__':
    main()
