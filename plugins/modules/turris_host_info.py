#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turris.containers contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: turris_host_info
short_description: Read in one call what the roles need to know about a Turris router
version_added: 0.2.0
description:
  - Returns, from one run on the router, its board, its kernel's readiness for LXC and Docker,
    the installed opkg packages, the file system and free space of storage paths, the LXC image
    server and C(lxc.lxcpath), the cgroup hierarchies still to mount, the UCI packages the
    C(lxc_host) and C(docker) roles manage, the boot-time start and process of their services,
    and the Docker daemon's own view of itself.
  - Each part is read the way the collection's other plugins read it (C(turris_identity) for the
    board, M(turris.containers.kernel_config_info) for the kernel, the C(uci) module's parser for
    UCI files), so the roles can decide from this one result and call a writing module only
    where something differs.
  - Reads files; runs nothing but C(docker info) and C(docker image ls) (only when the C(docker)
    part is gathered and C(dockerd) runs) and one C(lxc-ls) for all containers (the C(containers) part).
  - The image server's list of images is read by M(turris.containers.lxc_image_info).
author:
  - turris.containers contributors (@turris-containers)
options:
  gather:
    description:
      - The parts to read; the others come back null (or empty).
    type: list
    elements: str
    choices: [identity, kernel, cgroups, packages, storage, files, lxc, uci, services, docker, containers]
    default: [identity, kernel, cgroups, packages, storage, files, lxc, uci, services, docker, containers]
  storage_paths:
    description:
      - Paths (existing or to be created) whose file system and free space to report under
        RV(storage).
    type: list
    elements: path
    default: []
  files:
    description:
      - Small text files (up to 64 KiB) whose content, mode and owner to return under RV(files),
        for a role to compare with what it would write.
    type: list
    elements: path
    default: []
  uci_packages:
    description:
      - UCI packages (files of C(/etc/config)) to return under RV(uci).
    type: list
    elements: str
    default: [network, firewall, lxc, lxc-auto, dockerd]
  services:
    description:
      - procd services whose init script, boot-time start and process to report under
        RV(services). The process is looked for under the service's name.
    type: list
    elements: str
    default: [dockerd, lxc-auto]
  kernel_config_path:
    description:
      - Kernel configuration to judge instead of the running kernel's (as O(turris.containers.kernel_config_info#module:path)).
    type: path
  board:
    description:
      - The Turris board, for the kernel verdicts (as O(turris.containers.kernel_config_info#module:board)).
        Default the board this module recognises.
    type: str
    choices: [turris1x, omnia, mox]
  lxc_path:
    description:
      - Where the containers live, for RV(containers). Default C(lxc.lxcpath) of C(/etc/lxc/lxc.conf), else C(/srv/lxc).
    type: path
  root:
    description:
      - The router's root file system; every file is read under it (for images and tests).
        C(docker) and C(lxc-ls) are asked only when it is C(/).
    type: path
    default: /
extends_documentation_fragment:
  - turris.containers._attributes
  - turris.containers._attributes.info_module
  - turris.containers._attributes.actiongroup
notes:
  - A part that cannot be read (no kernel configuration, no C(/proc/cgroups), a UCI file that
    does not parse) does not fail the module; it is returned null or with an C(error) that says why.
seealso:
  - module: turris.containers.kernel_config_info
  - module: turris.containers.uci_info
'''

EXAMPLES = r'''
- name: Read the router once
  turris.containers.turris_host_info:
    storage_paths: [/srv/lxc]
  register: host

- name: Warn when the containers would sit on the root file system
  ansible.builtin.debug:
    msg: "/srv/lxc is on {{ host.storage['/srv/lxc'].source }}"
  when: host.storage['/srv/lxc'].mount_point == '/'

- name: Only the installed packages
  turris.containers.turris_host_info:
    gather: [packages]
  register: installed
'''

RETURN = r'''
identity:
  description: The board, as the C(turris_identity) filter tells it; null when not gathered.
  returned: always
  type: dict
  sample: {"board": "omnia", "board_name": "cznic,turris-omnia", "model": "Turris Omnia", "arch": "armv7",
           "lxc_arch": "armv7l", "opkg_arch": "arm_cortex-a9_vfpv3-d16", "os_version": "7.2.3",
           "target": "mvebu/cortexa9"}
kernel:
  description:
    - The kernel's readiness, as M(turris.containers.kernel_config_info) returns it (C(config_path),
      C(kernel_version), C(e500), C(checks), C(ready), C(missing), C(conflicts)), with
      C(error) null; when no configuration can be read, only C(error), which says why.
    - Null when not gathered.
  returned: always
  type: dict
  sample: {"config_path": "/proc/config.gz", "kernel_version": "6.6.40", "e500": false, "error": null,
           "ready": {"lxc": true}, "missing": {"lxc": []}, "conflicts": {"lxc": []}, "checks": []}
cgroup_mounts:
  description: The cgroup hierarchies still to mount, as RV(turris.containers.kernel_config_info#module:cgroup_mounts);
    null when not gathered or C(/proc/cgroups) cannot be read.
  returned: always
  type: dict
  sample: {"root": "/sys/fs/cgroup", "tmpfs": false, "mounts": []}
packages:
  description: Installed opkg packages and their versions (what C(opkg list-installed) lists); null when not gathered.
  returned: always
  type: dict
  sample: {"lxc": "5.0.2-1", "python3-light": "3.11.7-1"}
storage:
  description: For each of O(storage_paths), the file system that holds it (or would hold it, once created).
  returned: always
  type: dict
  sample: {"/srv/lxc": {"exists": true, "is_dir": true, "nearest": "/srv/lxc", "mount_point": "/",
           "source": "/dev/mmcblk0p1", "fstype": "btrfs", "size_kb": 7634944, "free_kb": 6512000}}
  contains:
    exists:
      description: Whether the path exists.
      type: bool
    is_dir:
      description: Whether it is a directory.
      type: bool
    nearest:
      description: The path, or its nearest existing parent, symbolic links resolved.
      type: str
    mount_point:
      description: Where the file system that holds it is mounted.
      type: str
    source:
      description: The file system's source (device) as C(/proc/self/mounts) names it.
      type: str
    fstype:
      description: The file system's type.
      type: str
    size_kb:
      description: Its size in KiB.
      type: int
    free_kb:
      description: KiB available to unprivileged users, as C(df -P) counts them.
      type: int
    mode:
      description: Its permissions in octal (null when it does not exist).
      type: str
      sample: '0755'
    uid:
      description: Its owner's user id (null when it does not exist).
      type: int
    gid:
      description: Its group id (null when it does not exist).
      type: int
files:
  description: For each of O(files), whether it exists, its text (null when missing or over 64 KiB,
    or not a regular file), its mode in octal and its owner's ids.
  returned: always
  type: dict
  sample: {"/etc/updater/conf.d/turris-containers-docker.lua": {"exists": true, "content": "Install(\"dockerd\")\n",
           "mode": "0644", "uid": 0, "gid": 0}}
lxc:
  description: The download template's image server (C(lxc.lxc.url) of C(/etc/config/lxc), null when unset)
    and C(lxc.lxcpath) of C(/etc/lxc/lxc.conf) (null when unset); null when not gathered.
  returned: always
  type: dict
  sample: {"url": "repo.turris.cz/lxc", "lxcpath": "/srv/lxc"}
uci:
  description:
    - For each of O(uci_packages), its sections as the C(uci) module reads them (name, type,
      anonymous, and options, each a string or a list); null for a package whose file is missing;
      a package that does not parse has C(error) instead.
  returned: always
  type: dict
  sample: {"lxc": [{"name": "lxc", "type": "lxc", "anonymous": false, "options": {"url": "repo.turris.cz/lxc"}}],
           "dockerd": null}
services:
  description: For each of O(services), whether its init script exists, it starts at boot (a
    C(/etc/rc.d/S*) link) and a process of that name runs.
  returned: always
  type: dict
  sample: {"dockerd": {"installed": true, "enabled": true, "running": true}}
containers:
  description:
    - The containers under O(lxc_path) as the C(_lxc.observe_containers) helper of the collection
      sees them (one C(lxc-ls -f) call and their files), by name, each with C(state), C(pid), C(ips),
      C(config_path), C(config) (key -> list of values), C(rootfs), C(autostart),
      C(autostart_entry), C(markers), C(probes) and C(shadow_root) (a SHA-256 of root's password hash,
      never the hash).
    - Empty when not gathered or there are none; C(containers_error) says why when they could not be read.
  returned: always
  type: dict
  sample: {"web": {"state": "running", "pid": 4242, "ips": ["10.0.3.10"], "autostart": true, "markers": []}}
containers_error:
  description: Why RV(containers) could not be read (lxc-auto does not parse, lxc-ls failed); null otherwise.
  returned: always
  type: str
  sample: null
docker:
  description:
    - Whether C(dockerd) runs, and when it does and answers, C(docker info)'s C(ServerVersion),
      C(Driver) and C(DockerRootDir) and the images it holds (C(repository:tag)); C(error) says
      why C(info) is null when dockerd runs but does not answer. Null when not gathered.
  returned: always
  type: dict
  sample: {"running": true, "info": {"ServerVersion": "20.10.24", "Driver": "overlay2", "DockerRootDir": "/srv/docker"},
           "images": ["turris-containers/verify:1"], "error": null}
'''

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.turris.containers.plugins.module_utils import _host as host
from ansible_collections.turris.containers.plugins.module_utils import _kconfig as kconfig
from ansible_collections.turris.containers.plugins.module_utils import _lxc as lxc
from ansible_collections.turris.containers.plugins.module_utils import _opkg as opkg
from ansible_collections.turris.containers.plugins.module_utils import _turris as turris
from ansible_collections.turris.containers.plugins.module_utils import _uci as uci
from ansible_collections.turris.containers.plugins.module_utils import _validate as validate

PARTS = ['identity', 'kernel', 'cgroups', 'packages', 'storage', 'files', 'lxc', 'uci', 'services', 'docker', 'containers']
IDENTITY_FILES = ('/tmp/sysinfo/board_name', '/tmp/sysinfo/model', '/etc/turris-version',
                  '/etc/openwrt_release', '/etc/opkg.conf')
# Caps on what is read whole: these files are small on any router.
MAX_TEXT = 4 * 1024 * 1024
MAX_FILE = 64 * 1024


class HostReader:
    def __init__(self, module):
        self.module = module
        self.root = module.params['root']

    def path(self, path):
        if self.root in ('', '/'):
            return path
        return os.path.join(self.root, path.lstrip('/'))

    def read(self, path):
        """The text of a regular file under root, or None when it is missing or unreadable."""
        try:
            full = self.path(path)
            if not os.path.isfile(full):
                return None
            with open(full, 'rb') as fh:
                return fh.read(MAX_TEXT).decode('utf-8', 'replace')
        except (IOError, OSError):
            return None

    def read_proc(self, path):
        # /proc files are not regular files of a size: read them as they come.
        try:
            with open(self.path(path), 'rb') as fh:
                return fh.read(MAX_TEXT).decode('utf-8', 'replace')
        except (IOError, OSError):
            return None

    # -- parts ---------------------------------------------------------------------------

    def identity(self):
        text = ''.join('==> %s\n%s\n' % (p, self.read(p) or '') for p in IDENTITY_FILES)
        return turris.identity(text)

    def kernel(self, board):
        path = self.module.params['kernel_config_path']
        if path:
            full = self.path(path)
            if not os.path.isfile(full):
                return {'error': 'kernel_config_path %s is not a file: give a kernel config file (plain or gzip)' % path}
        else:
            candidates = kconfig.running_config_candidates()
            found = [c for c in candidates if os.path.isfile(self.path(c))]
            if not found:
                return {'error': 'the running kernel exposes no configuration (looked at %s): build it with '
                                 'IKCONFIG_PROC (OpenWrt: kmod-ikconfig) or give kernel_config_path' % ', '.join(candidates)}
            path = found[0]
            full = self.path(path)
        try:
            text = kconfig.read_config_bytes(full, 'kernel_config_path')
        except kconfig.KConfigError as exc:
            return {'error': str(exc)}
        values = kconfig.kernel_values(text, 'kernel')
        version_str = kconfig.header_version(text)
        version = kconfig.parse_version(version_str) if version_str else None
        e500 = board == 'turris1x' or kconfig.is_e500(values)
        ready, missing, conflicts = kconfig.readiness(values, version, e500)
        return {'config_path': path, 'kernel_version': version_str, 'e500': e500, 'error': None,
                'checks': kconfig.lxc_checks(text), 'ready': ready, 'missing': missing, 'conflicts': conflicts}

    def mounts(self):
        return kconfig.parse_mounts(self.read_proc('/proc/self/mounts') or '')

    def cgroups(self, mounts):
        proc_cgroups = self.read_proc('/proc/cgroups')
        if proc_cgroups is None:
            return None
        return kconfig.cgroup_mount_plan(kconfig.parse_proc_cgroups(proc_cgroups), mounts)

    def packages(self):
        return dict(opkg.installed_packages(self.read(opkg.STATUS_FILE) or ''))

    def storage(self, mounts):
        out = {}
        for path in self.module.params['storage_paths']:
            full = self.path(path)
            # the router's path of the nearest existing directory (symbolic links resolved on a real root)
            nearest = host.nearest_existing(path, lambda p: os.path.exists(self.path(p)))
            if self.root in ('', '/'):
                nearest = os.path.realpath(nearest)
            entry = {'exists': os.path.exists(full), 'is_dir': os.path.isdir(full), 'nearest': nearest,
                     'mount_point': None, 'source': None, 'fstype': None, 'size_kb': None, 'free_kb': None,
                     'mode': None, 'uid': None, 'gid': None}
            if entry['exists']:
                st = os.stat(full)
                entry.update(mode='%04o' % stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)
            mount = host.mount_of(nearest, mounts)
            if mount is not None:
                entry.update(mount_point=mount['path'], source=mount['source'], fstype=mount['fstype'])
            try:
                st = os.statvfs(self.path(nearest))
                entry['size_kb'] = st.f_blocks * st.f_frsize // 1024
                entry['free_kb'] = st.f_bavail * st.f_frsize // 1024
            except OSError:
                pass
            out[path] = entry
        return out

    def files(self):
        out = {}
        for path in self.module.params['files']:
            full = self.path(path)
            entry = {'exists': os.path.lexists(full), 'content': None, 'mode': None, 'uid': None, 'gid': None}
            if entry['exists']:
                st = os.lstat(full)
                entry.update(mode='%04o' % stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)
                if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_FILE:
                    try:
                        with open(full, 'rb') as fh:
                            entry['content'] = fh.read(MAX_FILE).decode('utf-8')
                    except (IOError, OSError, UnicodeDecodeError):
                        pass
            out[path] = entry
        return out

    def uci_package(self, name):
        text = self.read('/etc/config/' + name)
        if text is None:
            return None, None
        try:
            return uci.parse(text.encode('utf-8'), name), None
        except uci.UciError as exc:
            return None, '/etc/config/%s does not parse: %s' % (name, exc)

    def uci(self, packages):
        out = {}
        for name in packages:
            if not uci.validate_package(name):
                self.module.fail_json(msg='uci_packages: %r is not a UCI package name (%s)' % (name, uci.PACKAGE_RULE))
            pkg, error = self.uci_package(name)
            out[name] = {'error': error} if error else (host.uci_sections(pkg) if pkg is not None else None)
        return out

    def lxc(self):
        url = None
        pkg, dummy = self.uci_package('lxc')
        if pkg is not None:
            sec = pkg.get('lxc')
            value = sec.options.get('url') if sec is not None else None
            url = value if isinstance(value, str) and value else None
        conf = host.conf_values(self.read('/etc/lxc/lxc.conf') or '')
        return {'url': url, 'lxcpath': conf.get('lxc.lxcpath')}

    def processes(self):
        names = set()
        try:
            entries = os.listdir(self.path('/proc'))
        except OSError:
            return names
        for pid in entries:
            if pid.isdigit():
                comm = self.read_proc('/proc/%s/comm' % pid)
                if comm:
                    names.add(comm.strip())
        return names

    def services(self, procs):
        try:
            enabled = host.enabled_services(os.listdir(self.path('/etc/rc.d')))
        except OSError:
            enabled = []
        out = {}
        for name in self.module.params['services']:
            out[name] = {'installed': os.path.isfile(self.path('/etc/init.d/' + name)),
                         'enabled': name in enabled, 'running': name in procs}
        return out

    def list_dir(self, path):
        try:
            return os.listdir(self.path(path))
        except OSError:
            return None

    def containers(self, lxc_path):
        ls_text = None
        if self.root in ('', '/'):
            binary = self.module.get_bin_path('lxc-ls')
            if binary is not None:
                rc, stdout, stderr = self.module.run_command([binary] + list(lxc.LS_ARGS) + ['-P', lxc_path],
                                                             environ_update={'LANG': 'C', 'LC_ALL': 'C'})
                if rc != 0:
                    return {}, 'lxc-ls -P %s failed (%d): %s' % (lxc_path, rc, (stderr or stdout).strip())
                ls_text = stdout
        try:
            return lxc.observe_containers(lxc_path, ls_text, self.read, self.list_dir,
                                          lxc_auto_text=self.read(lxc.LXC_AUTO_PATH)), None
        except lxc.LxcError as exc:
            return {}, str(exc)

    def docker(self, procs):
        out = {'running': 'dockerd' in procs, 'info': None, 'images': [], 'error': None}
        if not out['running'] or self.root not in ('', '/'):
            return out
        binary = self.module.get_bin_path('docker')
        if binary is None:
            out['error'] = 'dockerd runs but there is no docker client on PATH'
            return out
        env = {'LANG': 'C', 'LC_ALL': 'C'}
        rc, stdout, stderr = self.module.run_command([binary, 'info', '--format', '{{json .}}'], environ_update=env)
        try:
            info = json.loads(stdout) if rc == 0 else None
        except ValueError:
            info = None
        # Docker 20.10 exits 0 with ServerErrors while the daemon does not answer yet.
        if not info or not info.get('ServerVersion'):
            out['error'] = (stderr or stdout or 'docker info exited %d' % rc).strip()
            return out
        out['info'] = dict((k, info.get(k)) for k in ('ServerVersion', 'Driver', 'DockerRootDir'))
        rc, stdout, stderr = self.module.run_command([binary, 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'],
                                                     environ_update=env)
        if rc == 0:
            out['images'] = sorted(set(line.strip() for line in stdout.splitlines() if line.strip()))
        return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gather=dict(type='list', elements='str', choices=PARTS, default=list(PARTS)),
            storage_paths=dict(type='list', elements='path', default=[]),
            files=dict(type='list', elements='path', default=[]),
            uci_packages=dict(type='list', elements='str', default=list(host.UCI_PACKAGES)),
            services=dict(type='list', elements='str', default=sorted(host.SERVICES)),
            kernel_config_path=dict(type='path'),
            lxc_path=dict(type='path'),
            board=dict(type='str', choices=list(kconfig.BOARDS)),
            root=dict(type='path', default='/'),
        ),
        supports_check_mode=True,
    )
    for field in ('storage_paths', 'files'):
        for path in module.params[field]:
            if not path.startswith('/') or validate.control_characters(path):
                module.fail_json(msg='%s: %r is not an absolute path without control characters' % (field, path))
    for name in module.params['services']:
        if not host.SERVICE_RE.match(name):
            module.fail_json(msg='services: %r is not a service name (%s)' % (name, host.SERVICE_RULE))
    if not os.path.isdir(module.params['root']):
        module.fail_json(msg='root %s is not a directory' % module.params['root'])

    gather = set(module.params['gather'])
    reader = HostReader(module)
    result = dict(changed=False, identity=None, kernel=None, cgroup_mounts=None, packages=None, storage={}, files={},
                  lxc=None, uci={}, services={}, docker=None, containers={}, containers_error=None)
    if 'identity' in gather or ('kernel' in gather and not module.params['board']):
        identity = reader.identity()
        if 'identity' in gather:
            result['identity'] = identity
        board = module.params['board'] or identity['board']
    else:
        board = module.params['board']
    if 'kernel' in gather:
        result['kernel'] = reader.kernel(board)
    mounts = reader.mounts() if gather & set(['cgroups', 'storage']) else []
    if 'cgroups' in gather:
        result['cgroup_mounts'] = reader.cgroups(mounts)
    if 'packages' in gather:
        result['packages'] = reader.packages()
    if 'storage' in gather:
        result['storage'] = reader.storage(mounts)
    if 'files' in gather:
        result['files'] = reader.files()
    if 'lxc' in gather or 'containers' in gather:
        lxc_info = reader.lxc()
        if 'lxc' in gather:
            result['lxc'] = lxc_info
    if 'containers' in gather:
        lxc_path = module.params['lxc_path'] or lxc_info['lxcpath'] or '/srv/lxc'
        result['containers'], result['containers_error'] = reader.containers(lxc_path)
    if 'uci' in gather:
        result['uci'] = reader.uci(module.params['uci_packages'])
    procs = reader.processes() if gather & set(['services', 'docker']) else set()
    if 'services' in gather:
        result['services'] = reader.services(procs)
    if 'docker' in gather:
        result['docker'] = reader.docker(procs)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
