"""Rootless: minioci without root's power over the host (docs/rootless.md).

Two ways to get here, as with runc and crun:
  - a plain user (euid != 0) runs minioci: the container's user namespace is
    made from linux.uidMappings/gidMappings, which this module writes
    (`write_id_maps`);
  - minioci runs as root of a user namespace someone else made (rootless
    podman runs its runtime in its own): root there, nobody on the host.

A plain user is known by its euid.  Root of a user namespace is known by
its uid_map (one read, cached) where its default state root is asked for
(state.default_root: a rootless one, in the host user's runtime
directory), and it is taken as rootless only when the host refuses
something a real root could do (its first cgroup directory: container.py),
so a start as the host's root pays nothing more for any of this.
"""
import os

_mode = None           # the --rootless flag: True, False, or None (auto)
_uid_map = None        # this process's uid_map: [(inside, outside, count)]


def set_mode(flag):
    """runc's global `--rootless true|false|auto`."""
    global _mode
    from .errors import MiniociError
    value = flag.lower()
    if value not in ("true", "false", "auto"):
        raise MiniociError(f"invalid --rootless {flag!r}: use true, false or auto")
    _mode = None if value == "auto" else value == "true"


def _own_uid_map():
    global _uid_map
    if _uid_map is None:
        try:
            with open("/proc/self/uid_map") as f:
                _uid_map = [tuple(int(n) for n in line.split()) for line in f if line.strip()]
        except (OSError, ValueError):
            _uid_map = [(0, 0, 4294967295)]
    return _uid_map


def in_user_namespace():
    """Whether this process runs in a user namespace other than the host's:
    its uid_map is not the identity of the whole range (runc's
    RunningInUserNS).  Rootless podman runs its runtime in one, as root."""
    return _own_uid_map() != [(0, 0, 4294967295)]


def host_uid():
    """The uid this process runs as on the host (in the user namespace's
    parent): its euid in the host's user namespace; in another, the id its
    uid_map maps the euid to (rootless podman's user, for its root), or
    None if the map leaves it out."""
    uid = os.geteuid()
    if not in_user_namespace():
        return uid
    for inside, outside, count in _own_uid_map():
        if inside <= uid < inside + count:
            return outside + uid - inside
    return None


def overflow_uid():
    """The uid an id a user namespace does not map shows as (65534)."""
    try:
        with open("/proc/sys/kernel/overflowuid") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 65534


def active():
    """minioci runs rootless: as a plain user, or as root of a user
    namespace it did not make (unless --rootless says otherwise)."""
    if _mode is not None:
        return _mode
    return os.geteuid() != 0 or in_user_namespace()


# ---- a plain user's user namespace -------------------------------------------

def check_plain_user(spec):
    """What a plain user's container cannot have, refused naming the field
    before anything is made."""
    from .errors import ConfigError
    uid = os.geteuid()
    if "user" not in spec.namespaces:
        raise ConfigError(spec.file, "linux.namespaces", f"has no 'user': a plain user (uid {uid}) can make "
                                                         "the other namespaces only inside a user namespace of "
                                                         "its own (minioci spec --rootless writes one)")
    for m in spec.mounts:
        if m.idmap:
            raise ConfigError(spec.file, f"{m.path}.options", f"{m.idmap} needs root: the kernel lets only "
                                                              "root over the source's filesystem idmap it")
    proc = spec.process
    if proc.additional_gids and not spec.namespaces["user"] and _setgroups_denied(spec.gid_mappings):
        raise ConfigError(spec.file, "process.user.additionalGids",
                          "cannot be set: with only the caller's own gid mapped, the kernel denies setgroups in "
                          "the user namespace (map subordinate gids from /etc/subgid to have groups)")


def _setgroups_denied(gid_mappings):
    """A plain user writes a gid map of its own gid alone itself, after
    denying setgroups (write_id_maps)."""
    return len(gid_mappings) == 1 and gid_mappings[0][1:] == (os.getegid(), 1)


def write_id_maps(pid, spec, write):
    """Write the id maps of the user namespace process `pid` made, as a plain
    user may: a single mapping of the caller's own id straight into
    uid_map (gid_map after setgroups is denied, which the kernel requires of
    a writer without CAP_SETGID); anything else through newuidmap and
    newgidmap, the setuid helpers that grant the ids /etc/subuid and
    /etc/subgid give the user (runc does the same).  `write(name, text)`
    writes /proc/<pid>/<name> (container.py's checked write)."""
    from .errors import ConfigError
    for kind, mappings, own in (("uid", spec.uid_mappings, os.geteuid()), ("gid", spec.gid_mappings, os.getegid())):
        field = f"linux.{kind}Mappings"
        if len(mappings) == 1 and mappings[0][1:] == (own, 1):       # (_setgroups_denied)
            if kind == "gid":
                _write_proc(write, "setgroups", "deny", spec.file, field)
            _write_proc(write, f"{kind}_map", "%d %d %d\n" % mappings[0], spec.file, field)
            continue
        helper = _find_helper(f"new{kind}map")
        if helper is None:
            raise ConfigError(spec.file, field, f"mapping ids other than the caller's own {kind} {own} needs "
                                                f"new{kind}map (Debian's uidmap package), which is not installed")
        argv = [helper, str(pid)] + [str(n) for m in mappings for n in m]
        status, err = _run(argv)
        if status != 0:
            why = err.strip().splitlines()[-1] if err.strip() else f"exit status {status}"
            raise ConfigError(spec.file, field, f"new{kind}map refused these mappings ({why}); a plain user "
                                                f"may map its own {kind} and the ranges /etc/sub{kind} gives it")


def _write_proc(write, name, text, file, field):
    from .errors import ConfigError, MiniociError
    try:
        write(name, text)
    except MiniociError as e:
        raise ConfigError(file, field, str(e)) from None


def _find_helper(name):
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"):
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    return None


def _run(argv):
    """(exit status, stderr) of argv, without the subprocess module (a few
    milliseconds of imports a rootless start need not pay)."""
    r, w = os.pipe()
    try:
        pid = os.posix_spawn(argv[0], argv, {"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
                             file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                                           (os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, w, 2)])
    finally:
        os.close(w)
    chunks = []
    try:
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")
