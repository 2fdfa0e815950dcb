"""The arithmetic of `minioci bench net` (no root, nothing started; the
benchmark itself runs in tests/test_network.py)."""
import pytest

from minioci.bench import net


def test_percentiles_and_median():
    values = list(range(1, 101))            # 1..100
    assert (net.percentile(values, 50), net.percentile(values, 99), net.percentile(values, 100)) == (50, 99, 100)
    assert net.percentile([7], 99) == 7
    assert net.median([3, 1, 2]) == 2 and net.median([4, 1, 2, 3]) == 2.5


def sample(p50, rate, mbit):
    return {"p50_us": p50, "p99_us": 2 * p50, "rate_per_s": rate, "mbit_per_s": mbit, "requests": 10}


def test_veth_cost_pairs_rounds_and_compares_best_rounds():
    samples = {
        ("loopback", "within one container (lo)"): [sample(10, 100, 1000)] * 3,
        ("veth", "container to container"): [sample(12, 80, 900), sample(30, 40, 500), sample(13, 75, 800)],
        ("macvlan", "container to container"): [sample(10, 100, 1000), sample(20, 50, 400), sample(10, 100, 1000)],
    }
    (row,) = net.veth_cost(samples)
    assert (row["against"], row["path"]) == ("macvlan", "container to container")
    assert row["p50_us"]["median"] == pytest.approx(0.3)            # +20%, +50%, +30%
    assert (row["p50_us"]["min"], row["p50_us"]["max"]) == (pytest.approx(0.2), pytest.approx(0.5))
    assert row["rate_per_s"]["median"] == pytest.approx(0.2)        # 20%, 20%, 25% fewer
    assert row["mbit_per_s"]["min"] == pytest.approx(-0.25)         # the second round: veth faster
    assert row["best"]["p50_us"] == pytest.approx(0.2)              # 12 against 10
    assert row["best"]["mbit_per_s"] == pytest.approx(0.1)          # 900 against 1000


def test_setup_summary_takes_the_network_phases():
    def table(imp, netw, remove=None):
        return {"total_ms": 100 + netw, "phases": [{"phase": "network.import", "ms": imp},
                                                   {"phase": "network", "ms": netw},
                                                   {"phase": "ns.net", "ms": 0.01}],
                "after_exit": [{"phase": "network.remove", "ms": remove}] if remove else []}
    s = net.summarize_setup([table(150, 10, 20), table(170, 12), table(160, 14, 22)])
    assert (s["network.import"], s["network"], s["network.remove"], s["runs"]) == (160, 12, 21, 3)
    assert net.summarize_setup([table(0, 0)])["network.remove"] is None


def test_cpu_placement():
    assert net.cpu_placement("any") is None
    client, server = net.cpu_placement("same")
    assert client == server and len(client) == 1
    with pytest.raises(net.MiniociError):
        net.cpu_placement("both")
