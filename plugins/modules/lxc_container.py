#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: lxc_container
short_description: Manage one LXC container on a Turris router with the lxc-* tools
version_added: 0.1.0
description:
  - Creates, configures, starts, stops, freezes and removes one LXC system container by driving
    the C{lxc-*} command line tools, as Turris OS and OpenWrt ship them (they do not build the
    Python LXC bindings).
  - Creates containers from an image server with the C{download} template (the Turris image server
    or a mirror), with the C{busybox} template, from local image tarballs (C{local}), or around an
    existing root filesystem (C{none}).
  - Keeps container config keys without duplicates, sets the first network interface and cgroup
    limits (cgroup v1 or v2 keys, whichever the router runs), registers the container in
    C{/etc/config/lxc-auto} to start it at boot, and runs commands in it with C{/bin/sh}.
  - Everything is validated and decided first (pure functions of C(_lxc)), then done. Values that
    end up in the config file, on a command line or in a cache path (names, interface names, image
    names, config keys and values) are refused with a control character in them, naming the option.
  - When a write fails (a full disk, a read-only filesystem) the module fails naming the file, which
    is as it was; C(changed) is false unless something was done before.
author:
  - turris.containers contributors (!UNKNOWN)
extends_documentation_fragment:
  - turris.containers._files
  - turris.containers._attributes
  - turris.containers._attributes.actiongroup
attributes:
  check_mode:
    support: full
    details: Nothing is created, written, started or run; C(changed) and the diff say what would be done.
  diff_mode:
    support: full
    details: Shows the container config file and the lxc-auto entry before and after.
  idempotent:
    support: partial
    details:
      - O(state=restarted) restarts on every run, and O(command) without O(creates) runs on every run.
options:
  name:
    description:
      - Container name; 1 to 63 characters from C(A-Z a-z 0-9 _ . -), starting with a letter or digit.
    type: str
    required: true
  state:
    description:
      - C(present) creates the container and keeps its config, leaving it running or not as it is.
      - C(started), C(stopped), C(frozen) also bring it to that run state; C(restarted) stops
        (when running) and starts it on every run.
      - C(absent) stops and destroys it and removes its lxc-auto entry. A root filesystem outside
        the container directory (O(template=none) with O(rootfs)) is kept.
      - A running container whose config changed is restarted when O(state=started) or O(state=frozen).
    type: str
    choices: [present, started, stopped, restarted, frozen, absent]
    default: started
  lxc_path:
    description:
      - Directory holding the containers (C(-P) of the lxc tools).
      - Default is what C(lxc-config lxc.lxcpath) says (C(/srv/lxc) on Turris OS).
    type: path
  template:
    description:
      - How a missing container is created; ignored when it exists.
      - C(download) fetches O(image) from an image server; C(busybox) builds a busybox container from
        the router's busybox; C(local) unpacks O(local_image); C(none) uses the root filesystem at O(rootfs).
    type: str
    choices: [download, busybox, local, none]
    default: download
  image:
    description: The image for O(template=download).
    type: dict
    suboptions:
      dist:
        description:
          - Distribution, exactly as the server names it (case-sensitive) - C(Debian), C(Turris_OS), C(Ubuntu), C(Alpine)
            on repo.turris.cz/lxc; C(debian), C(alpine), ... on images.linuxcontainers.org.
          - The C(turris.containers.lxc_image) filter finds the server's spelling from another one.
        type: str
        required: true
      release:
        description: Release, exactly as the server names it (C(Bookworm), C(stable) on repo.turris.cz/lxc; C(bookworm) on images.linuxcontainers.org).
        type: str
        required: true
      arch:
        description:
          - Image architecture. Default is the router's (C(uname -m)) in the server's naming
            (C(armv7l), C(aarch64), C(ppc) on Turris's server; C(armhf), C(arm64), C(amd64),
            C(powerpc) on images.linuxcontainers.org and other servers).
        type: str
      variant:
        description: Image variant.
        type: str
        default: default
      server:
        description:
          - Image server as C(host[:port][/path]) (an C(https://) prefix is accepted). The stock template
            of LXC 4 and later fetches over HTTPS only.
          - Default is what the router's download template uses (C(uci get lxc.lxc.url) on Turris OS,
            otherwise the template's built-in server).
        type: str
      validate:
        description:
          - Verify image signatures. Only templates with GPG checking (LXC 3 and older) can skip it
            (C(--no-validate)); newer ones rely on HTTPS and ignore this.
        type: bool
        default: true
  local_image:
    description: The image tarballs for O(template=local), as the download template's server serves them.
    type: dict
    suboptions:
      rootfs:
        description: Path on the router of the root filesystem tarball (C(rootfs.tar.xz)).
        type: path
        required: true
      metadata:
        description: Path on the router of the metadata tarball (C(meta.tar.xz)).
        type: path
        required: true
  rootfs:
    description:
      - For O(template=none), an existing root filesystem directory for the container (C(lxc.rootfs.path)).
        Default is C(rootfs) in the container directory.
    type: path
  config:
    description:
      - LXC config keys (see C(lxc.container.conf(5))) mapped to a value or a list of values.
        Each key is written once, with exactly these values; an empty list removes the key.
      - Keys not named are left alone unless O(replace_config=true).
    type: dict
  replace_config:
    description:
      - Remove every config key not set by O(config), O(network) or the limits, except
        C(lxc.rootfs.path), C(lxc.uts.name) and C(lxc.include).
    type: bool
    default: false
  network:
    description:
      - The first network interface (C(lxc.net.0.*)). The keys below are managed together;
        options left out are removed from the config. Other C(lxc.net.0) keys and other
        interfaces can be set with O(config).
      - Validated before anything is written.
    type: dict
    suboptions:
      type:
        description: Interface type.
        type: str
        choices: [veth, macvlan, vlan, phys, empty, none]
        default: veth
      link:
        description: Host interface, the bridge for C(veth) (C(br-lan) on Turris).
        type: str
      name:
        description: Interface name in the container. Default C(eth0) (except for C(empty) and C(none)).
        type: str
      flags:
        description: Interface flags. Default C(up) (except for C(empty) and C(none)).
        type: str
      hwaddr:
        description: MAC address, unicast; C(xx) octets are filled randomly by LXC.
        type: str
      mtu:
        description: MTU.
        type: int
      ipv4:
        description: IPv4 address with prefix length, for example C(192.168.1.10/24).
        type: str
      ipv4_gateway:
        description: IPv4 gateway in the O(network.ipv4) network, or C(auto) (the bridge's address).
        type: str
  memory_limit:
    description:
      - Memory limit, in bytes or with a K, M, G or T suffix (binary units).
      - Written as C(lxc.cgroup.memory.limit_in_bytes) under cgroup v1 or C(lxc.cgroup2.memory.max)
        under cgroup v2, as the router runs; the other version's key is removed.
    type: str
  memory_swap_limit:
    description:
      - Memory plus swap limit (needs O(memory_limit)); C(memory.memsw.limit_in_bytes) (v1) or
        C(memory.swap.max) set to the difference (v2).
    type: str
  cpu_shares:
    description:
      - Relative CPU weight, 2 to 262144 (1024 is the default); C(cpu.shares) (v1) or the equivalent
        C(cpu.weight) (v2).
    type: int
  cpus:
    description: CPUs the container may use, for example C(0-1) or C(1); C(cpuset.cpus).
    type: str
  pids_limit:
    description: Maximum number of processes; C(pids.max).
    type: int
  autostart:
    description:
      - Whether the container has an entry in O(lxc_auto_path) (C(config container) with C(option name)),
        which C(/etc/init.d/lxc-auto) starts at boot. Not given means leave as it is.
      - Removing the container removes the entry.
    type: bool
  autostart_timeout:
    description: Seconds C(/etc/init.d/lxc-auto) waits for the container to stop (C(option timeout)).
    type: int
  autostart_commands:
    description: Commands C(/etc/init.d/lxc-auto) runs on the router before starting the container (C(list command)).
    type: list
    elements: str
  lxc_auto_path:
    description:
      - The lxc-auto UCI file. The entry also records O(lxc_path) (C(option lxcpath)) when it is not the default.
    type: path
    default: /etc/config/lxc-auto
  stop_timeout:
    description: Seconds to wait for a clean shutdown before the container is killed.
    type: int
    default: 30
  command:
    description:
      - A script run in the container by C(/bin/sh) through C(lxc-attach) after it reached its
        state (needs O(state=started) or O(state=restarted)). A non-zero exit fails the task.
      - The script reaches the container's shell on its standard input, never on a command line
        (nothing of it shows in the process list of the router or of the container). The shell
        reads it whole before running it, and the script's own commands read C(/dev/null).
      - Runs every time unless O(creates) is given.
    type: str
  files:
    description:
      - Files written into the container's root filesystem (a directory root filesystem, seen from
        the router) after its config and before it changes state, each atomically; missing parent
        directories are made (mode 0755). A path that leaves the root filesystem (C(..), or a
        symbolic link of the container pointing out of it) is refused before anything is written.
      - One call writes them all; the diff shows each file, a secret one only as changed or not.
      - Paths, owners and groups are the container's.
  creates:
    description: A path in the container; when it exists, O(command) is not run.
    type: str
notes:
  - Needs the C(lxc-*) tools (Turris OS packages C(lxc), or C(lxc-create), C(lxc-start), ... one by one).
  - Image servers used by the stock template must speak HTTPS with a certificate the router's
    C(wget) trusts.
seealso:
  - module: turris.containers.uci
'''

EXAMPLES = r'''
- name: Debian container from the Turris image server, started at boot
  turris.containers.lxc_container:
    name: debian1
    template: download
    image:
      dist: Debian
      release: Bookworm
    network:
      link: br-lan
      ipv4: 192.168.1.50/24
      ipv4_gateway: 192.168.1.1
    memory_limit: 512M
    cpu_shares: 512
    autostart: true
    autostart_timeout: 60

- name: Busybox container, frozen
  turris.containers.lxc_container:
    name: tiny
    template: busybox
    state: frozen

- name: Keep exactly these extra keys, drop the rest
  turris.containers.lxc_container:
    name: debian1
    state: present
    replace_config: true
    config:
      lxc.include: /usr/share/lxc/config/common.conf
      lxc.mount.entry:
        - /srv/data srv/data none bind,create=dir 0 0
        - /srv/logs var/log none bind,create=dir 0 0

- name: Install SSH once
  turris.containers.lxc_container:
    name: debian1
    command: apt-get update && apt-get install -y openssh-server
    creates: /usr/sbin/sshd

- name: Remove it (and its lxc-auto entry)
  turris.containers.lxc_container:
    name: debian1
    state: absent
'''

RETURN = r'''
lxc_container:
  description: The container after the task (what it would be, in check mode).
  returned: always
  type: dict
  contains:
    name:
      description: Container name.
      type: str
      sample: debian1
    state:
      description: C(running), C(stopped), C(frozen) or C(absent).
      type: str
      sample: running
    ips:
      description: IP addresses of a running container.
      type: list
      elements: str
      sample: [192.168.1.50]
    pid:
      description: PID of the container's init on the router, when running.
      type: int
      sample: 4242
    config_path:
      description: Path of the container's config file.
      type: str
      sample: /srv/lxc/debian1/config
    rootfs:
      description: Path of the container's root filesystem.
      type: str
      sample: /srv/lxc/debian1/rootfs
    lxc_path:
      description: Directory holding the containers.
      type: str
      sample: /srv/lxc
actions:
  description: What was done (or would be), in order.
  returned: always
  type: list
  elements: str
  sample: [create, configure, start]
rc:
  description: Exit status of O(command).
  returned: when O(command) ran
  type: int
  sample: 0
stdout:
  description: Standard output of O(command).
  returned: when O(command) ran
  type: str
  sample: ''
stderr:
  description: Standard error of O(command).
  returned: when O(command) ran
  type: str
  sample: ''
'''

import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.turris.containers.plugins.module_utils import _file_specs
from ansible_collections.turris.containers.plugins.module_utils import _files
from ansible_collections.turris.containers.plugins.module_utils import _lxc as lxc
from ansible_collections.turris.containers.plugins.module_utils import _validate

TEMPLATES_DIRS = ('/usr/share/lxc/templates', '/usr/lib/lxc/templates')
C_ENV = dict(LANG='C', LC_ALL='C', LC_MESSAGES='C')
LIMIT_OPTIONS = ('memory_limit', 'memory_swap_limit', 'cpu_shares', 'cpus', 'pids_limit')


class LxcContainer(object):
    """Reads the router, lets ``_lxc`` decide, acts. ``acted`` records that something was really
    done, so that a later failure still reports ``changed``."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.check = module.check_mode
        self.name = self.p['name']
        self.actions = []
        self.diffs = []
        self.result = {}
        self.acted = False
        self.plan = None

    # ----------------------------------------------------------------- helpers
    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, actions=self.actions, changed=self.acted, **kwargs)

    def bin(self, tool):
        path = self.module.get_bin_path(tool)
        if not path:
            self.fail("%s not found on the router: install the lxc package (Turris OS: package %s)" % (tool, tool))
        return path

    def run(self, tool, args, check_rc=True, **kwargs):
        cmd = [self.bin(tool)] + list(args)
        rc, out, err = self.module.run_command(cmd, environ_update=C_ENV, **kwargs)
        if check_rc and rc != 0:
            self.fail("%s failed (rc %d): %s" % (' '.join(cmd), rc, lxc.tail(err or out)), rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def lxc_args(self):
        return ['-n', self.name, '-P', self.lxc_path]

    @staticmethod
    def read(path):
        try:
            with open(path, 'r') as f:
                return f.read()
        except (IOError, OSError):
            return None

    def write(self, path, text, new_mode=None):
        try:
            _files.write_atomic(path, text, new_mode=new_mode)
        except _files.FileWriteError as e:
            self.fail(to_native(e))
        self.acted = True

    # ----------------------------------------------------------------- validation (nothing touched yet)
    def validate(self):
        p = self.p
        # first of all: a secret file's content is masked in every result and message, refusals included
        for f in p['files'] or ():
            if f.get('secret') and f.get('content'):
                self.module.no_log_values.add(f['content'])
        try:
            lxc.check_name(self.name)
            for field in ('lxc_path', 'rootfs', 'creates', 'lxc_auto_path'):
                lxc.check_text(field, p[field])
            lxc.check_image(p['image'])
            self.files = _file_specs.check(p['files'])
            self.desired = lxc.normalize_config(p['config'])
            self.desired.update(lxc.network_keys(p['network']))
            limits = dict((k, p[k]) for k in LIMIT_OPTIONS if p[k] is not None)
            if limits:
                self.desired.update(lxc.limit_keys(limits, lxc.cgroup_version(self.read('/proc/self/mounts') or '')))
            if p['template'] == 'none' and p['rootfs']:
                self.desired.setdefault('lxc.rootfs.path', ['dir:%s' % p['rootfs']])
            # the lxc-auto options are checked now, not when the entry is written
            lxc.autostart_plan(None, self.name, None, p['autostart_timeout'], p['autostart_commands'])
        except (lxc.LxcError, _validate.ValidationError) as e:
            self.fail(to_native(e))
        if p['files'] and p['state'] == 'absent':
            self.fail("files are written into an existing container: give state=present, started, stopped, ... not absent")
        if p['command'] is not None and p['state'] not in ('started', 'restarted'):
            self.fail("command needs state=started or state=restarted (the container must run), not state=%s" % p['state'])
        if p['creates'] is not None and p['command'] is None:
            self.fail("creates is a guard for command: give command too")
        if p['state'] != 'absent' and p['template'] == 'none' and p['rootfs'] and not os.path.isdir(p['rootfs']):
            self.fail("rootfs %s is not a directory (template=none uses an existing root filesystem)" % p['rootfs'])
        if p['autostart_timeout'] is not None and p['autostart_timeout'] < 0:
            self.fail("autostart_timeout %d must be 0 or more seconds" % p['autostart_timeout'])

    def resolve_lxc_path(self):
        self.default_lxc_path = None
        if self.module.get_bin_path('lxc-config'):
            rc, out, dummy = self.run('lxc-config', ['lxc.lxcpath'], check_rc=False)
            if rc == 0 and out.strip():
                self.default_lxc_path = out.strip()
        path = self.p['lxc_path'] or self.default_lxc_path
        if not path:
            self.fail("lxc_path not given and lxc-config lxc.lxcpath gave nothing: give lxc_path")
        self.lxc_path = path.rstrip('/') or '/'
        self.container_dir = os.path.join(self.lxc_path, self.name)
        self.config_path = os.path.join(self.container_dir, 'config')

    # ----------------------------------------------------------------- reading the router
    def info(self):
        if not os.path.isfile(self.config_path):
            return {'state': 'absent', 'pid': None, 'ips': []}
        rc, out, err = self.run('lxc-info', self.lxc_args() + ['-s', '-p', '-i', '-H'], check_rc=False)
        info = lxc.parse_info(out)
        if rc != 0 or not info['state']:
            self.fail("lxc-info could not read container %s: %s" % (self.name, lxc.tail(err or out)))
        return info

    def find_template(self, name):
        for d in TEMPLATES_DIRS:
            path = os.path.join(d, 'lxc-%s' % name)
            if os.path.isfile(path):
                return path
        self.fail("LXC template %s not found in %s: install lxc-templates" % (name, ', '.join(TEMPLATES_DIRS)))

    def configured_server(self):
        """Turris OS's download template reads lxc.lxc.url: so does the module."""
        if not self.module.get_bin_path('uci'):
            return None
        rc, out, dummy = self.run('uci', ['-q', 'get', 'lxc.lxc.url'], check_rc=False)
        return out.strip() if rc == 0 else None

    def image_offer(self):
        """What the server lists, through the template itself (same URL, same TLS trust)."""
        cmd = [self.plan['template_path'], '--list', '--server', self.plan['server']]
        dummy, out, dummy2 = self.module.run_command(cmd, environ_update=C_ENV)
        rows = lxc.parse_image_list(out)
        return rows if rows or 'DIST' in out else None

    def lxc_auto_plan(self, remove=False):
        p = self.p
        try:
            return lxc.autostart_plan(
                self.read(p['lxc_auto_path']), self.name, p['autostart'], p['autostart_timeout'],
                p['autostart_commands'], lxc.lxcpath_option(self.lxc_path, self.default_lxc_path),
                remove=remove, package=os.path.basename(p['lxc_auto_path']))
        except lxc.LxcError as e:
            self.fail(to_native(e))

    # ----------------------------------------------------------------- creation
    def create_args(self):
        t = self.p['template']
        args = self.lxc_args() + ['-t', t]
        if t == 'download':
            if not self.p['image']:
                self.fail("template=download needs image (dist, release, ...)")
            path = self.find_template('download')
            try:
                self.plan = lxc.download_plan(self.p['image'], path, self.read(path), os.uname()[4],
                                              None if self.p['image'].get('server') else self.configured_server())
            except lxc.LxcError as e:
                self.fail(to_native(e))
            args += ['--'] + self.plan['args']
        elif t == 'local':
            local = self.p['local_image']
            if not local:
                self.fail("template=local needs local_image (rootfs and metadata tarballs)")
            for key in ('rootfs', 'metadata'):
                if not os.path.isfile(local[key]):
                    self.fail("local_image.%s %s is not a file" % (key, local[key]))
            self.find_template('local')
            args += ['--', '--fstree', local['rootfs'], '--metadata', local['metadata']]
        elif t == 'busybox':
            self.find_template('busybox')
        return args

    def create(self, args):
        existed = os.path.exists(self.container_dir)
        rc, out, err = self.run('lxc-create', args, check_rc=False)
        if rc == 0 and os.path.isfile(self.config_path):
            self.acted = True
            return
        # lxc-create removes what it made on failure; make sure nothing is left half-made
        if not existed and os.path.exists(self.container_dir):
            self.run('lxc-destroy', self.lxc_args() + ['-f'], check_rc=False)
            if os.path.exists(self.container_dir):
                shutil.rmtree(self.container_dir, ignore_errors=True)
        both = '%s\n%s' % (out, err)
        if "Couldn't find a matching image" in both and self.p['template'] == 'download':
            self.fail(lxc.image_missing_msg(self.p['image'], self.plan, self.image_offer()), rc=rc, stdout=out, stderr=err)
        self.fail("creating container %s with template %s failed (rc %d): %s"
                  % (self.name, self.p['template'], rc, lxc.tail(both)), rc=rc, stdout=out, stderr=err)

    def check_image_offered(self):
        """In check mode: would the download find the image? (reads the server's index only)"""
        offer = self.image_offer()
        if offer is None:
            self.fail("could not read the image list of server %s (%s --list): the download would fail"
                      % (self.plan['server'], self.plan['template_path']))
        if not lxc.image_offered(offer, self.p['image'], self.plan['arch']):
            self.fail(lxc.image_missing_msg(self.p['image'], self.plan, offer))

    # ----------------------------------------------------------------- run states
    def start(self):
        own_log = (lxc.config_values(self.read(self.config_path) or '').get('lxc.log.file') or [None])[-1]
        if own_log:
            # the container keeps its own log: read what this start adds to it
            args, log = [], own_log
            offset = os.path.getsize(log) if os.path.isfile(log) else 0
        else:
            fd, log = tempfile.mkstemp(prefix='lxc-start-', dir=self.module.tmpdir)
            os.close(fd)
            args, offset = ['-o', log, '-l', 'INFO'], 0
        rc, out, err = self.run('lxc-start', self.lxc_args() + ['-d'] + args, check_rc=False)
        if rc == 0:
            rc = 0 if self.wait_state('running') else 1
        if rc != 0:
            text = (self.read(log) or '')[offset:]
            self.fail("starting container %s failed: %s" % (self.name, lxc.log_errors(text, err)),
                      rc=rc, stdout=out, stderr=err)

    def stop(self):
        if self.info()['state'] == 'frozen':
            self.run('lxc-unfreeze', self.lxc_args())
        self.run('lxc-stop', self.lxc_args() + ['-t', str(self.p['stop_timeout'])])

    def wait_state(self, state, seconds=10):
        deadline = time.time() + seconds
        while True:
            if self.info()['state'] == state:
                return True
            if time.time() > deadline:
                return False
            time.sleep(0.2)

    def do(self, step):
        if step == 'start':
            self.start()
        elif step == 'stop':
            self.stop()
        elif step == 'restart':
            self.stop()
            self.start()
        elif step == 'freeze':
            self.run('lxc-freeze', self.lxc_args())
            self.wait_state('frozen')
        elif step == 'unfreeze':
            self.run('lxc-unfreeze', self.lxc_args())
            self.wait_state('running')
        self.acted = True

    # ----------------------------------------------------------------- command
    def attach(self, argv, data=None):
        args = self.lxc_args() + ['--clear-env', '-v', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                                  '-v', 'HOME=/root', '--'] + argv
        if data is None:
            return self.run('lxc-attach', args, check_rc=False)
        return self.run('lxc-attach', args, check_rc=False, data=data, binary_data=True)

    def command_needed(self):
        if self.p['creates'] is None:
            return True
        rc, dummy, dummy2 = self.attach(['/bin/sh', '-c', 'test -e "$1"', 'sh', self.p['creates']])
        return rc != 0

    # ----------------------------------------------------------------- main flow
    def absent(self):
        info = self.info()
        changed = False
        before_cfg = self.read(self.config_path)
        auto = self.lxc_auto_plan(remove=True)
        self.diffs.append((self.config_path, (before_cfg or '') if info['state'] != 'absent' else '', ''))
        if info['state'] != 'absent':
            changed = True
            self.actions.append('destroy')
            if not self.check:
                rootfs = lxc.rootfs_path(before_cfg or '')
                if rootfs and not os.path.realpath(rootfs).startswith(os.path.realpath(self.container_dir) + os.sep):
                    # lxc-destroy deletes lxc.rootfs.path: keep a root filesystem that is not ours
                    self.write(self.config_path, lxc.update_config(before_cfg, {'lxc.rootfs.path': []}))
                if info['state'] == 'frozen':
                    self.run('lxc-unfreeze', self.lxc_args())
                self.run('lxc-destroy', self.lxc_args() + ['-f'])
                self.acted = True
        if auto[0]:
            changed = True
            self.actions.append('autostart')
            self.diffs.append((self.p['lxc_auto_path'], auto[2], auto[3]))
            if not self.check:
                self.write_lxc_auto(auto[1])
        self.finish(changed, {'state': 'absent', 'pid': None, 'ips': []})

    def write_lxc_auto(self, text):
        directory = os.path.dirname(self.p['lxc_auto_path'])
        if not os.path.isdir(directory):
            try:
                os.makedirs(directory, 0o755)
            except OSError as e:
                self.fail("cannot create %s: %s" % (directory, e.strerror))
        self.write(self.p['lxc_auto_path'], text, new_mode=0o644)

    def present(self):
        info = self.info()
        exists = info['state'] != 'absent'
        changed = False
        if not exists:
            args = self.create_args()
            changed = True
            self.actions.append('create')
            if not self.check:
                self.create(args)
                info = self.info()
            elif self.p['template'] == 'download':
                self.check_image_offered()
        # decide everything else from what is there now, then act
        current = self.read(self.config_path) or ''
        new = lxc.update_config(current, self.desired, replace=self.p['replace_config'])
        config_changed = new != current
        auto = self.lxc_auto_plan()
        steps = lxc.transition(self.p['state'], info['state'] if exists else 'stopped', config_changed and exists)
        self.diffs.append((self.config_path, current if exists else '', new))
        if config_changed:
            self.actions.append('configure')
        if auto[0]:
            self.actions.append('autostart')
            self.diffs.append((self.p['lxc_auto_path'], auto[2], auto[3]))
        self.actions.extend(steps)
        changed = changed or config_changed or auto[0] or bool(steps)
        if not self.check:
            if config_changed:
                self.write(self.config_path, new)
            if auto[0]:
                self.write_lxc_auto(auto[1])
        if self.files:
            changed = self.put_files(new, exists or not self.check) or changed
        if not self.check:
            for step in steps:
                self.do(step)
        if self.p['command'] is not None:
            # in check mode only a running container can be asked (lxc-attach waits forever on a frozen one)
            ask = not self.check or (exists and info['state'] == 'running')
            if not ask or self.command_needed():
                changed = True
                self.actions.append('command')
                if not self.check:
                    self.run_command()
        final = lxc.expected_info(self.p['state'], exists, info) if self.check else self.info()
        self.finish(changed, final, rootfs_text=new)

    # ----------------------------------------------------------------- files
    def rootfs_dir(self, config_text):
        rootfs = lxc.rootfs_path(config_text or '') or os.path.join(self.container_dir, 'rootfs')
        return rootfs

    def put_files(self, config_text, rootfs_exists):
        """Decide each file from what the root filesystem holds, then write the changed ones.
        Returns whether any changed. In check mode a container still to be made has none."""
        rootfs = self.rootfs_dir(config_text)
        if rootfs_exists and not os.path.isdir(rootfs):
            self.fail("files need a directory root filesystem; container %s has %s" % (self.name, rootfs))
        try:
            todo = _file_specs.changes(self.files, rootfs, exists=rootfs_exists)
        except (_validate.ValidationError, OSError) as e:
            self.fail(to_native(e))
        self.diffs.extend((_file_specs.header(spec, self.name + ':'), before, after) for spec, dummy, before, after in todo)
        if todo:
            self.actions.append('files')
        if todo and not self.check:
            for spec, host, dummy, dummy2 in todo:
                try:
                    _file_specs.write(spec, host, rootfs)
                except (_files.FileWriteError, _validate.ValidationError) as e:
                    self.fail("in container %s: %s" % (self.name, to_native(e)))
                self.acted = True
        return bool(todo)

    def run_command(self):
        # The script goes on stdin, read whole before it runs (a command of it that reads stdin
        # gets /dev/null, not the rest of the script): argv holds only this fixed wrapper.
        rc, out, err = self.attach(list(lxc.STDIN_SCRIPT_ARGV), data=self.p['command'] + '\n')
        self.acted = True
        self.result.update(rc=rc, stdout=out, stderr=err)
        if rc != 0:
            self.fail("command failed in container %s (rc %d): %s" % (self.name, rc, lxc.tail(err or out)),
                      rc=rc, stdout=out, stderr=err)

    def finish(self, changed, info, rootfs_text=None):
        rootfs = lxc.rootfs_path(rootfs_text or '') if rootfs_text else None
        if rootfs is None and info['state'] != 'absent':
            rootfs = os.path.join(self.container_dir, 'rootfs')
        container = {
            'name': self.name, 'state': info['state'], 'ips': info['ips'], 'pid': info['pid'],
            'config_path': self.config_path if info['state'] != 'absent' else None,
            'rootfs': rootfs, 'lxc_path': self.lxc_path,
        }
        self.result.update(changed=changed, lxc_container=container, actions=self.actions)
        if self.module._diff:
            self.result['diff'] = [dict(before_header=path, after_header=path, before=before, after=after)
                                   for path, before, after in self.diffs]
        self.module.exit_json(**self.result)

    def main(self):
        self.validate()
        self.resolve_lxc_path()
        if self.p['state'] == 'absent':
            self.absent()
        else:
            self.present()


def main():
    network_spec = dict(
        type=dict(type='str', default='veth', choices=list(lxc.NETWORK_TYPES)),
        link=dict(type='str'),
        name=dict(type='str'),
        flags=dict(type='str'),
        hwaddr=dict(type='str'),
        mtu=dict(type='int'),
        ipv4=dict(type='str'),
        ipv4_gateway=dict(type='str'),
    )
    image_spec = dict(
        dist=dict(type='str', required=True),
        release=dict(type='str', required=True),
        arch=dict(type='str'),
        variant=dict(type='str', default='default'),
        server=dict(type='str'),
        validate=dict(type='bool', default=True),
    )
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='started', choices=list(lxc.STATES)),
            lxc_path=dict(type='path'),
            template=dict(type='str', default='download', choices=['download', 'busybox', 'local', 'none']),
            image=dict(type='dict', options=image_spec),
            local_image=dict(type='dict', options=dict(rootfs=dict(type='path', required=True),
                                                       metadata=dict(type='path', required=True))),
            rootfs=dict(type='path'),
            config=dict(type='dict'),
            replace_config=dict(type='bool', default=False),
            network=dict(type='dict', options=network_spec),
            memory_limit=dict(type='str'),
            memory_swap_limit=dict(type='str'),
            cpu_shares=dict(type='int'),
            cpus=dict(type='str'),
            pids_limit=dict(type='int'),
            autostart=dict(type='bool'),
            autostart_timeout=dict(type='int'),
            autostart_commands=dict(type='list', elements='str'),
            lxc_auto_path=dict(type='path', default='/etc/config/lxc-auto'),
            stop_timeout=dict(type='int', default=30),
            command=dict(type='str'),
            creates=dict(type='str'),
            files=_file_specs.argument_spec(),
        ),
        supports_check_mode=True,
    )
    LxcContainer(module).main()


if __name__ == '__main__':
    main()
