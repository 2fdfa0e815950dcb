"""Seccomp in real containers: podman's default profile, every action and
comparison, the cache (cold, warm, corrupt, untrusted), crun's BPF
annotation and SCMP_ACT_NOTIFY with a listener.

The containers run `sysc` (tests/sysc.c, built statically here), which makes
one system call and prints "<return value> <errno>"."""
import base64
import errno
import fcntl
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
import pyseccomp

from conftest import MINIOCI, REPO, ROOTFS, base_config

from minioci.seccomp import cache as cache_mod
from minioci.seccomp import profile
from minioci.seccomp.compile import compile_profile

PODMAN_BUNDLE = REPO / "bundles" / "podman-default"
SIGSYS_EXIT = 128 + 31
EPERM, EINVAL, ENOSYS = errno.EPERM, errno.EINVAL, errno.ENOSYS


def nr(name):
    return pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    """The busybox rootfs plus /bin/sysc."""
    if os.geteuid() != 0:
        pytest.skip("starts real containers: needs root")
    root = tmp_path_factory.mktemp("seccomp") / "rootfs"
    shutil.copytree(ROOTFS, root, symlinks=True)
    subprocess.run(["gcc", "-static", "-O1", "-pthread", "-Wall", "-o", str(root / "bin" / "sysc"),
                    str(REPO / "tests" / "sysc.c")], check=True)
    return root


def with_profile(rootfs, script, seccomp, **process):
    cfg = base_config(["sh", "-c", script], rootfs=rootfs)
    cfg["process"].update(process)
    if seccomp is not None:
        cfg["linux"]["seccomp"] = seccomp
    return cfg


def allow_but(*rules, **extra):
    return dict({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules)}, **extra)


def podman_like(rootfs, script):
    """bundles/podman-default's config on the rootfs with sysc, running `script`."""
    cfg = json.loads((PODMAN_BUNDLE / "config.json").read_text())
    cfg["root"]["path"] = str(rootfs)
    cfg["process"]["args"] = ["/bin/sh", "-c", script]
    return cfg


def results(out):
    """sysc's "<ret> <errno>" lines as (ret, errno) pairs."""
    return [tuple(int(x) for x in line.split()) for line in out.splitlines() if line[:1] in "-0123456789"]


def phases(r):
    """The phase names of a `--timing=json` run."""
    return [p["phase"] for p in json.loads(r.stderr.splitlines()[-1])["phases"]]


def cache_dir(rt):
    return os.path.join(rt.root, cache_mod.DIR_NAME)


def entry_files(rt):
    d = cache_dir(rt)
    return sorted(n for n in os.listdir(d) if n.endswith(".bpf")) if os.path.isdir(d) else []


# ---- podman's default profile --------------------------------------------------

def test_the_podman_default_bundle_runs(rt):
    r = rt.call("run", "-b", PODMAN_BUNDLE, rt.new_id())
    assert (r.returncode, r.stdout) == (0, "hello from podman-default, under the default seccomp "
                                           "profile of podman 4.3\n"), r.stderr


def test_podmans_profile_denies_with_its_errnos_and_ordinary_programs_work(rt, rootfs):
    calls = [
        ("add_key", 's:user s:k 0 0 -3', ENOSYS),       # not in the profile: defaultErrnoRet 38
        ("request_key", "s:user s:k 0 0", ENOSYS),
        ("sysfs", "3", EPERM),                           # listed with errnoRet 1 (unprivileged otherwise)
        ("vmsplice", "-1 0 0 0", EPERM),                 # EBADF without the profile
        ("socket", "16 3 9", EINVAL),                    # AF_NETLINK + NETLINK_AUDIT: errnoRet 22
    ]
    script = "; ".join(f"sysc {nr(name)} {args}" for name, args, _ in calls)
    script += f"; sysc {nr('socket')} 16 3 0; ls /bin/busybox; grep -E '^Seccomp(_filters)?:' /proc/self/status"
    r = rt.run(podman_like(rootfs, script))
    assert r.returncode == 0, r.stderr
    got = results(r.stdout)
    assert [e for _, e in got[:len(calls)]] == [want for _, _, want in calls]
    assert all(ret == -1 for ret, _ in got[:len(calls)])
    assert got[len(calls)][0] >= 0                      # NETLINK_ROUTE is allowed
    assert "/bin/busybox\nSeccomp:\t2\nSeccomp_filters:\t1\n" in r.stdout

    plain = podman_like(rootfs, script)
    del plain["linux"]["seccomp"]
    errnos = [e for _, e in results(rt.output(plain))[:len(calls)]]
    assert errnos[2:5] == [0, errno.EBADF, 0]           # without the filter the kernel says otherwise


def test_podmans_profile_leaves_unshare_mount_and_keyctl_to_capabilities(rt, rootfs):
    """podman 4.3's profile (unlike Docker's) allows unshare, mount and keyctl
    outright: without CAP_SYS_ADMIN the kernel refuses the first two with
    EPERM; with it they work under the very same filter."""
    script = (f"sysc {nr('unshare')} {0x04000000}; "                         # CLONE_NEWUTS
              f"sysc {nr('mount')} s:none s:/tmp s:tmpfs 0 0; "
              f"sysc {nr('keyctl')} 0 -3 1")                                 # GET_KEYRING_ID, session
    assert [e for _, e in results(rt.output(podman_like(rootfs, script)))] == [EPERM, EPERM, 0]
    cfg = podman_like(rootfs, script)
    for kind in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][kind].append("CAP_SYS_ADMIN")
    assert [e for _, e in results(rt.output(cfg))] == [0, 0, 0]


def test_personality_arguments_are_allowed_as_the_profile_lists_them(rt, rootfs):
    persona = {"query": 0xFFFFFFFF, "PER_LINUX": 0, "PER_LINUX32": 8, "UNAME26": 0x20000,
               "ADDR_NO_RANDOMIZE": 0x0040000, "READ_IMPLIES_EXEC": 0x0400000}
    script = "; ".join(f"sysc {nr('personality')} {v}" for v in persona.values())
    got = dict(zip(persona, results(rt.output(podman_like(rootfs, script)))))
    for allowed in ("query", "PER_LINUX", "PER_LINUX32", "UNAME26"):
        assert got[allowed] == (0, 0), allowed
    for denied in ("ADDR_NO_RANDOMIZE", "READ_IMPLIES_EXEC"):
        assert got[denied] == (-1, ENOSYS), denied          # falls to the default action


# ---- actions --------------------------------------------------------------------

def one_rule(action, **rule):
    return allow_but(dict({"names": ["getcpu"], "action": action}, **rule))


def test_errno_returns_errnoret_or_eperm(rt, rootfs):
    getcpu = nr("getcpu")
    assert results(rt.output(with_profile(rootfs, f"sysc {getcpu}", one_rule("SCMP_ACT_ERRNO", errnoRet=99)))) \
        == [(-1, 99)]
    assert results(rt.output(with_profile(rootfs, f"sysc {getcpu}", one_rule("SCMP_ACT_ERRNO")))) == [(-1, EPERM)]
    assert results(rt.output(with_profile(rootfs, f"sysc {getcpu}", None))) == [(0, 0)]


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS"])
def test_kill_actions_kill_with_sigsys(rt, rootfs, action):
    cfg = base_config(["/bin/sysc", str(nr("getcpu"))], rootfs=rootfs)
    cfg["linux"]["seccomp"] = one_rule(action)
    r = rt.run(cfg)
    assert (r.returncode, r.stdout) == (SIGSYS_EXIT, ""), r.stderr


def test_kill_thread_spares_the_other_threads_and_kill_process_does_not(rt, rootfs):
    script = f"sysc -t {nr('getcpu')}; echo status $?"
    assert rt.output(with_profile(rootfs, script, one_rule("SCMP_ACT_KILL_THREAD"))) == "main alive\nstatus 0\n"
    assert rt.output(with_profile(rootfs, script, one_rule("SCMP_ACT_KILL_PROCESS"))) == f"status {SIGSYS_EXIT}\n"


def test_trap_sends_sigsys_the_process_can_catch(rt, rootfs):
    getcpu = nr("getcpu")
    script = f"sysc -s {getcpu}; sysc {getcpu}; echo status $?"
    assert rt.output(with_profile(rootfs, script, one_rule("SCMP_ACT_TRAP"))) == \
        f"SIGSYS {getcpu}\nstatus {SIGSYS_EXIT}\n"


def test_trace_tells_a_tracer_its_datum_and_fails_with_enosys_without_one(rt, rootfs):
    getcpu = nr("getcpu")
    out = rt.output(with_profile(rootfs, f"sysc -p {getcpu}; sysc {getcpu}",
                                 one_rule("SCMP_ACT_TRACE", errnoRet=4242)))
    lines = out.splitlines()
    assert lines[0] == "trace 4242"
    assert results(out) == [(0, 0), (-1, ENOSYS)]       # the tracer let it run; untraced it fails


@pytest.mark.direct_only     # the kernel rate-limits these records: one run, not two
def test_log_allows_and_leaves_an_audit_record(rt, rootfs):
    logged = open("/proc/sys/kernel/seccomp/actions_logged").read().split()
    if "log" not in logged:
        pytest.skip("the kernel does not log SCMP_ACT_LOG here (kernel.seccomp.actions_logged)")
    getcpu = nr("getcpu")
    for _ in range(3):      # a record the kernel's rate limit dropped (other tests log too) is tried again
        token = f"sc{os.urandom(5).hex()}"[:15]
        assert results(rt.output(with_profile(rootfs, f"sysc -n {token} {getcpu}", one_rule("SCMP_ACT_LOG")))) \
            == [(0, 0)]
        deadline = time.monotonic() + 5
        while True:
            records = [line for line in subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
                       if f'comm="{token}"' in line]
            if records or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if records:
            break
    assert records and f"syscall={getcpu}" in records[0] and "code=0x7ffc0000" in records[0]


def test_allow_rules_open_what_the_default_denies(rt, rootfs):
    podman = json.loads((PODMAN_BUNDLE / "config.json").read_text())["linux"]["seccomp"]
    allowed = [n for r in podman["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
               for n in r["names"] if n != "getcpu"]
    seccomp = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 77,
               "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]}
    script = f"sysc {nr('getcpu')}; sysc {nr('getppid')}"
    assert results(rt.output(with_profile(rootfs, script, seccomp))) == [(-1, 77), (0, 0)]


# ---- comparison operators -------------------------------------------------------

BIG = 1 << 32
OPERATORS = [
    # (op, value, valueTwo, {argument: matched?}); the 64-bit arguments prove a full-width compare
    ("SCMP_CMP_NE", 18, 0, {17: True, 18: False, 19: True, BIG | 18: True}),
    ("SCMP_CMP_LT", 18, 0, {17: True, 18: False, 19: False, BIG | 17: False}),
    ("SCMP_CMP_LE", 18, 0, {17: True, 18: True, 19: False, BIG | 17: False}),
    ("SCMP_CMP_EQ", 18, 0, {17: False, 18: True, 19: False, BIG | 18: False}),
    ("SCMP_CMP_GE", 18, 0, {17: False, 18: True, 19: True, BIG | 17: True}),
    ("SCMP_CMP_GT", 18, 0, {17: False, 18: False, 19: True, BIG | 18: True}),
    ("SCMP_CMP_MASKED_EQ", 0xF0, 0x10, {0x12: True, 0x22: False, 0x1F: True, BIG | 0x22: False}),
]


@pytest.mark.parametrize("op,value,value_two,cases", OPERATORS, ids=[o[0] for o in OPERATORS])
def test_each_comparison_operator(rt, rootfs, op, value, value_two, cases):
    rule = {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
            "args": [{"index": 0, "value": value, "valueTwo": value_two, "op": op}]}
    script = "; ".join(f"sysc {nr('umask')} {arg}" for arg in cases)
    got = results(rt.output(with_profile(rootfs, script, allow_but(rule))))
    assert [e == 77 for _, e in got] == list(cases.values())
    assert all(ret >= 0 for ret, e in got if e != 77)


def test_two_conditions_on_one_argument_are_separate_rules_as_in_runc(rt, rootfs):
    rule = {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
            "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}
    script = "; ".join(f"sysc {nr('umask')} {arg}" for arg in (5, 6, 7))
    assert [e for _, e in results(rt.output(with_profile(rootfs, script, allow_but(rule))))] == [77, 0, 77]


def test_conditions_on_different_arguments_must_all_hold(rt, rootfs):
    rule = {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
            "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
    script = "; ".join(f"sysc {nr('getpriority')} {a}" for a in ("0 0", "0 1", "1 0"))
    got = [e for _, e in results(rt.output(with_profile(rootfs, script, allow_but(rule))))]
    assert got[0] == 77 and 77 not in got[1:]


# ---- the cache ------------------------------------------------------------------

def errno_profile(errno_ret):
    return allow_but({"names": ["getcpu"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret})


def test_cold_run_compiles_and_stores_warm_run_hits(rt, rootfs):
    cfg = with_profile(rootfs, f"sysc {nr('getcpu')}", errno_profile(99))
    bundle = rt.bundle(cfg)
    cold = rt.run(bundle, "--timing=json")
    assert cold.returncode == 0 and results(cold.stdout) == [(-1, 99)], cold.stderr
    assert "seccomp.compile" in phases(cold) and "seccomp.cache" not in phases(cold)
    [entry] = entry_files(rt)
    st = os.stat(cache_dir(rt))
    assert (st.st_uid, oct(st.st_mode & 0o777)) == (0, "0o700")

    warm = rt.run(bundle, "--timing=json")
    assert warm.returncode == 0 and results(warm.stdout) == [(-1, 99)], warm.stderr
    names = phases(warm)
    assert "seccomp.cache" in names and "seccomp.compile" not in names
    order = [names.index(p) for p in ("validate", "seccomp.key", "seccomp.cache", "cgroup", "seccomp.load")]
    assert order == sorted(order), names
    assert entry_files(rt) == [entry]
    rows = [line.split() for line in rt.call("seccomp", "cache").stdout.splitlines()]
    assert rows[0] == ["KEY", "BYTES", "HITS", "LAST", "USED"]
    assert rows[1][:3] == [entry[:-4], str(os.path.getsize(os.path.join(cache_dir(rt), entry))), "1"]


HOT_PATH = """
import sys
from minioci import cli

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)
code = cli.main(["--root", sys.argv[1], "run", "-b", sys.argv[2], sys.argv[3]])
loaded = sorted(m for m in ("pyseccomp", "ctypes", "json", "re", "hashlib", "_hashlib") if m in sys.modules)
open(sys.argv[4], "w").write(repr((code, loaded)))
"""


def run_in_process(rt, bundle, tmp_path):
    """`minioci run` through minioci's own code in one interpreter: its exit
    code and which heavy modules it imported."""
    out = tmp_path / f"modules-{os.urandom(3).hex()}"
    # -I and another cwd: the installed package, not the source tree
    r = subprocess.run([sys.executable, "-I", "-c", HOT_PATH, rt.root, str(bundle), rt.new_id(), str(out)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return eval(out.read_text())


def test_a_warm_start_does_not_import_pyseccomp_json_or_re(rt, rootfs, tmp_path):
    bundle = rt.bundle(with_profile(rootfs, "true", errno_profile(99)))
    code, loaded = run_in_process(rt, bundle, tmp_path)
    assert code == 0 and "pyseccomp" in loaded               # cold: compiled
    code, loaded = run_in_process(rt, bundle, tmp_path)
    assert (code, loaded) == (0, [])


def test_the_cached_program_is_byte_identical_to_a_fresh_compile(rt, rootfs):
    seccomp = json.loads((PODMAN_BUNDLE / "config.json").read_text())["linux"]["seccomp"]
    rt.output(podman_like(rootfs, "true"))
    [entry] = entry_files(rt)
    data = open(os.path.join(cache_dir(rt), entry), "rb").read()
    cached, problem = cache_mod.verify(data, entry[:-4])
    assert problem is None
    assert cached == compile_profile(profile.parse(seccomp, "config.json"))


def test_changing_one_rules_errnoret_changes_the_key_and_the_behaviour(rt, rootfs):
    script = f"sysc {nr('getcpu')}"
    assert results(rt.output(with_profile(rootfs, script, errno_profile(99)))) == [(-1, 99)]
    assert results(rt.output(with_profile(rootfs, script, errno_profile(98)))) == [(-1, 98)]
    assert len(entry_files(rt)) == 2
    assert results(rt.output(with_profile(rootfs, script, errno_profile(99)))) == [(-1, 99)]
    assert len(entry_files(rt)) == 2


def corrupt_by_truncating(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def corrupt_errno_99_into_98(path):
    """Flip the datum of SCMP_ACT_ERRNO(99) inside the program: a filter the
    kernel would gladly load, and that would answer 98."""
    data = bytearray(open(path, "rb").read())
    ret_errno_99 = (0x06).to_bytes(2, "little") + b"\0\0" + (0x00050000 | 99).to_bytes(4, "little")
    at = data.index(ret_errno_99, cache_mod.HEADER_SIZE)
    data[at + 4] ^= 0x01
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("corrupt", [corrupt_by_truncating, corrupt_errno_99_into_98])
def test_a_corrupt_entry_is_detected_recompiled_and_replaced(rt, rootfs, corrupt):
    bundle = rt.bundle(with_profile(rootfs, f"sysc {nr('getcpu')}", errno_profile(99)))
    rt.output(bundle)
    [entry] = entry_files(rt)
    path = os.path.join(cache_dir(rt), entry)
    good = open(path, "rb").read()
    corrupt(path)
    r = rt.run(bundle, "--timing=json")
    assert r.returncode == 0 and results(r.stdout) == [(-1, 99)], r.stderr
    assert "seccomp.compile" in phases(r)
    assert open(path, "rb").read() == good
    assert "seccomp.cache" in phases(rt.run(bundle, "--timing=json"))


def test_an_untrusted_cache_directory_is_ignored_with_one_warning(rt, rootfs):
    bundle = rt.bundle(with_profile(rootfs, f"sysc {nr('getcpu')}", errno_profile(99)))
    rt.output(bundle)
    d = cache_dir(rt)
    [entry] = entry_files(rt)
    os.chmod(d, 0o777)
    before = {n: os.stat(os.path.join(d, n)).st_mtime_ns for n in os.listdir(d)}
    r = subprocess.run([MINIOCI, "--root", rt.root, "--debug", "run", "--timing=json", "-b", bundle, rt.new_id()],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and results(r.stdout) == [(-1, 99)], r.stderr
    warnings = [line for line in r.stderr.splitlines() if "seccomp cache" in line]
    assert len(warnings) == 1 and "writable by group or others (mode 777)" in warnings[0], r.stderr
    assert "seccomp.compile" in phases(r)
    assert {n: os.stat(os.path.join(d, n)).st_mtime_ns for n in os.listdir(d)} == before   # not touched
    refused = rt.call("seccomp", "compile", bundle / "config.json")
    assert refused.returncode != 0 and "refusing to store in it" in refused.stderr
    os.chmod(d, 0o700)


def test_seccomp_compile_prewarms_and_cache_clear_empties(rt, rootfs, tmp_path):
    seccomp = errno_profile(99)
    bundle = rt.bundle(with_profile(rootfs, f"sysc {nr('getcpu')}", seccomp))
    bare = tmp_path / "profile.json"
    bare.write_text(json.dumps(seccomp))
    first = rt.call("seccomp", "compile", bare)
    assert first.returncode == 0 and "compiled and cached" in first.stdout, first.stderr
    again = rt.call("seccomp", "compile", bundle / "config.json")     # same object inside a config: same key
    assert again.returncode == 0 and "already cached" in again.stdout
    assert first.stdout.split()[0] == again.stdout.split()[0]
    r = rt.run(bundle, "--timing=json")
    assert "seccomp.cache" in phases(r) and "seccomp.compile" not in phases(r)
    cleared = rt.call("seccomp", "cache", "clear")
    assert cleared.returncode == 0 and "removed 1 entry" in cleared.stdout.replace("entries", "entry")
    assert entry_files(rt) == []
    assert "seccomp.compile" in phases(rt.run(bundle, "--timing=json"))


def test_seccomp_compile_reports_bad_profiles_by_json_path(rt, tmp_path):
    bad = tmp_path / "profile.json"
    bad.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "NOPE"}]}))
    r = rt.call("seccomp", "compile", bad)
    assert (r.returncode, r.stderr) == (1, f"minioci: {bad}: syscalls[0].action: unknown action 'NOPE'\n")
    assert not os.path.exists(cache_dir(rt))


# ---- exec --------------------------------------------------------------------------

def run_detached(rt, cfg):
    cid = rt.new_id()
    r = rt.call("run", "-d", "-b", rt.bundle(cfg), cid, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                capture_output=False)
    assert r.returncode == 0
    return cid


def test_exec_gets_the_containers_filter_kept_at_create(rt, rootfs):
    cid = run_detached(rt, with_profile(rootfs, "exec sleep 300", errno_profile(99)))
    kept = os.path.join(rt.root, cid, "seccomp.bpf")
    assert oct(os.stat(kept).st_mode & 0o777) == "0o600"
    r = rt.call("exec", cid, "sysc", str(nr("getcpu")))
    assert (r.returncode, results(r.stdout)) == (0, [(-1, 99)]), r.stderr
    assert len(entry_files(rt)) == 1
    hits = [line.split()[2] for line in rt.call("seccomp", "cache").stdout.splitlines()[1:2]]
    assert hits == ["0"]              # exec neither compiles nor looks the profile up: it was kept
    assert rt.call("delete", "--force", cid).returncode == 0


# ---- crun's annotation ----------------------------------------------------------

def test_crun_bpf_annotation_is_loaded_as_is(rt, rootfs):
    seccomp = errno_profile(97)
    program = compile_profile(profile.parse(seccomp, "f"))
    cfg = with_profile(rootfs, f"sysc {nr('getcpu')}", None)
    cfg["annotations"] = {"run.oci.seccomp_bpf_data": base64.b64encode(program).decode()}
    r = rt.run(cfg, "--timing=json")
    assert r.returncode == 0 and results(r.stdout) == [(-1, 97)], r.stderr
    assert "seccomp.load" in phases(r) and "seccomp.compile" not in phases(r)
    assert entry_files(rt) == []


# ---- SCMP_ACT_NOTIFY ------------------------------------------------------------

NOTIF_RECV = 0xC0502100     # SECCOMP_IOCTL_NOTIF_RECV: _IOWR('!', 0, struct seccomp_notif)
NOTIF_SEND = 0xC0182101     # SECCOMP_IOCTL_NOTIF_SEND: _IOWR('!', 1, struct seccomp_notif_resp)


class Agent(threading.Thread):
    """A seccomp agent: takes the fd and state, answers every notification
    with ENOMEDIUM (a read-only rootfs would say EROFS)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.state, self.fd_count, self.seen = None, 0, []

    def run(self):
        conn, _ = self.server.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
        self.state, self.fd_count = json.loads(msg), len(fds)
        fd = fds[0]
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            events = poller.poll(30_000)
            if not events or events[0][1] & (select.POLLHUP | select.POLLERR):
                break
            buf = bytearray(80)
            try:
                fcntl.ioctl(fd, NOTIF_RECV, buf, True)
            except OSError:
                continue            # the caller died before we read it
            notif_id, pid = struct.unpack_from("<QI", buf)
            self.seen.append((pid, struct.unpack_from("<i", buf, 16)[0]))
            try:
                fcntl.ioctl(fd, NOTIF_SEND, struct.pack("<QqiI", notif_id, 0, -errno.ENOMEDIUM, 0))
            except OSError:
                pass
        os.close(fd)
        self.server.close()


def notify_profile(listener):
    return allow_but({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"},
                     listenerPath=str(listener), listenerMetadata="hello agent")


@pytest.mark.parametrize("no_new_privileges", [True, False], ids=["late", "early"])
def test_notify_hands_the_fd_and_state_to_the_listener_which_answers(rt, rootfs, tmp_path, no_new_privileges):
    listener = tmp_path / "agent.sock"
    agent = Agent(listener)
    agent.start()
    cfg = with_profile(rootfs, f"sysc {nr('mkdir')} s:/tmp/x 0755; sysc {nr('getcpu')}",
                       notify_profile(listener), noNewPrivileges=no_new_privileges)
    cid = rt.new_id()
    r = rt.call("run", "-b", rt.bundle(cfg), cid)
    agent.join(30)
    assert r.returncode == 0, r.stderr
    assert results(r.stdout) == [(-1, errno.ENOMEDIUM), (0, 0)]
    st = agent.state
    assert agent.fd_count == 1 and st["fds"] == ["seccompFd"] and st["metadata"] == "hello agent"
    assert st["state"]["id"] == cid and st["state"]["status"] == "creating"
    assert st["state"]["pid"] == st["pid"] > 0 and st["state"]["bundle"]
    assert [n for _, n in agent.seen] == [nr("mkdir")]


def test_notify_works_for_create_then_start(rt, rootfs, tmp_path):
    """With `create` the filter is loaded after `start`, when `create` has
    long returned: the container's process sends the fd itself."""
    listener = tmp_path / "agent.sock"
    agent = Agent(listener)
    agent.start()
    cfg = with_profile(rootfs, f"sysc {nr('mkdirat')} -100 s:/tmp/y 0755", notify_profile(listener))
    cid = rt.new_id()
    out = tmp_path / "out"
    err = tmp_path / "err"
    with open(out, "w") as o, open(err, "w") as e:      # the container keeps them: no pipes to wait on
        r = subprocess.run(rt.cmd("create", "-b", rt.bundle(cfg), cid), stdout=o, stderr=e, timeout=60)
    assert r.returncode == 0, err.read_text()
    pid = json.loads(rt.call("state", cid).stdout)["pid"]
    assert agent.state is None                          # nothing sent before the filter exists
    assert rt.call("start", cid).returncode == 0
    agent.join(30)
    deadline = time.monotonic() + 10
    while json.loads(rt.call("state", cid).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert rt.call("delete", cid).returncode == 0
    assert results(out.read_text()) == [(-1, errno.ENOMEDIUM)]
    assert agent.state["pid"] == pid and agent.seen == [(pid, nr("mkdirat"))]


def test_notify_for_exec_names_the_exec_process_and_the_container(rt, rootfs, tmp_path):
    listener = tmp_path / "agent.sock"
    agent = Agent(listener)
    agent.start()
    cfg = with_profile(rootfs, "exec sleep 300", notify_profile(listener))
    cid = rt.new_id()
    r = rt.call("run", "-d", "-b", rt.bundle(cfg), cid, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                capture_output=False)
    assert r.returncode == 0
    agent.join(5)                                        # the init's filter and fd: this agent's one connection
    init = json.loads(rt.call("state", cid).stdout)["pid"]
    assert agent.state["pid"] == init
    exec_agent = Agent(tmp_path / "agent2.sock")
    os.rename(tmp_path / "agent2.sock", listener)        # the config's listenerPath, now the second agent
    exec_agent.start()
    r = rt.call("exec", cid, "sysc", str(nr("mkdir")), "s:/tmp/z", "0755")
    exec_agent.join(30)
    assert (r.returncode, results(r.stdout)) == (0, [(-1, errno.ENOMEDIUM)]), r.stderr
    st = exec_agent.state
    assert st["state"]["pid"] == init and st["state"]["status"] == "running"
    assert st["pid"] != init and exec_agent.seen == [(st["pid"], nr("mkdir"))]
    assert rt.call("delete", "--force", cid).returncode == 0


def test_notify_without_a_listener_fails_clearly_and_leaves_nothing(rt, rootfs, tmp_path):
    listener = tmp_path / "nobody.sock"
    r = rt.run(with_profile(rootfs, "true", notify_profile(listener)))
    assert r.returncode != 0
    assert r.stderr == f"minioci: connect to seccomp listener {listener}: no such file or directory\n"


def test_a_filter_loaded_early_does_not_reach_the_runtimes_own_calls(rt, rootfs):
    """Without no_new_privs the filter is loaded before the user switch (it
    needs CAP_SYS_ADMIN): the syscalls minioci makes after it (getcwd, to
    check the cwd) must not fall under it (crun starts this container)."""
    seccomp = allow_but({"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1})
    cfg = with_profile(rootfs, "echo started", seccomp, noNewPrivileges=False)
    assert rt.output(cfg) == "started\n"


def test_the_capability_held_to_load_the_filter_is_gone_after_exec(rt, rootfs):
    """Without no_new_privs, CAP_SYS_ADMIN is held until the filter is
    loaded, right before execve; the program never has it unless the
    configuration gives it."""
    from minioci.spec import CAP_NUMBERS
    from conftest import CAPS
    want = sum(1 << CAP_NUMBERS[n] for n in CAPS)
    seccomp = allow_but({"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1})
    cfg = with_profile(rootfs, "grep -E '^Cap(Eff|Prm)' /proc/self/status", seccomp, noNewPrivileges=False)
    assert [int(line.split()[1], 16) for line in rt.output(cfg).splitlines()] == [want, want]
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["process"]["capabilities"]["ambient"] = []
    assert [int(line.split()[1], 16) for line in rt.output(cfg).splitlines()] == [0, 0]
