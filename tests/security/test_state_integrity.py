"""The state root: what minioci keeps about a container is the only thing
later commands trust, it is checked like a config when read, and no state
file, however damaged or planted, makes minioci lose a container or touch
anything outside it.

- exec inherits from the state written at create, never from the bundle
  (which may be gone, garbled or edited since): the seccomp filter, the
  capabilities, the environment.
- a state.json that cannot be used shows as `unknown` in `list` (never
  hidden, never breaking the others); `delete --force` finds what remains
  by the id and removes it, or says it cannot and keeps the entry.
- cgroup_dirs can only name directories below a cgroup mount: a planted
  path is refused and the tree it names survives.
- a full state root, an id too long for a file name: one clear line, and
  nothing half-made.
"""
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import cgroup_dirs
from minioci import cgroups, state
from minioci.errors import ConfigError

from .conftest import CAP_LINES, CAPS, sh, status_fields

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["getcpu"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}]}


def one_line(r):
    """The single error line of a failed command (asserting there is one)."""
    lines = r.stderr.splitlines()
    assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def state_file(rt, cid):
    return os.path.join(rt.root, cid, "state.json")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


# ---- exec inherits from the state, not the bundle ------------------------------

def garble(bundle):
    (bundle / "config.json").write_text('{"ociVersion": ')


def delete_config(bundle):
    os.unlink(bundle / "config.json")


def edit(bundle):
    """What an attacker with the bundle would write: no seccomp, every
    capability, another environment."""
    cfg = json.loads((bundle / "config.json").read_text())
    del cfg["linux"]["seccomp"]
    cfg["process"]["capabilities"] = {k: ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"] + CAPS
                                      for k in ("bounding", "effective", "permitted", "inheritable")}
    cfg["process"]["env"] = ["PATH=/bin", "WHO=edited"]
    (bundle / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("change", [delete_config, garble, edit], ids=["deleted", "garbled", "edited"])
def test_exec_keeps_the_containers_seccomp_caps_and_env_whatever_became_of_config_json(rt, box, change):
    cfg = sh("exec sleep 300")
    cfg["linux"]["seccomp"] = SECCOMP
    cfg["process"]["env"].append("WHO=created")
    bundle = rt.bundle(cfg)
    cid = box.detached(json.loads((bundle / "config.json").read_text()))
    with open(f"/proc/{box.state(cid)['pid']}/status") as f:
        init = status_fields(f.read())
    assert init["Seccomp"] == "2"
    change(bundle)
    for how in ("command", "process"):
        if how == "command":
            r = box.exec(cid, "sh", "-c", "cat /proc/self/status; echo WHO=$WHO")
        else:
            proc = sh("cat /proc/self/status; echo WHO=$WHO")["process"]
            del proc["capabilities"]
            proc["env"].append("WHO=created")
            r = box.exec(cid, process=proc)
        assert r.returncode == 0, r.stderr
        st = status_fields(r.stdout)
        assert st["Seccomp"] == "2", how                      # the container's filter, still
        assert {k: st[k] for k in CAP_LINES} == {k: init[k] for k in CAP_LINES}, how
        assert "WHO=created" in r.stdout.splitlines(), how


def test_exec_refuses_to_run_without_the_containers_filter(box, rt):
    """The program kept at create is the only one exec loads: gone or
    damaged, exec fails rather than run a process unfiltered."""
    cfg = sh("exec sleep 300")
    cfg["linux"]["seccomp"] = SECCOMP
    cid = box.detached(cfg)
    kept = os.path.join(rt.root, cid, "seccomp.bpf")
    with open(kept, "r+b") as f:
        f.truncate(5)
    line = one_line(box.exec(cid, "true"))
    assert line == f"minioci: container {cid!r}: its seccomp filter {kept} is damaged: " \
                   "5 bytes is not a whole number of 8-byte instructions"
    os.unlink(kept)
    assert one_line(box.exec(cid, "true")).endswith(f"its seccomp filter {kept}: no such file or directory")


def test_state_json_stays_small(box, rt):
    """The records exec needs are small: state.json is written 2-3 times
    per start."""
    cid = box.detached(sh("exec sleep 300"))
    assert os.path.getsize(state_file(rt, cid)) < 2048
    data = json.loads(open(state_file(rt, cid)).read())
    assert set(data["process"]) == set(state.PROCESS_FIELDS)
    assert data["seccomp"] is None and not os.path.exists(os.path.join(rt.root, cid, "seccomp.bpf"))


# ---- unusable state: list shows it, delete --force finds what remains ---------

BAD_STATES = {
    "not JSON": "{\"id\": ",
    "an array": "[]",
    "wrong types": None,          # the real state with cgroup_dirs a string
    "empty": "",
    "binary": b"\xff\xfe\x00garbage",
}


def spoil(rt, cid, how):
    path = state_file(rt, cid)
    text = BAD_STATES[how]
    if text is None:
        data = json.loads(open(path).read())
        data["cgroup_dirs"] = "victim"
        text = json.dumps(data)
    with open(path, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode())


@pytest.mark.parametrize("how", list(BAD_STATES))
def test_list_shows_an_unusable_state_as_unknown_and_the_others_as_they_are(box, rt, how):
    good, bad = box.detached(sh("exec sleep 300")), box.detached(sh("exec sleep 300"))
    spoil(rt, bad, how)
    r = rt.call("list", "--format", "json")
    assert r.returncode == 0 and r.stderr == ""
    rows = {row["id"]: row for row in json.loads(r.stdout)}
    assert rows[good]["status"] == "running"
    assert rows[bad]["status"] == "unknown" and rows[bad]["pid"] == 0
    table = rt.call("list")
    assert table.returncode == 0
    assert [line.split()[2] for line in table.stdout.splitlines() if line.startswith(bad)] == ["unknown"]
    line = one_line(rt.call("state", bad))
    assert line.startswith(f"minioci: {state_file(rt, bad)}: ")


def test_state_errors_name_the_json_path(box, rt):
    cid = box.detached(sh("exec sleep 300"))
    data = json.loads(open(state_file(rt, cid)).read())
    data["cgroup_dirs"] = [data["cgroup_dirs"][0], 7]
    open(state_file(rt, cid), "w").write(json.dumps(data))
    assert one_line(rt.call("kill", cid, "KILL")) == \
        f"minioci: {state_file(rt, cid)}: cgroup_dirs[1]: must be a string (without NUL)"
    data["pid"] = "1"
    open(state_file(rt, cid), "w").write(json.dumps(data))
    assert one_line(rt.call("kill", cid, "KILL")) == \
        f"minioci: {state_file(rt, cid)}: pid: must be an integer in range 0-2147483647"


@pytest.mark.parametrize("how", ["not JSON", "an array", "wrong types", "missing"])
def test_delete_force_of_a_container_with_unusable_state_kills_and_removes_it(box, rt, how):
    cid = box.detached(sh("sleep 300 & exec sleep 300"))
    pid = box.state(cid)["pid"]
    dirs = cgroup_dirs(cid)
    assert dirs and alive(pid)
    if how == "missing":
        os.unlink(state_file(rt, cid))
    else:
        spoil(rt, cid, how)
        # without --force: the error, and everything stays
        assert state_file(rt, cid) in one_line(rt.call("delete", cid))
        assert alive(pid) and cgroup_dirs(cid) == dirs
    r = rt.call("delete", "--force", cid)
    assert (r.returncode, r.stderr) == (0, "")
    assert wait_gone(pid), "the container's process survived"
    assert cgroup_dirs(cid) == [] and not os.path.exists(os.path.join(rt.root, cid))


def test_delete_force_keeps_an_unusable_entry_when_nothing_of_it_can_be_found(box, rt):
    """A cgroupsPath not named after the id: without the state nothing says
    where its processes are, so the entry is kept and the error says so."""
    cfg = sh("exec sleep 300")
    group = f"sec-elsewhere-{uuid.uuid4().hex[:8]}"
    cfg["linux"]["cgroupsPath"] = f"/{group}"
    cid = box.detached(cfg)
    pid = box.state(cid)["pid"]
    saved = open(state_file(rt, cid)).read()
    spoil(rt, cid, "not JSON")
    try:
        line = one_line(rt.call("delete", "--force", cid))
        assert line.startswith(f"minioci: {state_file(rt, cid)}: corrupt state: ")
        assert line.endswith(f"no cgroup named after container {cid!r} was found, so what may still run "
                             f"of it cannot be: kept {os.path.join(rt.root, cid)}")
        assert alive(pid) and os.path.exists(state_file(rt, cid))
    finally:
        open(state_file(rt, cid), "w").write(saved)
    assert rt.call("delete", "--force", cid).returncode == 0
    assert wait_gone(pid)


def test_delete_force_by_id_spares_containers_whose_names_end_like_it(box, rt):
    """Container "x" lost its state; container "pod-x" (a name <prefix>-<id>
    could be x's under podman's naming) is another container and survives."""
    short = f"s{uuid.uuid4().hex[:6]}"
    rt.ids += [short, f"pod-{short}"]
    victim = box.detached(sh("exec sleep 300"), cid=short)
    other = box.detached(sh("exec sleep 300"), cid=f"pod-{short}")
    spoil(rt, victim, "an array")
    assert rt.call("delete", "--force", victim).returncode == 0
    assert box.state(other)["status"] == "running"
    assert cgroup_dirs(other)


# ---- cgroup_dirs: nothing outside the container's own cgroup is touched --------

def victim_tree(tmp_path):
    """A tree of empty directories, as `delete` would rmdir-walk it."""
    root = tmp_path / "victim"
    for sub in ("a/b", "c", "d/e/f"):
        (root / sub).mkdir(parents=True)
    return root


def tree(path):
    return sorted(os.path.relpath(top, path) for top, _, _ in os.walk(path))


@pytest.mark.parametrize("planted", ["list", "dotdot"])
def test_planted_cgroup_dirs_are_refused_and_the_victim_survives(box, rt, tmp_path, planted):
    victim = victim_tree(tmp_path)
    before = tree(victim)
    cid = box.detached(sh("exec sleep 300"))
    pid = box.state(cid)["pid"]
    data = json.loads(open(state_file(rt, cid)).read())
    real = data["cgroup_dirs"]
    data["cgroup_dirs"] = {"list": [str(victim)] + real,
                           "dotdot": [real[0] + "/../../../../.." + str(victim)]}[planted]
    open(state_file(rt, cid), "w").write(json.dumps(data))
    for args in (("kill", "--all", cid, "KILL"), ("pause", cid), ("delete", cid)):
        line = one_line(rt.call(*args))
        assert line.startswith(f"minioci: {state_file(rt, cid)}: cgroup_dirs[0]: "), line
        assert tree(victim) == before and alive(pid)
    # --force: the state is unusable, so the container is found by its id
    assert rt.call("delete", "--force", cid).returncode == 0
    assert wait_gone(pid)
    assert tree(victim) == before


def test_a_string_for_cgroup_dirs_is_refused_not_walked(box, rt, tmp_path):
    """A string where a list belongs was once walked character by character
    (from `/` for an absolute path).  Relative here, run from a directory
    holding a tree for each character, so that even the old bug harms
    nothing but them."""
    cid = box.detached(sh("exec sleep 300"))
    work = tmp_path / "work"
    for ch in "victm":
        (work / ch / "sub").mkdir(parents=True)
    before = tree(work)
    data = json.loads(open(state_file(rt, cid)).read())
    data["cgroup_dirs"] = "victim"
    open(state_file(rt, cid), "w").write(json.dumps(data))
    r = subprocess.run(rt.cmd("delete", cid), cwd=work, capture_output=True, text=True, timeout=60)
    assert one_line(r) == f"minioci: {state_file(rt, cid)}: cgroup_dirs: must be an array"
    r = subprocess.run(rt.cmd("delete", "--force", cid), cwd=work, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert tree(work) == before


@pytest.mark.parametrize("planted", ["/", "/sys/fs/cgroup", "cgroup mount", "/tmp/victim", "relative",
                                     "dotdot", "double slash", "NUL"])
def test_cgroup_dirs_outside_a_cgroup_mount_are_refused(tmp_path, planted):
    """The same checks, without root and without a container: the paths
    whose walk would harm the host (/, the cgroup root) are only ever
    checked here, never planted in a real delete."""
    layout = cgroups.detect()
    mount = layout.v2[0] if layout.v2 else next(iter(layout.v1.values()))[0]
    path = {"/": "/", "/sys/fs/cgroup": "/sys/fs/cgroup", "cgroup mount": mount, "/tmp/victim": "/tmp/victim",
            "relative": "sys/fs/cgroup/x", "dotdot": mount + "/minioci/../../..",
            "double slash": "/" + mount, "NUL": mount + "/x\0y"}[planted]
    c = state.Container(str(tmp_path), "c1")
    data = {"id": "c1", "pid": 0, "bundle": "/b", "cgroup_path": "/minioci/c1", "cgroup_dirs": [path]}
    with pytest.raises(ConfigError) as e:
        state.validate(data, c)
        cgroups.Cgroup.from_dirs(layout, data["cgroup_dirs"], c.state_file)
    assert str(e.value).startswith(f"{c.state_file}: cgroup_dirs[0]: ")


def test_cgroup_dirs_below_a_cgroup_mount_are_accepted(tmp_path):
    layout = cgroups.detect()
    mount = layout.v2[0] if layout.v2 else next(iter(layout.v1.values()))[0]
    c = state.Container(str(tmp_path), "c1")
    data = state.validate({"id": "c1", "pid": 0, "bundle": "/b", "cgroup_path": "/minioci/c1", "cgroup_dirs": [mount + "/minioci/c1"]}, c)
    assert cgroups.Cgroup.from_dirs(layout, data["cgroup_dirs"]).directories() == [mount + "/minioci/c1"]


def test_state_of_another_id_is_refused(tmp_path):
    c = state.Container(str(tmp_path), "c1")
    with pytest.raises(ConfigError, match=r"state.json: id: is 'c2', not this entry's 'c1'"):
        state.validate({"id": "c2", "pid": 0, "bundle": "/b", "cgroup_path": "/minioci/c1", "cgroup_dirs": []}, c)


def test_a_network_record_cannot_name_a_file_outside_the_entry(tmp_path):
    """delete unmounts and unlinks the record's netns file."""
    c = state.Container(str(tmp_path), "c1")
    data = {"id": "c1", "pid": 0, "bundle": "/b", "cgroup_path": "/minioci/c1", "cgroup_dirs": [], "network": {"netns": "/etc/hostname"}}
    with pytest.raises(ConfigError, match=r"network.netns: '/etc/hostname' is not this container's"):
        state.validate(data, c)


# ---- ids and a full state root --------------------------------------------------

def test_an_id_longer_than_a_file_name_is_refused_clearly(rt):
    long_id = "x" * 256
    for args in (("run", "-b", rt.bundle(sh("true")), long_id), ("create", "-b", rt.bundle(sh("true")), long_id),
                 ("state", long_id), ("delete", "--force", long_id)):
        line = one_line(rt.call(*args))
        assert "256 characters, more than 255" in line, line


def test_an_id_of_255_characters_works(rt):
    cid = "y" * 250 + uuid.uuid4().hex[:5]
    rt.ids.append(cid)
    assert rt.output(sh("echo ok"), cid=cid) == "ok\n"


@pytest.fixture
def tiny_root(tmp_path):
    """A 1 MiB tmpfs as the state root (unmounted afterwards)."""
    root = tmp_path / "tiny"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=64,mode=700", "tmpfs", str(root)], check=True)
    yield root
    subprocess.run(["umount", "-l", str(root)], check=False)


def fill(root, inodes=False):
    """Use up the tmpfs's blocks (or its inodes)."""
    junk = root / "junk"
    junk.mkdir(exist_ok=True)
    if inodes:
        n = 0
        while True:
            try:
                (junk / str(n)).touch()
            except OSError:
                return
            n += 1
    with open(junk / "blocks", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


@pytest.mark.parametrize("inodes", [False, True], ids=["no blocks", "no inodes"])
@pytest.mark.direct_only
def test_a_full_state_root_leaves_no_half_made_entry(rt, tiny_root, inodes):
    root = str(tiny_root)
    cid = rt.new_id()

    def call(*args):
        return subprocess.run([rt.cmd()[0], "--root", root, *map(str, args)], capture_output=True, text=True,
                              timeout=60)
    fill(tiny_root, inodes)
    line = one_line(call("create", "-b", rt.bundle(sh("sleep 300")), cid))
    assert "no space left on device" in line, line
    assert not os.path.exists(tiny_root / cid)
    assert cgroup_dirs(cid) == []
    # the id is free again once there is room
    subprocess.run(["rm", "-rf", str(tiny_root / "junk")], check=True)
    r = call("run", "-b", rt.bundle(sh("echo ok")), cid)
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr


@pytest.mark.direct_only
def test_delete_force_removes_a_directory_left_without_a_lock(rt, tiny_root):
    """An entry a create left before it could make its lock (a full root,
    from an older minioci or a crash): delete --force removes it."""
    cid = rt.new_id()
    (tiny_root / cid).mkdir(mode=0o700)
    fill(tiny_root, inodes=True)
    r = subprocess.run([rt.cmd()[0], "--root", str(tiny_root), "delete", "--force", cid], capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stderr) == (0, "")
    assert not os.path.exists(tiny_root / cid)


@pytest.mark.parametrize("how", ["world-writable", "group-writable", "another owner"])
@pytest.mark.direct_only
def test_a_state_root_others_can_write_is_refused(rt, tmp_path, how):
    """Whoever can write in the state root could plant entries there: it is
    used only while it is root's alone."""
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    if how == "another owner":
        os.chown(root, 1000, 1000)
    else:
        os.chmod(root, 0o777 if how == "world-writable" else 0o770)
    for args in (("create", "-b", rt.bundle(sh("true")), rt.new_id()), ("list",), ("delete", "--force", "x"),
                 ("state", "x")):
        r = subprocess.run([rt.cmd()[0], "--root", root, *map(str, args)], capture_output=True, text=True,
                           timeout=60)
        line = one_line(r)
        assert line.startswith(f"minioci: state root {root} ") and "refusing to use it" in line, line
    assert os.listdir(root) == []


@pytest.mark.parametrize("damage", ["one byte off", "one entry gone", "one entry twice"])
def test_a_damaged_cgroup_list_is_refused_and_delete_force_still_removes_every_directory(box, rt, damage):
    """Found by the fuzz test: a cgroup_dirs entry one byte off named a
    directory that does not exist, delete --force trusted it, and the real
    one stayed behind.  The list must name each hierarchy once, each entry
    ending with the cgroup path kept beside it."""
    cid = box.detached(sh("exec sleep 300"))
    pid = box.state(cid)["pid"]
    data = json.loads(open(state_file(rt, cid)).read())
    dirs = data["cgroup_dirs"]
    if damage == "one byte off":
        dirs[-1] = dirs[-1][:-1] + chr(ord(dirs[-1][-1]) ^ 1)
    elif damage == "one entry gone":
        dirs.pop()
    else:
        dirs.append(dirs[0])
    open(state_file(rt, cid), "w").write(json.dumps(data))
    line = one_line(rt.call("kill", cid, "KILL"))
    assert line.startswith(f"minioci: {state_file(rt, cid)}: cgroup_dirs"), line
    assert alive(pid)
    assert rt.call("delete", "--force", cid).returncode == 0
    assert wait_gone(pid) and cgroup_dirs(cid) == []


def test_a_cgroups_path_already_in_use_is_refused(box, rt):
    """A container's cgroup is its own: one that already holds other
    cgroups, processes or containers (a shared parent such as /minioci) is
    refused, or deleting the container would remove and kill them too."""
    from minioci import cgroups as cg
    group = f"/sec-shared-{uuid.uuid4().hex[:8]}"
    first = sh("exec sleep 300")
    first["linux"]["cgroupsPath"] = f"{group}/first"
    cid = box.detached(first)
    pid = box.state(cid)["pid"]
    for path, why in ((group, "cgroups below it"), (f"{group}/first", "processes")):
        cfg = sh("true")
        cfg["linux"]["cgroupsPath"] = path
        r = rt.run(cfg)
        line = one_line(r)
        assert "linux.cgroupsPath: " in line and "is in use" in line and why in line, line
        assert alive(pid)
    assert rt.call("delete", "--force", cid).returncode == 0
    assert wait_gone(pid)
    layout = cg.detect()
    assert not any(os.path.exists(d) for d in cg.Cgroup.for_path(layout, group).directories())
