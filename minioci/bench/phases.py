"""Phase timelines written to files (minioci/timing.py: the host config's
timing_dir, or MINIOCI_TIMING=DIR/), summarized: the median of each phase
over the files, per command and path (direct or served).

`minioci timing DIR` prints the summary as a table and draws it
(chart.py); the benchmarks take their phase medians from here.
"""
import json
import os
import statistics
import sys
import time

from ..errors import MiniociError

COMMAND_ORDER = ("create", "start", "run", "exec", "delete")


def load(directory):
    """Every timing file (*.json) in `directory`, as dicts.  A file that is
    not one (half-written, or something else) is skipped."""
    runs = []
    try:
        names = sorted(os.listdir(directory))
    except OSError as e:
        from ..errors import strerror
        raise MiniociError(f"{directory}: {strerror(e.errno)}") from None
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            with open(os.path.join(directory, name)) as f:
                d = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(d, dict) and isinstance(d.get("phases"), list) and "total_ms" in d:
            runs.append(d)
    return runs


def path_of(run):
    """"served" when the timeline began in the front end and a server, else "direct"."""
    return "served" if any(p["phase"] == "server" for p in run["phases"]) else "direct"


def medians(runs):
    """The median of each phase over `runs` (a phase a run lacks counts as
    0 for it), in the order phases first occur; the same for the teardown
    rows after exit.  None for no runs."""
    if not runs:
        return None
    n = len(runs)

    def column(key):
        order, values = [], {}
        for r in runs:
            for p in r.get(key) or ():
                if p["phase"] not in values:
                    order.append(p["phase"])
                    values[p["phase"]] = []
                values[p["phase"]].append(p["ms"])
        return [{"phase": p, "ms": statistics.median(values[p] + [0.0] * (n - len(values[p])))} for p in order]

    return {"runs": n, "total_ms": statistics.median(r["total_ms"] for r in runs),
            "phases": column("phases"), "after_exit": column("after_exit")}


def summarize(runs):
    """{"<command>" or "<command> (served)": medians} in command order."""
    groups = {}
    for r in runs:
        command = r.get("command", "?")
        key = command if path_of(r) == "direct" else f"{command} (served)"
        groups.setdefault(key, []).append(r)

    def order(key):
        command = key.split(" ")[0]
        rank = COMMAND_ORDER.index(command) if command in COMMAND_ORDER else len(COMMAND_ORDER)
        return rank, key
    return {key: medians(groups[key]) for key in sorted(groups, key=order)}


def table(summary):
    """One row per phase, one column per command: medians in ms."""
    keys = list(summary)
    phases = _merged_order([p["phase"] for p in s["phases"]] for s in summary.values())
    after = _merged_order([p["phase"] for p in s["after_exit"]] for s in summary.values())

    def cell(key, name, column="phases"):
        ms = next((p["ms"] for p in summary[key][column] if p["phase"] == name), None)
        return "" if ms is None else f"{ms:.3f}"
    rows = [["phase"] + keys, None]
    rows += [[name] + [cell(k, name) for k in keys] for name in phases]
    rows += [None, ["total"] + [f"{summary[k]['total_ms']:.3f}" for k in keys],
             ["files"] + [str(summary[k]["runs"]) for k in keys]]
    if after:
        rows += [None] + [[f"after exit: {name}"] + [cell(k, name, "after_exit") for k in keys] for name in after]
    widths = [max(len(r[i]) for r in rows if r) for i in range(len(keys) + 1)]
    lines = []
    for r in rows:
        if r is None:
            lines.append("-" * (sum(widths) + 2 * len(keys)))
        else:
            lines.append((r[0].ljust(widths[0]) + "".join(f"  {v:>{w}}" for v, w in zip(r[1:], widths[1:])))
                         .rstrip())
    return "\n".join(lines) + "\n"


def _merged_order(sequences):
    """One order of every name in `sequences` that keeps each sequence's:
    a name first seen in a later one goes right after its predecessor there
    (the served path's front end, connect and server before config)."""
    order = []
    for seq in sequences:
        previous = None
        for name in seq:
            if name not in order:
                order.insert(order.index(previous) + 1 if previous is not None else 0, name)
            previous = name
    return order


def chart(summary, path, title):
    """One bar per command and path, stacked by phase group (chart.py)."""
    from .chart import grouped_segments, stacked_bars
    bars = [(key.replace(" (served)", "\nserved"), grouped_segments(s["phases"]), s["total_ms"])
            for key, s in summary.items()]
    return stacked_bars([("median of each phase", bars)], path, title)


def main(g, a):
    """`minioci timing DIR` (its flags: commands.py)."""
    directory = a.positional[0]
    runs = load(directory)
    if not runs:
        raise MiniociError(f"{directory}: no timing files (*.json written by minioci) in it")
    summary = summarize(runs)
    if a.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        sys.stdout.write(f"{directory}: {len(runs)} timing files; the median of each phase, ms\n\n")
        sys.stdout.write(table(summary))
    if not a.no_chart:
        from .. import safefile
        os.makedirs(a.out, exist_ok=True)
        base = os.path.join(a.out, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-timing")
        safefile.replace(base + ".json", json.dumps(summary, indent=2))
        written = [base + ".json"]
        png = chart(summary, base + ".png", f"minioci's phases in {directory}")
        if png:
            written.append(png)
        sys.stdout.write("\nwrote " + ", ".join(written) + "\n")
    return 0
