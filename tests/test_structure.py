"""The package's shape (no root, nothing run): no import circles, and no
module reaching into another's private names.  Imports inside functions
count: a lazy import still ties the two modules together."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minioci"


def modules():
    """{dotted name: (path, ast)} of every module in the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = (path, ast.parse(path.read_text()))
    return out


def imports(name, path, tree, known):
    """[(module imported, names taken from it)] by module `name`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name in known]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            for a in node.names:
                if f"{target}.{a.name}" in known:          # `from . import submodule`
                    out.append((f"{target}.{a.name}", []))
                elif target in known:
                    out.append((target, [a.name]))
    return out


def test_no_import_circles():
    mods = modules()
    edges = {m: {t for t, _ in imports(m, *mods[m], mods) if t != m} for m in mods}
    circles = []

    def visit(m, path):
        for t in sorted(edges[m]):
            if t in path:
                circles.append(path[path.index(t):] + [t])
            elif t not in done:
                visit(t, path + [t])
        done.add(m)

    done = set()
    for m in sorted(mods):
        if m not in done:
            visit(m, [m])
    assert not circles, "\n".join(" → ".join(c) for c in circles)


def test_private_names_stay_in_their_module():
    mods = modules()
    taken = []
    for m, (path, tree) in mods.items():
        for target, names in imports(m, path, tree, mods):
            taken += [f"{m} takes {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
        for node in ast.walk(tree):
            # module._name, through a module imported under its own name
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id != "self"
                    and any(node.value.id == t.rpartition(".")[2] or node.value.id.endswith("_mod")
                            for t, _ in imports(m, path, tree, mods))):
                taken.append(f"{m} uses {node.value.id}.{node.attr}")
    assert not taken, "\n".join(taken)
