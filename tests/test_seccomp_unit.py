"""Seccomp's pure logic, without root: parsing linux.seccomp, the cache key,
the cache's entry format, trust and eviction, and the compile itself."""
import copy
import json
import os

import pytest

from minioci import log
from minioci.errors import ConfigError
from minioci.seccomp import BPF_ANNOTATION, Filter, bpf, filter_flags, from_annotation, key, profile
from minioci.seccomp.cache import HEADER_SIZE, Cache, encode, verify
from minioci.seccomp.notify import message

PODMAN = json.load(open("/work/shared/fixtures/podman-4.3-config.json")) \
    if os.path.exists("/work/shared/fixtures/podman-4.3-config.json") else None
BUNDLED = json.load(open(os.path.join(os.path.dirname(__file__), "..", "bundles", "podman-default",
                                      "config.json")))


def podman_profile():
    return copy.deepcopy(BUNDLED["linux"]["seccomp"])


def small():
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["getcpu"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99},
                         {"names": ["umask"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 18, "op": "SCMP_CMP_EQ"}]}]}


# ---- profile ----------------------------------------------------------------

def test_the_bundled_profile_is_podmans():
    if PODMAN is not None:
        assert podman_profile() == PODMAN["linux"]["seccomp"]


def test_podmans_profile_parses_into_plain_data():
    p = profile.parse(podman_profile(), "config.json")
    assert p.default_action == profile.ACT_ERRNO | 38
    assert [a for a, _ in p.architectures] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert p.architectures[0][1] == 0xC000003E                  # AUDIT_ARCH_X86_64
    assert len(p.rules) == 22 and sum(len(r.names) for r in p.rules) == 437
    assert p.rules[0].action == profile.ACT_ERRNO | 1           # errnoRet 1
    assert p.rules[1].action == profile.ACT_ALLOW
    personality = [r.args for r in p.rules if r.names == ["personality"]]
    assert personality == [[(0, 4, v, 0)] for v in (0, 8, 131072, 131080, 4294967295)]
    assert p.rules[18].args == [(0, 4, 16, 0), (2, 4, 9, 0)] and p.rules[18].action == profile.ACT_ERRNO | 22
    assert not p.uses_notify and p.flags == 0


def test_errno_and_trace_default_to_eperm_and_actions_have_libseccomps_values():
    raw = {"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
        {"names": ["a"], "action": a} for a in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_KILL",
                                                 "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_LOG",
                                                 "SCMP_ACT_ALLOW")]}
    p = profile.parse(raw, "f")
    assert p.default_action == 0x80000000
    assert [r.action for r in p.rules] == [0x00050001, 0x7FF00001, 0, 0, 0x00030000, 0x7FFC0000, 0x7FFF0000]
    assert profile.action_name(0x00050026) == "SCMP_ACT_ERRNO(38)"


def test_flags_and_listener():
    raw = small()
    raw["flags"] = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]
    assert profile.parse(raw, "f").flags == 1 | 2 | 4
    raw["syscalls"].append({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"})
    raw["listenerPath"] = "/run/agent.sock"
    raw["listenerMetadata"] = "m"
    p = profile.parse(raw, "f")
    assert p.uses_notify and p.listener_path == "/run/agent.sock" and p.listener_metadata == "m"


def test_load_flags_add_what_notify_needs_and_drop_what_cannot_apply():
    raw = small()
    raw["flags"] = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"]
    profile.parse(raw, "f")                    # valid, as both calls below require
    assert filter_flags.for_load(raw, False) == filter_flags.TSYNC      # no listener: nothing to wait on
    raw["syscalls"].append({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"})
    raw["listenerPath"] = "/a"
    profile.parse(raw, "f")
    flags = filter_flags.for_load(raw, True)
    assert flags & filter_flags.NEW_LISTENER and flags & filter_flags.TSYNC_ESRCH
    assert flags & filter_flags.WAIT_KILLABLE_RECV       # this kernel (>= 5.19) has it


BAD = [
    # (change to small(), JSON path, message)
    (lambda p: p.update(defaultAction="SCMP_ACT_FOO"), "defaultAction", "unknown action 'SCMP_ACT_FOO'"),
    (lambda p: p.pop("defaultAction"), "defaultAction", "is required"),
    (lambda p: p.update(defaultAction=1), "defaultAction", "must be a string"),
    (lambda p: p.update(defaultAction="SCMP_ACT_NOTIFY"), "defaultAction",
     "SCMP_ACT_NOTIFY cannot be the default action"),
    (lambda p: p.update(defaultErrnoRet=5), "defaultErrnoRet",
     "only applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"),
    (lambda p: p.update(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]), "architectures[1]",
     "unknown architecture 'SCMP_ARCH_Z80'"),
    (lambda p: p.update(architectures="SCMP_ARCH_X86_64"), "architectures", "must be an array of strings"),
    (lambda p: p.update(flags=["SECCOMP_FILTER_FLAG_FAST"]), "flags[0]",
     "unknown flag 'SECCOMP_FILTER_FLAG_FAST'"),
    (lambda p: p.update(syscalls={}), "syscalls", "must be an array"),
    (lambda p: p["syscalls"].append("getpid"), "syscalls[2]", "must be an object"),
    (lambda p: p["syscalls"][0].update(action="SCMP_ACT_FOO"), "syscalls[0].action",
     "unknown action 'SCMP_ACT_FOO'"),
    (lambda p: p["syscalls"][0].update(names="getcpu"), "syscalls[0].names", "must be an array of strings"),
    (lambda p: p["syscalls"][0].pop("names"), "syscalls[0].names", "is required"),
    (lambda p: p["syscalls"][0].update(errnoRet=-1), "syscalls[0].errnoRet",
     "must be an integer from 0 to 4294967295"),
    (lambda p: p["syscalls"][0].update(errnoRet=70000), "syscalls[0].errnoRet", "must be from 0 to 65535"),
    (lambda p: p["syscalls"][0].update(errnoRet="1"), "syscalls[0].errnoRet", "must be an integer"),
    (lambda p: p["syscalls"][0].update(action="SCMP_ACT_ALLOW"), "syscalls[0].errnoRet",
     "only applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"),
    (lambda p: p["syscalls"][1]["args"][0].update(op="SCMP_CMP_ABOUT"), "syscalls[1].args[0].op",
     "unknown operator 'SCMP_CMP_ABOUT'"),
    (lambda p: p["syscalls"][1]["args"][0].update(index=6), "syscalls[1].args[0].index",
     "must be from 0 to 5"),
    (lambda p: p["syscalls"][1]["args"][0].update(index="0"), "syscalls[1].args[0].index",
     "must be an integer"),
    (lambda p: p["syscalls"][1]["args"][0].update(value=2**64), "syscalls[1].args[0].value",
     "must be an integer from 0 to 18446744073709551615"),
    (lambda p: p["syscalls"][1]["args"][0].update(valueTwo=-1), "syscalls[1].args[0].valueTwo",
     "must be an integer from 0 to 18446744073709551615"),
    (lambda p: p["syscalls"][1]["args"][0].pop("op"), "syscalls[1].args[0].op", "is required"),
    (lambda p: p["syscalls"][1].update(args=[{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}] * 7),
     "syscalls[1].args", "has 7 conditions; libseccomp takes at most 6"),
    (lambda p: p["syscalls"].append({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}), "listenerPath",
     "is required: linux.seccomp.syscalls[2] uses SCMP_ACT_NOTIFY"),
    (lambda p: p.update(listenerPath="agent.sock"), "listenerPath", "must be an absolute path"),
    (lambda p: p.update(listenerPath="/a.sock", syscalls=[{"names": ["mkdir", "sendmsg"],
                                                           "action": "SCMP_ACT_NOTIFY"}]),
     "syscalls[0].names[1]", "SCMP_ACT_NOTIFY cannot be used for sendmsg"),
]


@pytest.mark.parametrize("change,path,message", BAD, ids=[b[1] + ": " + b[2] for b in BAD])
def test_bad_profiles_name_the_file_and_json_path(change, path, message):
    raw = small()
    change(raw)
    with pytest.raises(ConfigError) as e:
        profile.parse(raw, "b/config.json")
    assert str(e.value).startswith(f"b/config.json: linux.seccomp.{path}: ")
    assert message in str(e.value)


def test_a_bare_profile_file_has_paths_from_its_top():
    raw = small()
    raw["syscalls"][0]["action"] = "SCMP_ACT_FOO"
    with pytest.raises(ConfigError) as e:
        profile.parse(raw, "profile.json", where="")
    assert str(e.value) == "profile.json: syscalls[0].action: unknown action 'SCMP_ACT_FOO'"


# ---- key --------------------------------------------------------------------

LIB = "libseccomp\t2.5.4\t/usr/lib/libseccomp.so.2.5.4\t1:2\t3\t4"


def test_the_same_profile_with_keys_reordered_has_the_same_key():
    raw = podman_profile()
    reordered = json.loads(json.dumps(raw, sort_keys=True))
    reordered = {k: reordered[k] for k in reversed(list(reordered))}
    reordered["syscalls"] = [{k: r[k] for k in reversed(list(r))} for r in reordered["syscalls"]]
    assert list(reordered) != list(raw)
    assert key.compute(reordered, LIB) == key.compute(raw, LIB)


def every_field_changed():
    """(what, profile) pairs, each differing from small() in one value."""
    out = []

    def variant(what, change):
        p = small()
        change(p)
        out.append((what, p))

    variant("defaultAction", lambda p: p.update(defaultAction="SCMP_ACT_LOG"))
    variant("defaultErrnoRet", lambda p: p.update(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=1))
    variant("architectures", lambda p: p["architectures"].append("SCMP_ARCH_X86"))
    variant("flags", lambda p: p.update(flags=["SECCOMP_FILTER_FLAG_LOG"]))
    variant("a rule's errnoRet", lambda p: p["syscalls"][0].update(errnoRet=98))
    variant("a rule's missing errnoRet", lambda p: p["syscalls"][1].update(errnoRet=1))
    variant("a name", lambda p: p["syscalls"][0].update(names=["getcpu", "getppid"]))
    variant("an action", lambda p: p["syscalls"][0].update(action="SCMP_ACT_TRACE"))
    variant("an arg's value", lambda p: p["syscalls"][1]["args"][0].update(value=19))
    variant("an arg's valueTwo", lambda p: p["syscalls"][1]["args"][0].update(valueTwo=1))
    variant("an arg's op", lambda p: p["syscalls"][1]["args"][0].update(op="SCMP_CMP_NE"))
    variant("an arg's index", lambda p: p["syscalls"][1]["args"][0].update(index=1))
    variant("rule order", lambda p: p["syscalls"].reverse())
    variant("listenerMetadata", lambda p: p.update(listenerMetadata="x"))
    return out


def test_a_profile_that_differs_in_any_field_gets_another_key():
    keys = {key.compute(small(), LIB)}
    for what, p in every_field_changed():
        k = key.compute(p, LIB)
        assert k not in keys, what
        keys.add(k)


def test_the_key_covers_libseccomp_and_the_kernel(monkeypatch):
    base = key.compute(small(), LIB)
    assert key.compute(small(), LIB.replace("2.5.4", "2.5.5")) != base
    assert key.compute(small(), LIB.replace("\t3\t", "\t4\t")) != base       # same version, rebuilt
    real = os.uname()
    for field in ("release", "version", "machine"):
        fake = {f: getattr(real, f) for f in ("sysname", "nodename", "release", "version", "machine")}
        fake[field] += "x"
        monkeypatch.setattr(os, "uname", lambda f=fake: type(real)(tuple(f.values())))
        assert key.compute(small(), LIB) != base, field
        monkeypatch.setattr(os, "uname", lambda: real)
    assert key.compute(small(), LIB) == base


def test_library_identity_follows_the_file(tmp_path):
    lib = tmp_path / "libseccomp.so.2.5.4"
    lib.write_bytes(b"one")
    first = key.library_identity("2.5.4", str(lib))
    assert first == key.library_identity("2.5.4", str(lib))
    lib.write_bytes(b"two!")
    assert key.library_identity("2.5.4", str(lib)) != first


# ---- the cache's entries ----------------------------------------------------

RET_ALLOW = (0x06).to_bytes(2, "little") + b"\0\0" + (0x7FFF0000).to_bytes(4, "little")
LOAD_ARCH = (0x20).to_bytes(2, "little") + b"\0\0" + (4).to_bytes(4, "little")
PROGRAM = LOAD_ARCH + RET_ALLOW
K = "ab" * 32


def test_a_sound_entry_verifies():
    assert verify(encode(K, PROGRAM), K) == (PROGRAM, None)


def test_every_truncation_is_detected():
    data = encode(K, PROGRAM)
    for n in range(len(data)):
        got, problem = verify(data[:n], K)
        assert got is None and problem, n


def test_every_bit_flip_is_detected():
    data = encode(K, PROGRAM)
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            got, problem = verify(bytes(flipped), K)
            assert got is None and problem, (i, bit)


def test_an_entry_for_another_key_or_not_a_program_is_refused():
    assert verify(encode(K, PROGRAM), "cd" * 32)[1] == "the entry is for another key"
    assert verify(encode(K, RET_ALLOW + LOAD_ARCH), K)[1] == "malformed BPF: the last instruction is not a return"
    assert verify(encode(K, RET_ALLOW), K)[1] == \
        "malformed BPF: the first instruction does not load the architecture"
    assert verify(b"x" * (HEADER_SIZE + 8), K)[1] == "not a minioci seccomp cache entry"


def test_bpf_checks():
    assert bpf.problem(PROGRAM) is None
    assert bpf.problem(b"") and bpf.problem(PROGRAM[:-1])
    assert "more than the kernel's 4096" in bpf.problem(RET_ALLOW * 4097)


def cache_in(tmp_path, **kw):
    root = tmp_path / "root"
    root.mkdir(mode=0o700, exist_ok=True)
    return Cache(str(root), owner=os.geteuid(), **kw)


def test_store_then_load_round_trip_counts_hits(tmp_path):
    c = cache_in(tmp_path)
    assert c.load(K) is None
    assert c.store(K, PROGRAM)
    st = os.stat(c.dir)
    assert oct(st.st_mode & 0o777) == "0o700"
    assert c.load(K) == PROGRAM and c.load(K) == PROGRAM
    [e] = c.entries()
    assert (e.key, e.size, e.hits) == (K, HEADER_SIZE + len(PROGRAM), 2)
    assert sorted(os.listdir(c.dir)) == [K + ".bpf", K + ".hits"]        # no temporary left


def test_a_corrupt_entry_is_a_miss_and_is_replaced(tmp_path):
    c = cache_in(tmp_path)
    c.store(K, PROGRAM)
    path = os.path.join(c.dir, K + ".bpf")
    with open(path, "r+b") as f:
        f.truncate(HEADER_SIZE + 3)
    assert c.load(K) is None
    c.store(K, PROGRAM)
    assert c.load(K) == PROGRAM


def test_a_symlinked_entry_is_not_followed(tmp_path):
    c = cache_in(tmp_path)
    c.store(K, PROGRAM)
    elsewhere = tmp_path / "elsewhere.bpf"
    os.rename(os.path.join(c.dir, K + ".bpf"), elsewhere)
    os.symlink(elsewhere, os.path.join(c.dir, K + ".bpf"))
    assert c.load(K) is None


@pytest.mark.parametrize("how", ["group-writable", "world-writable", "another owner", "a symlink",
                                 "root group-writable"])
def test_an_untrusted_directory_is_neither_read_nor_written(tmp_path, how, capfd):
    c = cache_in(tmp_path)
    c.store(K, PROGRAM)
    if how == "group-writable":
        os.chmod(c.dir, 0o770)
    elif how == "world-writable":
        os.chmod(c.dir, 0o707)
    elif how == "root group-writable":
        os.chmod(c.root, 0o770)
    elif how == "another owner":
        c.owner = os.geteuid() + 1
    else:
        real = tmp_path / "real-cache"
        os.rename(c.dir, real)
        os.symlink(real, c.dir)
    fresh = Cache(c.root, owner=c.owner)
    log.configure(debug=True)
    try:
        assert fresh.load(K) is None
        assert fresh.store("cd" * 32, PROGRAM) is False
        assert Cache(c.root, owner=c.owner).load(K) is None
    finally:
        log.configure()
    warnings = [line for line in capfd.readouterr().err.splitlines() if "seccomp cache" in line]
    assert len(warnings) == 1 and "not using it, compiling every time" in warnings[0]
    assert not os.path.exists(os.path.join(c.dir, "cd" * 32 + ".bpf"))


def test_eviction_keeps_the_cache_under_its_bound_least_recently_used_first(tmp_path):
    entry = HEADER_SIZE + len(PROGRAM)
    c = cache_in(tmp_path, max_bytes=3 * entry)
    keys = [f"{i:02x}" * 32 for i in range(1, 4)]
    for age, k in zip((300, 200, 100), keys):          # keys[0] is the oldest
        c.store(k, PROGRAM)
        t = 1_700_000_000 - age
        os.utime(os.path.join(c.dir, k + ".bpf"), (t, t))
    assert c.load(keys[0]) == PROGRAM                   # used now: the most recent
    c.store("04" * 32, PROGRAM)
    left = {e.key for e in c.entries()}
    assert left == {keys[0], keys[2], "04" * 32}        # keys[1] was least recently used
    assert sum(e.size for e in c.entries()) <= c.max_bytes
    for i in range(5, 30):
        c.store(f"{i:02x}" * 32, PROGRAM)
        assert sum(e.size for e in c.entries()) <= c.max_bytes
    assert not any(n.endswith(".hits") and n[:64] not in {e.key for e in c.entries()} for n in os.listdir(c.dir))


def test_clear_removes_entries_stamp_and_temporaries(tmp_path):
    c = cache_in(tmp_path)
    c.store(K, PROGRAM)
    c.load(K)
    c.set_library(LIB)
    open(os.path.join(c.dir, ".tmp-1-dead"), "w").close()
    assert c.clear() == 1
    assert os.listdir(c.dir) == []


def test_the_library_stamp_is_trusted_only_while_the_library_file_is_unchanged(tmp_path):
    c = cache_in(tmp_path)
    lib = tmp_path / "libseccomp.so.2.5.4"
    lib.write_bytes(b"one")
    c.set_library(key.library_identity("2.5.4", str(lib)))
    assert c.library() == key.library_identity("2.5.4", str(lib))
    lib.write_bytes(b"rebuilt")
    assert c.library() is None


# ---- compile, annotation, notify --------------------------------------------

def test_compiling_podmans_profile_gives_crun_sized_bpf():
    from minioci.seccomp.compile import compile_profile
    prog = compile_profile(profile.parse(podman_profile(), "f"))
    assert len(prog) == 9152 and bpf.problem(prog, from_libseccomp=True) is None     # 1,144 instructions


def test_unknown_syscall_names_are_skipped_with_a_debug_message(capfd):
    from minioci.seccomp.compile import compile_profile
    raw = small()
    raw["syscalls"][0]["names"] = ["no_such_syscall", "getcpu"]
    log.configure(debug=True)
    try:
        with_unknown = compile_profile(profile.parse(raw, "f"))
    finally:
        log.configure()
    assert "seccomp: unknown syscall 'no_such_syscall' ignored (linux.seccomp.syscalls[0].names[0])" \
        in capfd.readouterr().err
    raw["syscalls"][0]["names"] = ["getcpu"]
    assert compile_profile(profile.parse(raw, "f")) == with_unknown


def test_an_architecture_libseccomp_lacks_is_a_clear_error():
    from minioci.seccomp.compile import compile_profile
    raw = small()
    raw["architectures"] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_LOONGARCH64"]
    try:
        compile_profile(profile.parse(raw, "c.json"))
    except ConfigError as e:
        assert str(e).startswith("c.json: linux.seccomp.architectures[1]: SCMP_ARCH_LOONGARCH64 cannot be "
                                 "added: libseccomp 2.")
    else:
        pytest.skip("this libseccomp knows loongarch64")
    raw["architectures"] = ["SCMP_ARCH_S390X"]
    with pytest.raises(ConfigError) as e:
        compile_profile(profile.parse(raw, "c.json"))
    assert str(e.value) == ("c.json: linux.seccomp.architectures[0]: SCMP_ARCH_S390X cannot be added: "
                            "its byte order differs from this machine's")


def test_the_annotation_must_be_base64_bpf():
    import base64
    assert from_annotation(base64.b64encode(PROGRAM).decode(), "c.json") == PROGRAM
    for text, why in (("not base64!", "invalid base64"), (base64.b64encode(b"123").decode(), "not a BPF program")):
        with pytest.raises(ConfigError) as e:
            from_annotation(text, "c.json")
        assert str(e.value).startswith(f"c.json: annotations.{BPF_ANNOTATION}: {why}")


def test_the_listener_message_is_runcs_container_process_state():
    doc = json.loads(message(Filter(b"", 8, "/a.sock", "meta"), "c1", 42, "/b", {"k": "v"}))
    assert doc == {"ociVersion": doc["ociVersion"], "fds": ["seccompFd"], "pid": 42, "metadata": "meta",
                   "state": {"ociVersion": doc["ociVersion"], "id": "c1", "status": "creating", "pid": 42,
                             "bundle": "/b", "annotations": {"k": "v"}}}
    assert "metadata" not in json.loads(message(Filter(b"", 8, "/a.sock"), "c1", 42, "/b", {}))
