"""lucid's modules form one-way layers: each imports only from its own layer or those below,
and no import cycle exists. Every import counts, at module level or inside a function (it runs
when the function does), except those under ``if TYPE_CHECKING:`` (they never run)."""

import ast
import pathlib

import pytest

LUCID = pathlib.Path(__file__).resolve().parents[2] / "lucid"

# Lowest first. A module belongs to the first entry its name starts with.
LAYERS = [
    ("kernels", ["lucid._C", "lucid._version"]),
    ("core", ["lucid._threads", "lucid._buffers", "lucid._dtype", "lucid._device",
              "lucid._config", "lucid._random", "lucid._missing"]),
    ("autograd", ["lucid.autograd"]),
    ("tensor", ["lucid._tensor"]),
    ("factories", ["lucid._factories", "lucid._functions", "lucid._serialization"]),
    ("functional", ["lucid.nn.functional"]),
    ("nn and optim", ["lucid.nn", "lucid.optim", "lucid.metal"]),
    ("utils", ["lucid.utils"]),
    ("decoders", ["lucid.ctc"]),
    ("package", ["lucid"]),
]


def module_names():
    names = {}
    for path in LUCID.rglob("*.py"):
        parts = list(path.relative_to(LUCID.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def layer_of(module):
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def run_time_imports(tree):
    """Import nodes, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph():
    """module -> the lucid modules it imports (importing a.b.c runs a and a.b first, so a
    package's __init__ counts as imported too)."""
    names = module_names()

    def known(name):  # the longest known module name that name is, or lies in
        while name not in names and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in names else None

    graph = {}
    for module, path in names.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        targets = set()
        for node in run_time_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                wanted = [f"{base}.{alias.name}" for alias in node.names]
            for name in wanted:
                if not name.startswith("lucid"):
                    continue
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # every package on the way, then the module
                    target = known(".".join(parts[:i]))
                    ancestor = module.startswith(f"{target}.")  # imported before module was
                    if target and target != module and (i == len(parts) or not ancestor):
                        targets.add(target)
        graph[module] = targets
    return graph


def test_every_import_points_down_or_sideways():
    graph = import_graph()
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in graph.items() for t in targets if layer_of(t) > layer_of(m)]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycle():
    graph = import_graph()
    # an iterative depth-first search: a grey module reached again closes a cycle
    state, cycles = {}, []
    for start in sorted(graph):
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        state[start] = "grey"
        path = [start]
        while stack:
            module, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                state[module] = "black"
                stack.pop()
                path.pop()
            elif state.get(target) == "grey":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                state[target] = "grey"
                stack.append((target, iter(sorted(graph[target]))))
                path.append(target)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("source", ["import lucid.nn\n",
                                    "def f():\n    from lucid.nn import functional\n"])
def test_the_check_sees_module_and_function_level_imports_but_not_type_checking(source):
    assert [type(n).__name__ for n in run_time_imports(ast.parse(source))] in (
        ["Import"], ["ImportFrom"])
    indented = "".join("    " + line + "\n" for line in source.splitlines())
    guarded = ast.parse("if TYPE_CHECKING:\n" + indented)
    assert list(run_time_imports(guarded)) == []


def test_tests_live_in_area_folders_and_import_no_other_test_module():
    tests = LUCID.parent / "tests"
    assert [p.name for p in tests.glob("test_*.py")] == [], "put tests in an area's folder"
    crossing = []
    for path in tests.rglob("*.py"):
        for node in run_time_imports(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            crossing += [f"{path.relative_to(tests)} imports {n}" for n in names
                         if n.split(".")[-1].startswith("test_")]
    assert not crossing, "shared code goes to tests/helpers:\n" + "\n".join(crossing)
