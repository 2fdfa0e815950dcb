"""The command-line parser: runc's flag forms, without argparse.

argparse costs ~11 ms to import here, more than the rest of a container
start.  Like runc (urfave/cli), `-flag` and `--flag` are the same, and
`--flag=value` and `--flag value` both work.  minioci/commands.py holds the
global flags and the commands, minioci/cli.py the dispatch.
"""
from .errors import MiniociError


class Flag:
    def __init__(self, names, dest, kind="bool", default=None, help=""):
        self.names = names            # ("bundle", "b"): --bundle, -bundle, -b
        self.dest = dest
        self.kind = kind              # bool | str | int | list | optional (value only via =)
        self.default = default if default is not None else ([] if kind == "list" else
                                                            False if kind == "bool" else None)
        self.help = help


class Command:
    def __init__(self, name, func, flags, usage, summary, min_args=0, max_args=0, stop_at_args=False,
                 raw=False, more_help=None, timed=False):
        self.name, self.func, self.flags = name, func, flags
        self.usage, self.summary = usage, summary
        self.min_args, self.max_args = min_args, max_args
        self.stop_at_args = stop_at_args   # exec: everything after the id is the command
        self.raw = raw                     # bench: its modules parse their own flags
        self.more_help = more_help         # () -> text --help adds (bench: its benchmarks)
        self.timed = timed                 # writes its timings where the host's config says

    def asks_for_help(self, argv):
        """-h/--help among the command's own flags.  For exec and bench, whose
        trailing arguments are someone else's (`exec ID ls -h`), only before
        the first of those."""
        if self.stop_at_args or self.raw:
            argv = argv[:next((i for i, t in enumerate(argv) if not t.startswith("-")), len(argv))]
        return "-h" in argv or "--help" in argv

    def help(self):
        lines = [f"usage: minioci {self.name} {self.usage}", "", self.summary]
        if self.flags:
            lines += ["", "Flags:"] + [flag_line(f) for f in self.flags]
        return "\n".join(lines) + "\n" + (self.more_help() if self.more_help else "")




class Args:
    def __init__(self):
        self.positional = []


def parse_flags(argv, flags, stop_at_args=False, where="minioci"):
    """Parse flags (anywhere, unless stop_at_args) and positionals."""
    table = {}
    for f in flags:
        for n in f.names:
            table[n] = f
    args = Args()
    for f in flags:
        setattr(args, f.dest, f.default if f.kind != "list" else list(f.default))
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok == "--":
            args.positional += argv[i:]
            break
        if not tok.startswith("-") or tok == "-":
            args.positional.append(tok)
            if stop_at_args:         # exec: after the id, the rest is the command
                args.positional += argv[i:]
                break
            continue
        name, eq, value = tok.lstrip("-").partition("=")
        f = table.get(name)
        if f is None:
            raise MiniociError(f"{where}: unknown flag {tok.split('=')[0]}")
        if f.kind == "bool":
            v = True if not eq else value.lower() in ("1", "true", "yes")
            setattr(args, f.dest, v)
            continue
        if f.kind == "optional":
            setattr(args, f.dest, value if eq else True)
            continue
        if not eq:
            if i >= len(argv):
                raise MiniociError(f"{where}: flag {tok} needs a value")
            value = argv[i]
            i += 1
        if f.kind == "int":
            try:
                value = int(value)
            except ValueError:
                raise MiniociError(f"{where}: flag {tok} needs a number, not {value!r}") from None
        if f.kind == "list":
            getattr(args, f.dest).append(value)
        else:
            setattr(args, f.dest, value)
    return args


def flag_line(f):
    """A flag's line in --help."""
    names = ", ".join(("--" if len(n) > 1 else "-") + n for n in f.names)
    value = {"str": " VALUE", "int": " N", "list": " VALUE", "optional": "[=VALUE]"}.get(f.kind, "")
    return f"  {names + value:<28} {f.help}"
