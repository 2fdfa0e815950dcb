"""The startup chart: minioci's phases as stacked bars next to each peer's
whole-process median, per case.  Needs matplotlib (`pip install
minioci[bench]`); the runtime itself never imports this."""

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


def draw(result, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from . import WAYS
    cases = [c for c, by_rt in result["cases"].items() if any(by_rt.get(w, {}).get("phases") for w in WAYS)]
    if not cases:
        return None
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 5.5), squeeze=False)
    colors = plt.get_cmap("tab20").colors
    names = [n for n, _ in GROUPS] + [OTHER, UNACCOUNTED]
    labelled = set()
    for ax, case in zip(axes[0], cases):
        by_rt = result["cases"][case]
        labels = []
        for way in WAYS:
            me = by_rt.get(way)
            if not me or not me.get("phases"):
                continue
            x = len(labels)
            labels.append(way.replace("minioci-", "minioci\n"))
            bottom = 0.0
            parts = grouped(me["phases"]["phases"])
            parts[UNACCOUNTED] = max(0.0, me["unaccounted_ms"])
            for i, name in enumerate(names):
                if parts[name] <= 0:
                    continue
                ax.bar(x, parts[name], bottom=bottom, color=colors[i % len(colors)],
                       label=None if name in labelled else name)
                labelled.add(name)
                bottom += parts[name]
            ax.text(x, bottom, f"{me['median_ms']:.1f}", ha="center", va="bottom", fontsize=8)
        for peer, e in by_rt.items():
            if peer in WAYS or peer == "ratios":
                continue
            labels.append(peer)
            ax.bar(len(labels) - 1, e["median_ms"], color="0.55")
            ax.text(len(labels) - 1, e["median_ms"], f"{e['median_ms']:.1f}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_title(case, fontsize=10)
        ax.set_ylabel("ms (median)")
    fig.legend(loc="lower center", ncol=4, fontsize=8)
    fig.suptitle("Container startup: minioci's phases (direct, served) and the peers' totals")
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    import io
    from .. import safefile
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    plt.close(fig)
    safefile.replace(path, png.getvalue())
    return path
