"""Charts of stacked bars: minioci's phases (grouped) next to each peer's
whole-process median, per case (`minioci bench`); per command (`minioci
timing`); an engine's time and its runtime's calls (`bench engine`).  Needs
matplotlib (`pip install minioci[bench]`); the runtime itself never imports
this."""

# Phases grouped so the chart stays readable (the table has every phase).
GROUPS = [
    ("Python start", lambda p: p in ("interpreter", "imports")),
    ("served: front end, server, worker", lambda p: p in ("front end", "connect", "server", "fork", "handover",
                                                          "worker")),
    ("config, plan, state", lambda p: p in ("config", "validate", "plan", "state", "prepare", "pid file")),
    ("cgroup", lambda p: p.startswith("cgroup")),
    ("namespaces", lambda p: p.startswith("ns.") or p in ("clone", "sync", "userns.map", "fds")),
    ("mqueue", lambda p: p == "mqueue"),
    ("mounts, devices, pivot_root", lambda p: p.startswith("mount") or p in ("rootfs", "devices", "pivot_root",
                                                                             "readonly paths", "masked paths")),
    ("seccomp", lambda p: p.startswith("seccomp")),
    ("exec", lambda p: p == "exec"),
    ("start's release, delete's kill and removal", lambda p: p in ("start", "kill", "state.remove",
                                                                  "network.remove")),
    ("hooks", lambda p: p.startswith("hooks.")),
]
OTHER = "other phases"
UNACCOUNTED = "after exec: teardown, exit (cycle: start, delete)"


def grouped(phases):
    out = {name: 0.0 for name, _ in GROUPS}
    out[OTHER] = 0.0
    for p in phases:
        name = next((n for n, test in GROUPS if test(p["phase"])), OTHER)
        out[name] += p["ms"]
    return out


def grouped_segments(phases):
    """[(group, ms)] of a phase list, the empty groups left out."""
    return [(name, ms) for name, ms in grouped(phases).items() if ms > 0]


def draw(result, path):
    """The startup benchmark's chart: per case, minioci's ways as stacked
    phase groups, the peers' whole-process medians in grey."""
    from . import WAYS
    panels = []
    for case, by_rt in result["cases"].items():
        bars = []
        for way in WAYS:
            me = by_rt.get(way)
            if me and me.get("phases"):
                segments = grouped_segments(me["phases"]["phases"])
                segments.append((UNACCOUNTED, max(0.0, me["unaccounted_ms"])))
                bars.append((way.replace("minioci-", "minioci\n"), segments, me["median_ms"]))
        if not bars:
            continue
        for peer, e in by_rt.items():
            if peer not in WAYS and peer != "ratios":
                bars.append((peer, [(None, e["median_ms"])], e["median_ms"]))
        panels.append((case, bars))
    return stacked_bars(panels, path, "Container startup: minioci's phases (direct, served) and the peers' totals")


def stacked_bars(panels, path, title, ylabel="ms (median)"):
    """A PNG at `path` of `panels`: [(title, [(bar label, [(segment, ms)],
    number shown on top)])], side by side.  A segment has one colour and one
    legend entry in every panel; segment None is grey, without an entry (a
    total that cannot be broken down).  None when matplotlib is missing
    (`pip install minioci[bench]`) or there is nothing to draw."""
    if not panels:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.2, 1.1 * max(len(b) for _, b in panels) + 1.5)
                                                       * len(panels), 5.5), squeeze=False)
    palette = plt.get_cmap("tab20").colors
    colours = {}
    labelled = set()
    for ax, (panel_title, bars) in zip(axes[0], panels):
        for x, (label, segments, top) in enumerate(bars):
            bottom = 0.0
            for name, ms in segments:
                if ms <= 0:
                    continue
                if name is None:
                    colour = "0.55"
                else:
                    colour = colours.setdefault(name, palette[len(colours) % len(palette)])
                ax.bar(x, ms, bottom=bottom, color=colour,
                       label=None if name is None or name in labelled else name)
                if name is not None:
                    labelled.add(name)
                bottom += ms
            ax.text(x, bottom, f"{top:.1f}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(bars)), [b[0] for b in bars])
        ax.set_title(panel_title, fontsize=10)
        ax.set_ylabel(ylabel)
    fig.legend(loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * (-(-len(labelled) // 4)), 1, 0.95))
    import io
    from .. import safefile
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    plt.close(fig)
    safefile.replace(path, png.getvalue())
    return path
