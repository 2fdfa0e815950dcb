"""Fuzzing minioci's two inputs, config.json and state.json, with Hypothesis.

Each example is a real run on the real kernel.  Configs start from the
busybox base config (on a private copy of the rootfs, with optional
sections added: seccomp, devices, sysctls, resources, hooks, a user
namespace...) and get a few mutations: deleted keys, wrong types, huge and
negative numbers, long strings, NULs, nulls, unknown enums and keys,
duplicated array entries and object keys, deep nesting.  State files start
from a real created container's and get the same, plus truncation and
garbage bytes.

The property: minioci either works (exit 0, the container said "ok") or
fails with exactly one line, `minioci: ...`, and no traceback (a program
that ran and died of its own limits, say an rlimit or a seccomp rule, may
exit as it does, as long as minioci added at most its one line); and
nothing is left behind either way: no state entry, cgroup directory, host
mount or process, and nothing outside the container touched.

CI runs a fixed number of examples from a fixed seed (derandomize), under a
minute in all.  MINIOCI_FUZZ_EXAMPLES=2000 runs that many per test, from
random seeds, for a deeper search; MINIOCI_FUZZ_TRACE=1 (with pytest -s)
prints each outcome, to see what the examples reach.
"""
import copy
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import IS_ROOT, REPO, ROOTFS, SECCOMP_CACHE, Runtime, base_config, host_mounts

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="starts real containers: needs root")

DEEP = int(os.environ.get("MINIOCI_FUZZ_EXAMPLES") or 0)
TRACE = bool(os.environ.get("MINIOCI_FUZZ_TRACE"))


def fuzz_settings(ci_examples):
    return settings(max_examples=DEEP or ci_examples, derandomize=not DEEP, deadline=None, database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink], print_blob=True,
                    suppress_health_check=list(HealthCheck))


# ---- values ------------------------------------------------------------------

DEEP_MARK = "__minioci_fuzz_deep_{}__"
NUMBERS = [0, -1, 1, 7, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
           -2**31, -2**63 - 1, 10**30, -10**30]
# Strings that are safe wherever they land: no existing host path a
# mutation could turn into a bind source, rootfs or hook to run.
STRINGS = ["", " ", "\n", "x" * 300, "x" * 5000, "a\0b", "\0", "relative", "../../..", "/..", "ü",
           "\ud7ff\U0010ffff", "/nonexistent-minioci-fuzz", "CAP_FLY", "RLIMIT_FOO", "SCMP_ACT_FOO",
           "SCMP_ARCH_FOO", "rbind", "ro", "nosuchopt", "rprivate", "shared", "pid", "network", "tmpfs",
           "bind", "c", "b", "p", "u", "%", "${PATH}", "-1", "0x10", "1e400"]

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(NUMBERS), st.integers(),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(STRINGS), st.text(max_size=12))
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=6), scalars, max_size=3),
    st.integers(2, 20000).map(DEEP_MARK.format),
)

# Keys whose string values name host paths minioci acts on: mutated only
# to strings from STRINGS (or non-strings), never to a real path.
PATH_KEYS = {("root", "path"), ("mounts", "source"), ("hooks", "path"), ("namespaces", "path"),
             ("seccomp", "listenerPath")}


def is_path_key(path):
    return any(len(path) >= 2 and path[0] == first and path[-1] == last for first, last in PATH_KEYS) or \
        (len(path) >= 2 and path[-1] == "path" and ("hooks" in path or "namespaces" in path))


# ---- mutations ---------------------------------------------------------------

def nodes(doc, path=()):
    """Every (path, node) in a JSON document, the root first."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from nodes(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from nodes(v, path + (i,))


def parent_of(doc, path):
    for key in path[:-1]:
        doc = doc[key]
    return doc


# Weighted: most mutations change one value, which reaches deeper into a
# start than breaking the document's shape does.
OPS = ["tweak"] * 4 + ["replace"] * 3 + ["delete"] * 2 + ["duplicate", "unknown key", "long string", "deep"]


@st.composite
def mutate(draw, doc, path_values=()):
    """`doc` with 1 to 3 mutations; returns (doc, duplicate key or None)."""
    doc = copy.deepcopy(doc)
    dup = None
    for _ in range(draw(st.integers(1, 3))):
        candidates = [p for p, _ in nodes(doc) if p]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        op = draw(st.sampled_from(OPS))
        parent, key = parent_of(doc, path), path[-1]
        if op == "delete":
            del parent[key]
        elif op == "tweak":
            # the same kind of value, at its edges
            node = parent[key]
            if isinstance(node, bool):
                parent[key] = not node
            elif isinstance(node, int):
                parent[key] = draw(st.sampled_from(NUMBERS))
            elif isinstance(node, str) and not is_path_key(path):
                parent[key] = draw(st.sampled_from(STRINGS))
            elif isinstance(node, list) and node:
                del node[draw(st.integers(0, 2**16)) % len(node)]
        elif op == "replace":
            if is_path_key(path):
                parent[key] = draw(st.one_of(st.sampled_from(STRINGS + list(path_values)),
                                             st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2)))
            else:
                parent[key] = draw(values if not path_values else st.one_of(values, st.sampled_from(path_values)))
        elif op == "duplicate":
            node = parent[key]
            if isinstance(node, list) and node:
                node.append(copy.deepcopy(draw(st.sampled_from(node))))
            elif isinstance(parent, dict):
                dup = (path, draw(values))        # the key again, earlier in the object
        elif op == "unknown key":
            node = parent[key]
            if isinstance(node, dict):
                node[draw(st.text(min_size=1, max_size=8))] = draw(values)
        elif op == "long string":
            if not is_path_key(path):
                parent[key] = "y" * draw(st.sampled_from([256, 4097, 70000]))
        elif op == "deep":
            parent[key] = DEEP_MARK.format(draw(st.integers(100, 20000)))
    return doc, dup


def to_text(doc, dup):
    """JSON text of `doc`, with the duplicate key (if any) and deep nesting
    written in (json.dumps can write neither)."""
    if dup is not None:
        path, value = dup
        try:
            parent = parent_of(doc, path)
            if isinstance(parent, dict) and path[-1] in parent:
                marker = "__minioci_fuzz_dup__"
                parent[marker] = parent.pop(path[-1])
                text = json.dumps(doc)
                key = json.dumps(path[-1])
                text = text.replace(json.dumps(marker) + ":", f"{key}:{json.dumps(value)},{key}:", 1)
                return _deepen(text)
        except (KeyError, IndexError, TypeError):
            pass
    return _deepen(json.dumps(doc))


def _deepen(text):
    while "__minioci_fuzz_deep_" in text:
        start = text.index('"__minioci_fuzz_deep_')
        end = text.index('__"', start) + 3
        n = int(text[start + len('"__minioci_fuzz_deep_'):end - 3])
        text = text[:start] + "[" * n + "]" * n + text[end:]
    return text


# ---- the environment ---------------------------------------------------------

class Env:
    """What the examples share: a private copy of the rootfs (mutated mount
    targets are made in it, not in the repository's), a victim tree, and
    this process as the subreaper of whatever an example leaves running."""

    def __init__(self, tmp):
        self.tmp = tmp
        # Outside pytest's 0700 temporary tree: a user namespace's mapped
        # root must reach it.
        self.rootfs_dir = Path(tempfile.mkdtemp(prefix="minioci-fuzz-"))
        os.chmod(self.rootfs_dir, 0o755)
        self.rootfs = self.rootfs_dir / "rootfs"
        shutil.copytree(ROOTFS, self.rootfs, symlinks=True)
        self.victim = tmp / "victim"
        for sub in ("a/b", "c"):
            (self.victim / sub).mkdir(parents=True)
        (self.victim / "file").write_text("victim\n")

    def victim_state(self):
        return sorted((os.path.relpath(top, self.victim), sorted(files)) for top, _, files in os.walk(self.victim))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if not IS_ROOT:
        pytest.skip("starts real containers: needs root")
    import prctl
    prctl.set_child_subreaper(True)
    e = Env(tmp_path_factory.mktemp("fuzz"))
    try:
        yield e
    finally:
        prctl.set_child_subreaper(False)
        shutil.rmtree(e.rootfs_dir, ignore_errors=True)


def orphans():
    """Living children of this process (every orphan comes here: subreaper);
    zombies are reaped."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                out.append(int(d))
    return out


def expected_cgroups(cfg, cid):
    """The directories minioci would make for this config (its own formula:
    cgroups.resolve_path and Cgroup.for_path), and their parents named with
    this example's token; [] if it would refuse the cgroupsPath."""
    from minioci import cgroups
    from minioci.errors import MiniociError
    linux = cfg.get("linux") if isinstance(cfg, dict) else None
    path = linux.get("cgroupsPath") if isinstance(linux, dict) else None
    try:
        resolved = cgroups.resolve_path(path if isinstance(path, str) else None, cid)
        dirs = cgroups.Cgroup.for_path(cgroups.detect(), resolved).directories()
    except (MiniociError, ValueError):
        return []
    return dirs


class Example:
    """One example's runtime (its own state root) and its checks."""

    def __init__(self, env):
        self.env = env
        self.token = uuid.uuid4().hex[:10]
        self.tmp = env.tmp / f"ex-{self.token}"
        self.tmp.mkdir()
        self.rt = Runtime(self.tmp)
        self.cid = self.rt.new_id()
        self.mounts = host_mounts(self.places())
        self.victim = env.victim_state()
        self.cgroups = []

    def places(self):
        """Where this example's mounts would land if they leaked."""
        return (str(REPO), str(self.env.tmp), str(self.env.rootfs_dir), self.rt.root, "/sys/fs/cgroup")

    def call(self, *args, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        return self.rt.call(*args, timeout=120, **kw)

    def leftovers(self):
        left = [f"state {e}" for e in (os.listdir(self.rt.root) if os.path.isdir(self.rt.root) else [])
                if e != SECCOMP_CACHE]
        left += [f"cgroup {d}" for d in self.cgroups if os.path.exists(d)]
        left += [f"cgroup {top}" for top, _, _ in os.walk("/sys/fs/cgroup")
                 if self.token in top or os.path.basename(top) == self.cid]
        deadline = time.monotonic() + 5
        while host_mounts(self.places()) != self.mounts and time.monotonic() < deadline:
            time.sleep(0.05)
        if host_mounts(self.places()) != self.mounts:
            left.append(f"host mounts changed: {set(host_mounts(self.places())) ^ set(self.mounts)}")
        left += [f"process {p}" for p in orphans()]
        if self.env.victim_state() != self.victim:
            left.append("the victim tree changed")
        return sorted(set(left))

    def finish(self):
        """Assert nothing is left; clean up whatever was, either way."""
        left = self.leftovers()
        for pid in orphans():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self.rt.cleanup()
        for d in sorted(self.cgroups + [t for t, _, _ in os.walk("/sys/fs/cgroup") if self.token in t],
                        key=len, reverse=True):
            try:
                os.rmdir(d)
            except OSError:
                pass
        orphans()
        shutil.rmtree(self.tmp, ignore_errors=True)
        assert not left, f"left behind: {left}"


def check_outcome(r, what, ok_stdout="ok\n"):
    if TRACE:
        print("OUTCOME", what, r.returncode, r.stderr.strip()[:150].replace("\n", " | "))
    """minioci's part of a command's outcome (its warnings, as runc writes
    them, aside: a capability left out is one)."""
    err = "".join(line for line in r.stderr.splitlines(keepends=True)
                  if not (line.startswith('time="') and ' level=warning msg="' in line))
    assert "Traceback" not in err and "Error:" not in err.split("minioci: ", 1)[0], f"{what}: {err}"
    ours = [line for line in err.splitlines() if line.startswith("minioci")]
    if r.returncode == 0:
        if ok_stdout is not None:
            assert r.stdout == ok_stdout and err == "", f"{what}: exit 0 with {r.stdout!r} {err!r}"
        assert not ours, f"{what}: exit 0 with {err!r}"
    elif r.returncode in (1, 255) and ours:
        assert len(err.splitlines()) == 1 and ours[0].startswith("minioci: "), f"{what}: {err!r}"
    else:
        # the container's program ran and ended by itself (its rlimits, a
        # seccomp rule, the OOM killer): minioci said at most one line
        assert len(ours) <= 1, f"{what}: exit {r.returncode}: {err!r}"
    return r


# ---- configs -----------------------------------------------------------------

def extras(token):
    """Optional sections a mutation then has to work on."""
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["getcpu"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    return {
        "seccomp": lambda c: c["linux"].__setitem__("seccomp", seccomp),
        "devices": lambda c: c["linux"].__setitem__("devices", [
            {"path": "/dev/fuzz", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 0, "gid": 0}]),
        "sysctl": lambda c: c["linux"].__setitem__("sysctl", {"net.ipv4.ip_forward": "1"}),
        "resources": lambda c: c["linux"]["resources"].update(
            memory={"limit": 256 << 20}, pids={"limit": 200}, cpu={"shares": 512, "quota": 50000,
                                                                    "period": 100000}),
        "hooks": lambda c: c.__setitem__("hooks", {
            "prestart": [{"path": "/bin/true"}],
            "poststop": [{"path": "/bin/true", "args": ["true", "x"], "env": ["A=b"], "timeout": 5}]}),
        "userns": lambda c: (c["linux"]["namespaces"].append({"type": "user"}),
                             c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 200000, "size": 65536}],
                                               gidMappings=[{"containerID": 0, "hostID": 200000, "size": 65536}])),
        "rlimits": lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_NPROC", "soft": 1000, "hard": 1000}),
        "time": lambda c: (c["linux"]["namespaces"].append({"type": "time"}),
                           c["linux"].__setitem__("timeOffsets", {"monotonic": {"secs": 10, "nanosecs": 5}})),
        "cgroupsPath": lambda c: c["linux"].__setitem__("cgroupsPath", f"/fuzz-{token}/c"),
        "annotations": lambda c: c.__setitem__("annotations", {"fuzz": token}),
        "caps": lambda c: c["process"]["capabilities"].update(inheritable=["CAP_KILL"], ambient=["CAP_KILL"]),
        "user": lambda c: c["process"]["user"].update(uid=1000, gid=1000, additionalGids=[5], umask=0o22),
        "oom": lambda c: c["process"].__setitem__("oomScoreAdj", 100),
        "scheduler": lambda c: c["process"].__setitem__("scheduler", {"policy": "SCHED_OTHER", "nice": 5}),
        "ioPriority": lambda c: c["process"].__setitem__("ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 4}),
        "personality": lambda c: c["linux"].__setitem__("personality", {"domain": "LINUX"}),
        "tmpfs": lambda c: c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                                               "options": ["nosuid", "size=1m", "mode=1777"]}),
    }


EXTRA_NAMES = sorted(extras("x"))


PROGRAM = ["sh", "-c", "echo ok"]


def base_for(env, token, chosen):
    cfg = base_config(PROGRAM, rootfs=env.rootfs)
    table = extras(token)
    for name in sorted(chosen):
        table[name](cfg)
    return cfg


@fuzz_settings(600)
@given(data=st.data())
def test_fuzzed_configs_work_or_fail_with_one_line_and_leave_nothing(env, data):
    ex = Example(env)
    try:
        chosen = data.draw(st.sets(st.sampled_from(EXTRA_NAMES), max_size=4), label="extras")
        cfg, dup = data.draw(mutate(base_for(env, ex.token, chosen)), label="mutations")
        ex.cgroups = expected_cgroups(cfg, ex.cid)
        bundle = ex.tmp / "bundle"
        bundle.mkdir()
        (bundle / "config.json").write_text(to_text(cfg, dup))
        # A mutated command line runs another program: its output is its own.
        same_program = isinstance(cfg.get("process"), dict) and cfg["process"].get("args") == PROGRAM
        check_outcome(ex.call("run", "-b", bundle, ex.cid), "run", ok_stdout="ok\n" if same_program else None)
    finally:
        ex.finish()


# ---- state files -------------------------------------------------------------

def corrupt_bytes(draw, text):
    """`text` truncated, with a byte flipped, after garbage, or empty.  (Where
    is drawn independently of the text's length, which differs from run to
    run: Hypothesis must draw the same way for the same choices.)"""
    how = draw(st.sampled_from(["truncate", "flip", "garbage", "empty"]))
    raw = text.encode()
    where = draw(st.integers(0, 2**16)) % len(raw)
    if how == "truncate":
        return raw[:where]
    if how == "flip":
        return raw[:where] + bytes([raw[where] ^ draw(st.integers(1, 255))]) + raw[where + 1:]
    if how == "garbage":
        return draw(st.binary(max_size=64)) + raw
    return b""


# What may be run on a container whose state was mutated ({id}: its id).
COMMANDS = [["state", "{id}"], ["list"], ["list", "--format", "json"], ["ps", "--format", "json", "{id}"],
            ["events", "--stats", "{id}"], ["pause", "{id}"], ["resume", "{id}"],
            ["update", "--pids-limit", "300", "{id}"], ["exec", "{id}", "true"], ["kill", "{id}", "KILL"],
            ["start", "{id}"], ["delete", "{id}"]]


@fuzz_settings(150)
@given(data=st.data())
def test_fuzzed_state_files_never_break_minioci_nor_lose_the_container(env, data):
    ex = Example(env)
    try:
        cfg = base_for(env, ex.token, ())
        cfg["process"]["args"] = ["sleep", "300"]
        bundle = ex.tmp / "bundle"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(cfg))
        with open(ex.tmp / "create.err", "w") as err:
            r = subprocess.run(ex.rt.cmd("create", "-b", bundle, ex.cid), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=120)
        assert r.returncode == 0, (ex.tmp / "create.err").read_text()
        path = os.path.join(ex.rt.root, ex.cid, "state.json")
        original = open(path).read()
        good = json.loads(original)
        ex.cgroups = list(good["cgroup_dirs"])
        pid = good["pid"]
        victims = [str(env.victim), str(env.victim / "a"), str(env.victim / "file"), str(env.victim) + "/../victim"]
        if data.draw(st.booleans(), label="raw bytes"):
            raw = corrupt_bytes(data.draw, original)
        else:
            doc, dup = data.draw(mutate(good, path_values=victims), label="mutations")
            raw = to_text(doc, dup).encode()
        with open(path, "wb") as f:
            f.write(raw)
        for cmd in data.draw(st.lists(st.sampled_from(COMMANDS), max_size=4), label="commands"):
            args = [a.format(id=ex.cid) for a in cmd]
            check_outcome(ex.call(*args), " ".join(args), ok_stdout=None)
        r = check_outcome(ex.call("delete", "--force", ex.cid), "delete --force", ok_stdout=None)
        if r.returncode != 0:
            # Nothing of it could be found: minioci kept the entry and said so.
            assert "kept" in r.stderr, r.stderr
            open(path, "w").write(original)
            assert ex.call("delete", "--force", ex.cid).returncode == 0
        # Its process (an orphan of `create`, so ours: the subreaper) is gone.
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            orphans()
            time.sleep(0.01)
        assert not os.path.exists(f"/proc/{pid}"), "delete --force exited 0 but the container's process lives"
    finally:
        ex.finish()


def test_the_fuzz_harness_sees_a_leftover(env):
    """The checks can fail: a container left running is reported."""
    ex = Example(env)
    cfg = base_for(env, ex.token, ())
    cfg["process"]["args"] = ["sleep", "300"]
    bundle = ex.tmp / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = subprocess.run(ex.rt.cmd("run", "-d", "-b", bundle, ex.cid), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 0
    left = ex.leftovers()
    assert any(x.startswith("state ") for x in left) and any(x.startswith("cgroup ") for x in left)
    with pytest.raises(AssertionError, match="left behind"):
        ex.finish()
    assert ex.leftovers() == [] or all(x.startswith("host mounts") for x in ex.leftovers())


def test_deep_nesting_and_duplicate_keys_are_written_as_meant():
    text = to_text({"a": {"b": DEEP_MARK.format(3)}}, (("a",), 5))
    assert text == '{"a":5,"a": {"b": [[[]]]}}'
