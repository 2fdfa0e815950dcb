"""The command-line parser and signal names (no root)."""
import pytest

from minioci import cli, commands, flags as flag_parser
from minioci.errors import MiniociError


def flags(argv, name="run"):
    cmd = commands.COMMANDS[name]
    return flag_parser.parse_flags(argv, cmd.flags, cmd.stop_at_args)


def test_runc_flag_forms():
    a = flags(["--bundle", "/b", "-pid-file=/p", "--console-socket", "/s", "--preserve-fds", "2", "id"], "create")
    assert (a.bundle, a.pid_file, a.console_socket, a.preserve_fds, a.positional) == ("/b", "/p", "/s", 2, ["id"])


def test_timing_takes_a_value_only_with_equals():
    assert flags(["--timing", "bundle"]).timing is True
    assert flags(["--timing", "bundle"]).positional == ["bundle"]
    assert flags(["--timing=json", "bundle"]).timing == "json"


def test_unknown_flag_is_an_error():
    with pytest.raises(MiniociError, match="unknown flag --nope"):
        flags(["--nope"])


@pytest.mark.parametrize("text,num", [("9", 9), ("KILL", 9), ("SIGTERM", 15), ("term", 15),
                                      ("RTMIN", 34), ("RTMIN+3", 37), ("RTMAX-1", 63), ("WINCH", 28)])
def test_signals(text, num):
    assert commands.parse_signal(text) == num


@pytest.mark.parametrize("text", ["0", "65", "NOPE", "RTMIN+40", "SIG"])
def test_bad_signals(text):
    with pytest.raises(MiniociError):
        commands.parse_signal(text)


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("minioci version ") and "spec: 1." in out


def test_help_lists_commands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("run", "create", "start", "state", "kill", "delete", "list"):
        assert f"  {name} " in out


def test_help_of_a_command_but_not_of_what_exec_runs(capsys):
    assert commands.COMMANDS["exec"].asks_for_help(["--help"])
    assert not commands.COMMANDS["exec"].asks_for_help(["ID", "ls", "-h"])
    assert commands.COMMANDS["run"].asks_for_help(["-b", "x", "--help"])
    assert cli.main(["exec", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: minioci exec ")


@pytest.mark.parametrize("text", ["infs", "1e400s", "nans", "-1s", "0s", "25h", "5"])
def test_an_events_interval_is_a_finite_duration_of_a_day_at_most(text):
    """inf slept into an OverflowError traceback after the first snapshot."""
    with pytest.raises(MiniociError, match="at most 24h"):
        commands._duration(text)
    assert commands._duration("500ms") == 0.5 and commands._duration("24h") == 86400


@pytest.mark.parametrize("argv,message", [
    (["--log-format", "xml", "state", "x"], "minioci: invalid --log-format 'xml': use text or json\n"),
    (["--log", "/nonexistent/dir/log", "state", "x"], "minioci: --log /nonexistent/dir/log: no such file or directory\n"),
    (["run", "--no-such-flag", "x"], "minioci: minioci run: unknown flag --no-such-flag\n"),
])
def test_bad_global_values_and_flags_are_errors_with_runcs_status(capfd, argv, message):
    """runc exits 1 for each; nothing is silently ignored."""
    assert cli.main(argv) == 1
    assert capfd.readouterr().err == message


def test_run_keep_and_exec_cgroup_are_runcs_flags():
    assert flags(["--keep", "id"]).keep is True
    a = flags(["--cgroup", "sub", "--cgroup", "memory,pids:other", "id", "true"], "exec")
    assert a.cgroup == ["sub", "memory,pids:other"] and a.positional == ["id", "true"]


@pytest.mark.parametrize("argv,flags", [
    (["bench", "--help"], ["startup ", "density ", "net ", "--runs", "--rounds"]),
    (["bench", "startup", "--help"], ["--runs", "--warmup", "--cases"]),
    (["bench", "density", "--help"], ["--bundles", "--json"]),
    (["bench", "density", "5", "-h"], ["--bundles"]),
    (["help", "bench"], ["density ", "--runs"]),
])
def test_bench_help_prints_each_benchmarks_flags(capsys, argv, flags):
    """`bench startup --help` and `bench density --help` failed with
    "unknown flag --help"; `bench --help` listed no flags."""
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: minioci bench")
    for flag in flags:
        assert flag in out, (flag, out)
