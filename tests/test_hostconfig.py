"""The host's config file (/etc/minioci/minioci.conf, or MINIOCI_CONFIG's):
its format and trust checks, timing_dir's one file per command on both
paths, a bad file refused with one line naming file:line before anything is
made, and `minioci timing DIR`'s summary of what was written."""
import json
import os
import subprocess

import pytest

from conftest import IS_ROOT, MINIOCI, base_config
from minioci import cli, hostconfig
from minioci.errors import MiniociError
from test_timing import check_structure

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)


def write_config(tmp_path, text, mode=0o644):
    path = tmp_path / "etc" / "minioci.conf"
    path.parent.mkdir(exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_lines_comments_and_blank_lines():
    text = b'# the host\'s settings\n\n  timing_dir = "/var/log/minioci-timing"  \n# done\n'
    assert hostconfig.parse("/c", text) == {"timing_dir": "/var/log/minioci-timing"}
    assert hostconfig.parse("/c", b"") == {}


@pytest.mark.parametrize("text,line,message", [
    ('timing_dir "/x"\n', 1, 'expected key = "value"'),
    ('# ok\n\ntiming_dri = "/x"\n', 3, "unknown key 'timing_dri' (known: timing_dir)"),
    ('timing_dir = "/x"\ntiming_dir = "/y"\n', 2, "timing_dir is set twice"),
    ("timing_dir = /x\n", 1, "must be one double-quoted string"),
    ('timing_dir = "/x" "/y"\n', 1, "must be one double-quoted string"),
    ('timing_dir = "a/relative/dir"\n', 1, "timing_dir must be an absolute path"),
    ('= "/x"\n', 1, 'expected key = "value"'),
])
def test_a_bad_line_is_named_by_file_and_line(text, line, message):
    with pytest.raises(MiniociError) as e:
        hostconfig.parse("/etc/minioci/minioci.conf", text.encode())
    assert str(e.value).startswith(f"/etc/minioci/minioci.conf:{line}: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_no_file_at_the_default_path_is_no_config(monkeypatch):
    if os.path.exists(cli.HOST_CONFIG):
        pytest.skip(f"this host has {cli.HOST_CONFIG}")
    monkeypatch.delenv("MINIOCI_CONFIG", raising=False)
    assert cli.host_config() == {}


def test_a_config_named_by_minioci_config_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIOCI_CONFIG", str(tmp_path / "nope.conf"))
    with pytest.raises(MiniociError, match="MINIOCI_CONFIG .*nope.conf: no such file or directory"):
        cli.host_config()


@pytest.mark.parametrize("mode", [0o666, 0o664])
def test_a_config_others_may_write_is_refused(monkeypatch, tmp_path, mode):
    path = write_config(tmp_path, 'timing_dir = "/x"\n', mode)
    monkeypatch.setenv("MINIOCI_CONFIG", str(path))
    with pytest.raises(MiniociError, match=f"{path} is writable by group or others .*refusing to use it"):
        cli.host_config()
    path.chmod(0o644)
    assert cli.host_config() == {"timing_dir": "/x"}
    path.parent.chmod(0o777)
    with pytest.raises(MiniociError, match=f"{path} is in {path.parent}, which someone other than root"):
        cli.host_config()


@pytest.mark.skipif(not IS_ROOT, reason="chowns a file: needs root")
def test_a_config_another_user_owns_is_refused(monkeypatch, tmp_path):
    path = write_config(tmp_path, 'timing_dir = "/x"\n')
    os.chown(path, 65534, 65534)
    monkeypatch.setenv("MINIOCI_CONFIG", str(path))
    with pytest.raises(MiniociError, match=f"{path} belongs to uid 65534, not root"):
        cli.host_config()


def test_a_fifo_is_refused_without_waiting(monkeypatch, tmp_path):
    path = tmp_path / "etc" / "minioci.conf"
    path.parent.mkdir()
    os.mkfifo(path, 0o600)
    monkeypatch.setenv("MINIOCI_CONFIG", str(path))
    with pytest.raises(MiniociError, match="is not a regular file"):
        cli.host_config()


def timing_files(directory):
    """{(id, command): [the JSON of each file]}, checking each file's name."""
    out = {}
    for name in os.listdir(directory):
        d = json.loads((directory / name).read_text())
        assert name.startswith(f"{d['id']}.{d['command']}.") and name.endswith(".json"), name
        out.setdefault((d["id"], d["command"]), []).append(d)
    return out


def test_timing_dir_gets_a_file_per_command(rt, route, tmp_path):
    timing = tmp_path / "timing"                 # made by the first command that writes there
    env = {**os.environ, "MINIOCI_CONFIG": str(write_config(tmp_path, f'timing_dir = "{timing}"\n'))}
    r = rt.run(base_config(["true"]), env=env)
    assert (r.returncode, r.stderr) == (0, "")   # written, not printed
    cid = rt.ids[-1]
    bundle = rt.bundle(base_config(["sleep", "100"]))
    other = rt.new_id()
    for argv in (["create", "-b", bundle, other], ["start", other], ["exec", other, "true"],
                 ["exec", "-d", other, "true"], ["delete", "--force", other]):
        # stdio the container may keep (create's): files, not pipes to wait on
        with open(tmp_path / "out", "w+") as out:
            r = subprocess.run(rt.cmd(*argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                               timeout=60)
            out.seek(0)
            assert (r.returncode, out.read()) == (0, ""), argv
    files = timing_files(timing)
    assert sorted(files) == sorted([(cid, "run"), (other, "create"), (other, "start"), (other, "exec"),
                                    (other, "delete")])
    assert len(files[(other, "exec")]) == 2                # one file per command, even of one kind
    check_structure(files[(cid, "run")][0], route)
    first = "server" if route == "served" else "interpreter"
    for key, runs in files.items():
        for d in runs:
            names = [p["phase"] for p in d["phases"]]
            assert first in names, (key, names)
            assert abs(sum(p["ms"] for p in d["phases"]) - d["total_ms"]) <= 0.05 * d["total_ms"]
    assert [p["phase"] for p in files[(other, "start")][0]["phases"]][-2:] == ["state", "start"]
    assert [p["phase"] for p in files[(other, "delete")][0]["phases"]][-4:] == \
        ["state", "kill", "cgroup.remove", "state.remove"]
    assert files[(cid, "run")][0]["exit_code"] == 0
    assert sorted(str(d.get("exit_code")) for d in files[(other, "exec")]) == ["0", "None"]    # -d: none

    r = rt.call("timing", timing, "--out", tmp_path / "charts", timeout=120)
    assert r.returncode == 0, r.stderr
    head = r.stdout.splitlines()[2].split()
    suffix = [] if route == "direct" else ["(served)"]
    assert head[0] == "phase" and head[1:] == [w for c in ("create", "start", "run", "exec", "delete")
                                                for w in [c] + suffix], head
    rows = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[4:] if line[:1].isalpha()}
    assert rows["files"] == ["1", "1", "1", "2", "1"]
    (summary,) = (tmp_path / "charts").glob("*-timing.json")
    summary = json.loads(summary.read_text())
    assert summary[f"exec{'' if route == 'direct' else ' (served)'}"]["runs"] == 2
    assert list((tmp_path / "charts").glob("*-timing.png")) or not _have_matplotlib()


def _have_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("command", ["run", "create"])
def test_a_bad_config_refuses_the_command_before_anything_is_made(rt, tmp_path, command):
    """One line naming file:line; the `rt` fixture checks that nothing (state,
    cgroup, mount, process) is left."""
    path = write_config(tmp_path, '# timings\ntiming_dir = "/x"\nspeed = "max"\n')
    env = {**os.environ, "MINIOCI_CONFIG": str(path)}
    bundle = rt.bundle(base_config(["true"]))
    r = rt.call(command, "-b", bundle, rt.new_id(), env=env)
    assert r.returncode == 1
    assert r.stderr == f"minioci: {path}:3: unknown key 'speed' (known: timing_dir)\n"
    assert not os.path.exists("/x")
    r = rt.call("state", rt.ids[-1], env=env)             # commands that write no timing do not read it
    assert "does not exist" in r.stderr, r.stderr


def test_timing_summarizes_only_timing_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not a timing file\n")
    (tmp_path / "half.json").write_text('{"phases": [')
    r = subprocess.run([MINIOCI, "timing", tmp_path, "--no-chart"], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stderr) == (1, f"minioci: {tmp_path}: no timing files (*.json written by minioci) "
                                           "in it\n")
