"""The layout of LAYOUT.md (at the repository's root), enforced: which package may import which,
curated public surfaces, modules of a readable size, and each fault made in one place.

Import directions (one way only):

* ``pages`` (the page engine) imports nothing of the project: everything that reads a page uses it;
* ``backend`` imports nothing of the project but itself; ``checks`` only itself and ``pages``
  (``checks run``): the CLI works against any deployment, the backend knows nothing of its diagnostics;
* ``scripts`` (what people run) may use ``checks`` and ``pages``; it starts the backend as a process,
  except the benchmark's hello-world, which takes the backend's FastAPI options so the ratio is fair;
* ``docsite`` (the site plugin) reads ``pages``, ``checks``, the results module, the alert rule
  generator (the site publishes the rules for its own address) and the backend's settings table;
  nothing outside it imports it but the tests.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("backend", "checks", "docsite", "pages", "scripts")
ALLOWED: dict[str, tuple[str, ...]] = {
    "pages": ("pages",),
    "backend": ("backend",),
    "checks": ("checks", "pages"),
    "scripts": ("scripts", "checks", "pages"),
    "docsite": ("docsite", "pages", "checks", "scripts.results", "scripts.alert_rules", "backend.settings"),
}
MAX_LINES = 400  # a module longer than this does more than one thing
EXCEPTIONS = {("scripts/bench/hello.py", "backend.app")}


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, what) of every import of a project package in ``path``, type-checking ones included;
    ``from scripts import results`` is ``scripts.results``, ``from checks.x import y`` is ``checks.x``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            is_package = (REPO / node.module.replace(".", "/") / "__init__.py").exists()
            found += [
                (node.lineno, f"{node.module}.{alias.name}" if is_package else node.module) for alias in node.names
            ]
    return [(line, name) for line, name in found if name.split(".")[0] in PACKAGES]


def _allowed(name: str, allowed: tuple[str, ...]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package: str) -> None:
    """Assert each package imports only what its row of ALLOWED names."""
    offenders = []
    for path in _modules(package):
        rel = str(path.relative_to(REPO))
        for line, name in _project_imports(path):
            if not _allowed(name, ALLOWED[package]) and (rel, name) not in EXCEPTIONS:
                offenders.append(f"{rel}:{line} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_nothing_imports_the_site_plugin() -> None:
    """Assert the site plugin is a leaf: only MkDocs (through the entry point) and the tests use it."""
    offenders = [
        f"{path.relative_to(REPO)}:{line}"
        for package in ("backend", "checks", "pages", "scripts")
        for path in _modules(package)
        for line, name in _project_imports(path)
        if name.split(".")[0] == "docsite"
    ]
    assert not offenders, offenders


def test_no_type_checking_cycles_are_hidden() -> None:
    """Assert no module imports under ``if TYPE_CHECKING:``: a cycle there is a layout problem."""
    offenders = [
        str(path.relative_to(REPO))
        for package in PACKAGES
        for path in _modules(package)
        if "if TYPE_CHECKING:" in path.read_text()
    ]
    assert not offenders, offenders


def _routed(node: ast.AST) -> bool:
    """A handler registered with ``@router.get(...)``: reached through the router, not by import."""
    return any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and ast.unparse(d.func.value) == "router"
        for d in getattr(node, "decorator_list", [])
    )


def _public_definitions(tree: ast.Module) -> set[str]:
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
        and not _routed(node)
    }


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name a module binds at its top level (definitions, assignments, imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    if "__getattr__" in names and "_HOMES" in names:  # a package that loads its exports on first use
        homes = next(n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "_HOMES")
        names |= set(ast.literal_eval(homes))
    return names


def _declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return None


LIBRARY_MODULES = [
    path
    for package in PACKAGES
    for path in _modules(package)
    if path.name not in ("__main__.py",) and "scripts/bench/hello.py" not in str(path)
]


@pytest.mark.parametrize("path", LIBRARY_MODULES, ids=[str(p.relative_to(REPO)) for p in LIBRARY_MODULES])
def test_all_lists_exactly_the_public_surface(path: Path) -> None:
    """Assert ``__all__`` names only what exists, and every public function and class is in it."""
    tree = ast.parse(path.read_text(), str(path))
    declared = _declared_all(tree)
    if declared is None:
        assert not _public_definitions(tree), f"{path.relative_to(REPO)} defines public names but has no __all__"
        return
    missing = [name for name in declared if name not in _bound_names(tree)]
    assert not missing, f"{path.relative_to(REPO)}: __all__ lists names that do not exist: {missing}"
    unlisted = sorted(_public_definitions(tree) - set(declared))
    assert not unlisted, f"{path.relative_to(REPO)}: public but not in __all__: {unlisted}"


@pytest.mark.parametrize("package", ["backend", "checks", "docsite", "pages", "scripts.faults", "scripts.results"])
def test_package_exports_resolve(package: str) -> None:
    """Assert every name a package exports can be imported from it (lazily loaded ones too)."""
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing, f"{package}.__all__ lists names that do not resolve: {missing}"


SOURCES = sorted(
    p for root in (*PACKAGES, "tests") for p in (REPO / root).rglob("*.py") if "node_modules" not in p.parts
)


def test_no_module_is_over_the_line_limit() -> None:
    """Assert every module of the packages and the tests stays within MAX_LINES."""
    long = {str(p.relative_to(REPO)): n for p in SOURCES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


# How a fault is made for real; outside the fault library only the drill routes' client may say it.
_FAULT_MAKING = ("os.kill(", ".set_mode(", "SIGSTOP", "write_lock_holder(", "tmpfs(", '.fault("')


def test_every_fault_is_made_in_the_fault_library() -> None:
    """Assert no harness module outside scripts/faults signals, mounts, locks or cuts anything itself:
    drills, client scenarios, game days and benchmarks ask the library for a fault by name."""
    offenders = [
        f"{p.relative_to(REPO)}:{n}: {line.strip()}"
        for p in sorted((REPO / "scripts").rglob("*.py"))
        if "faults" not in p.relative_to(REPO / "scripts").parts
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if any(word in line for word in _FAULT_MAKING)
    ]
    assert not offenders, "\n".join(offenders)


def test_test_modules_share_helpers_only_through_tests_support() -> None:
    """Assert no test module imports another test module: what tests share lives in tests/support."""
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno} imports {node.module}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        if "support" not in path.relative_to(REPO / "tests").parts
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("tests.")
        and not node.module.startswith("tests.support")
    ]
    assert not offenders, "\n".join(offenders)
