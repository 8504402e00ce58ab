"""The shape of the code: which package may import which, and no import cycles (README, Layout).

    conf <- models <- spark_jobs <- dags          (recs.py, the command line, sees everything)
    conf <- export.format layer <- export.builder <- spark_jobs
    export.format layer + models.cart <- lookup_server

Every import counts, at module level or inside a function: the test walks the AST of each file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("conf", "data_samples", "models", "export", "spark_jobs", "lookup_server", "dags")
# The Spark-free snapshot format layer: what the lookup server reads snapshots with.
FORMAT_LAYER = {"export.format", "export.codec", "export.manifest", "export.store", "export.writer"}
ALLOWED = {
    "conf": {"conf"},
    "data_samples": {"conf", "data_samples"},
    "models": {"conf", "models"},
    "export": {"conf", "export"},
    "spark_jobs": {"conf", "models", "export", "spark_jobs"},
    "lookup_server": {"conf", "lookup_server", "models.cart", *FORMAT_LAYER},
    "dags": {"conf", "dags", "spark_jobs.steps", "spark_jobs.session", "spark_jobs.chain"},
}
HEAVY = ("pyspark", "pandas", "airflow")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    found = {"recs": REPO / "recs.py"}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def closest(name: str, modules) -> str:
    """The project module a dotted import name lands in (`conf.Config` -> `conf`)."""
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def imports_of(path: Path, modules, root: Path = REPO) -> set[str]:
    """Every module a file imports: project modules by full name, third-party ones by their top-level name."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.update(f"{base}.{alias.name}" for alias in node.names)
    project = {*PACKAGES, "recs"}
    return {closest(n, modules) if n.split(".")[0] in project else n.split(".")[0] for n in names}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def allowed(source: str, target: str) -> bool:
    rules = ALLOWED[source.split(".")[0]]
    return any(target == rule or target.startswith(rule + ".") for rule in rules)


def test_packages_import_only_downwards(graph):
    modules = set(graph)
    wrong = sorted(f"{source} imports {target}" for source, targets in graph.items() if source != "recs"
                   for target in targets if target in modules and not allowed(source, target))
    assert wrong == [], "imports against the layering (README, Layout):\n" + "\n".join(wrong)


def test_format_layer_needs_no_spark(graph):
    wrong = sorted(f"{source} imports {target}" for source in FORMAT_LAYER for target in graph[source]
                   if target == "export.builder" or target.split(".")[0] in HEAVY)
    assert wrong == []


def test_no_import_cycles(graph):
    """Tarjan's strongly connected components over the project's modules: every component is one module."""
    modules = set(graph)
    edges = {m: sorted(t for t in graph[m] if t in modules and t != m) for m in graph}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_checker_sees_function_level_and_upward_imports(tmp_path):
    """The walk finds an import hidden in a function body, and the rules reject it."""
    fake = tmp_path / "models" / "leaky.py"
    fake.parent.mkdir()
    fake.write_text("import numpy\n\ndef f():\n    from spark_jobs import lake\n    from conf import Config\n")
    found = imports_of(fake, {"models.leaky", "spark_jobs.lake", "conf"}, root=tmp_path)
    assert found == {"numpy", "spark_jobs.lake", "conf"}
    assert not allowed("models.leaky", "spark_jobs.lake")
    assert allowed("spark_jobs.chain", "export.store") and not allowed("lookup_server.api", "export.builder")
