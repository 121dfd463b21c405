"""Architecture rules of issue 16, checked from the code's own imports.

The rules (README "One shape for every service"):

* services never import each other: a module of ``tousu_A`` never imports
  ``tousu_B`` for another service B (``tousu_common`` is shared and allowed);
* the domain is free of I/O: no module of ``tousu_<svc>.domain`` imports
  sqlalchemy, httpx, aiokafka, fastapi, starlette, asyncpg or aiosqlite,
  directly or through any chain of the service's own modules or of
  ``tousu_common`` modules;
* routers hold no SQL: no module of ``tousu_<svc>.api`` imports sqlalchemy
  directly;
* all SQL is in ``adapters/``: no module of a service outside ``adapters`` and
  ``migrations`` imports sqlalchemy directly ("sql");
* every service has the same rooms: ``bootstrap.py``, ``domain/``,
  ``handlers/``, ``api/``, ``adapters/``, ``entrypoints/`` ("rooms");
* every state machine is one legal-transition table, a module-level constant of
  the domain with the name :data:`TRANSITION_TABLES` gives ("transitions").

The import graph is built with :mod:`ast` from the source files, so nothing
is imported to check it. Every ``import`` and ``from … import`` counts,
wherever it sits (module level, inside a function, under ``TYPE_CHECKING``);
``from pkg import name`` counts as importing the module ``pkg.name`` when that
module exists, and importing ``a.b.c`` counts as importing the packages
``a`` and ``a.b`` too (their ``__init__`` runs).
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "routing", "rectification", "notify", "console")
SOURCE_ROOTS = [ROOT / "libs" / "common" / "src"] + [
    ROOT / "services" / name / "src" for name in SERVICES
]
IO_LIBRARIES = frozenset(
    {"sqlalchemy", "httpx", "aiokafka", "fastapi", "starlette", "asyncpg", "aiosqlite"}
)
SQL_LIBRARIES = frozenset({"sqlalchemy"})
ROOMS = ("bootstrap", "domain", "handlers", "api", "adapters", "entrypoints")
# Each state machine's legal-transition table: module → constant name.
TRANSITION_TABLES: tuple[tuple[str, str], ...] = (
    ("tousu_intake.domain.model", "COMPLAINT_TRANSITIONS"),
    ("tousu_routing.domain.model", "TRIAGE_TRANSITIONS"),
    ("tousu_routing.domain.clocks", "CLOCK_TRANSITIONS"),
    ("tousu_rectification.domain.status", "TRANSITIONS"),
    ("tousu_rectification.domain.rectification", "TRANSITIONS"),
    ("tousu_notify.domain.delivery", "DELIVERY_TRANSITIONS"),
    ("tousu_notify.domain.webhooks", "SUBSCRIPTION_TRANSITIONS"),
)

# Violations allowed for now: none (issue 16 emptied the list). The test fails
# for any violation not listed here AND for any entry that no longer happens;
# fix a new violation rather than list it. The keys, should one ever be needed:
#   ("api-sql", module)        the router imports sqlalchemy (SQL in routers)
#   ("domain-io", module)      the domain module reaches an I/O library
#   ("cross-service", module)  the module imports another service's package
#   ("sql", module)            a module outside adapters/ and migrations/ imports sqlalchemy
#   ("rooms", module)          the service lacks this room (bootstrap.py or a package)
#   ("transitions", name)      the state machine's legal-transition table is missing
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()


@dataclass
class ImportGraph:
    """Modules found under the source roots and the modules each one imports."""

    files: dict[str, Path] = field(default_factory=dict)
    packages: set[str] = field(default_factory=set)
    edges: dict[str, set[str]] = field(default_factory=dict)

    def is_local(self, module: str) -> bool:
        return module in self.files


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _imported_names(module: str, is_package: bool, tree: ast.AST) -> set[str]:
    """Every dotted name the module imports (absolute; relative ones resolved)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names.add(target)
            # `from pkg import sub` may name a submodule; kept as a candidate
            # and resolved against the known files in build_graph().
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def build_graph() -> ImportGraph:
    graph = ImportGraph()
    parsed: list[tuple[str, bool, ast.AST]] = []
    for root in SOURCE_ROOTS:
        for path in sorted(root.rglob("*.py")):
            module, is_package = _module_name(root, path)
            graph.files[module] = path
            if is_package:
                graph.packages.add(module)
            parsed.append((module, is_package, ast.parse(path.read_text(), str(path))))
    for module, is_package, tree in parsed:
        targets: set[str] = set()
        for name in _imported_names(module, is_package, tree):
            top = name.split(".")[0]
            if not graph.is_local(top) and not any(graph.is_local(p) for p in _with_parents(name)):
                # third-party or stdlib: keep only the top-level distribution
                targets.add(top)
                continue
            # local: the longest prefix that is a real module, plus its parents
            known = [p for p in _with_parents(name) if graph.is_local(p)]
            targets.update(known)
        targets.discard(module)
        graph.edges[module] = targets
    return graph


GRAPH = build_graph()


def _chain(start: str, forbidden: frozenset[str], follow: set[str] | None) -> list[str] | None:
    """Shortest import chain from ``start`` to a forbidden library.

    ``follow`` limits which local modules the search walks through
    (``None`` means: the start module only, i.e. direct imports).
    """
    parents: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in sorted(GRAPH.edges.get(current, ())):
            if target in parents:
                continue
            if target in forbidden:
                chain = [target, current]
                step = parents[current]
                while step is not None:
                    chain.append(step)
                    step = parents[step]
                return list(reversed(chain))
            if follow is not None and target in follow:
                parents[target] = current
                queue.append(target)
    return None


def _service_modules(service: str) -> list[str]:
    package = f"tousu_{service}"
    return sorted(m for m in GRAPH.files if m == package or m.startswith(package + "."))


def _in_layer(module: str, service: str, layer: str) -> bool:
    prefix = f"tousu_{service}.{layer}"
    return module == prefix or module.startswith(prefix + ".")


def _walkable(service: str) -> set[str]:
    """Modules a domain import chain may pass through: the service's and common's."""
    return {m for m in GRAPH.files if m.split(".")[0] in {f"tousu_{service}", "tousu_common"}}


def find_violations() -> dict[tuple[str, str], str]:
    """Every rule violation in the code, keyed (rule, module) → readable chain."""
    found: dict[tuple[str, str], str] = {}
    other_packages = {f"tousu_{s}" for s in SERVICES}
    for service in SERVICES:
        own = f"tousu_{service}"
        walkable = _walkable(service)
        for module in _service_modules(service):
            foreign = sorted(
                t for t in GRAPH.edges[module] if t.split(".")[0] in other_packages - {own}
            )
            if foreign:
                found[("cross-service", module)] = f"{module} imports {', '.join(foreign)}"
            if _in_layer(module, service, "domain"):
                chain = _chain(module, IO_LIBRARIES, walkable)
                if chain:
                    found[("domain-io", module)] = " imports ".join(chain)
            if _in_layer(module, service, "api"):
                chain = _chain(module, SQL_LIBRARIES, None)
                if chain:
                    found[("api-sql", module)] = " imports ".join(chain)
            if not any(_in_layer(module, service, room) for room in ("adapters", "migrations")):
                chain = _chain(module, SQL_LIBRARIES, None)
                if chain:
                    found[("sql", module)] = " imports ".join(chain)
        for room in ROOMS:
            if f"{own}.{room}" not in GRAPH.files:
                found[("rooms", f"{own}.{room}")] = f"{own} has no {room}"
    for module, name in TRANSITION_TABLES:
        if name not in _module_constants(module):
            found[("transitions", f"{module}.{name}")] = f"{module} defines no {name}"
    return found


def _module_constants(module: str) -> set[str]:
    """Names assigned at the top level of ``module`` (empty when it does not exist)."""
    path = GRAPH.files.get(module)
    if path is None:
        return set()
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def io_free_common_modules() -> list[str]:
    """The tousu_common modules a domain may import: no I/O library reachable."""
    common = {m for m in GRAPH.files if m.split(".")[0] == "tousu_common"}
    return sorted(m for m in common if _chain(m, IO_LIBRARIES, common) is None)


# -- the graph itself must be right, or the rules below prove nothing ---------


def test_graph_sees_every_service_and_its_layers() -> None:
    for service in SERVICES:
        modules = _service_modules(service)
        assert f"tousu_{service}.domain" in modules, service
        assert any(_in_layer(m, service, "api") for m in modules), service
    assert "tousu_common.db" in GRAPH.files


def test_graph_follows_function_level_relative_and_from_imports(tmp_path: Path) -> None:
    source = (
        "import os.path\n"
        "from . import sibling\n"
        "from ..pkg import thing\n"
        "def late():\n"
        "    import sqlalchemy.orm\n"
        "    from httpx import AsyncClient\n"
    )
    names = _imported_names("a.b.c", False, ast.parse(source))
    assert {"os.path", "a.b", "a.b.sibling", "a.pkg", "a.pkg.thing"} <= names
    assert {"sqlalchemy.orm", "httpx", "httpx.AsyncClient"} <= names


def test_chain_names_every_step() -> None:
    # sqlalchemy is reached through tousu_common.db by construction of the code
    # base; the chain must start at the module and end at the library.
    chain = _chain("tousu_common.db", IO_LIBRARIES, {"tousu_common.db"})
    assert chain is not None
    assert chain[0] == "tousu_common.db" and chain[-1] in IO_LIBRARIES


# -- the rules ----------------------------------------------------------------


def test_services_never_import_each_other() -> None:
    _check_rule("cross-service")


def test_domain_reaches_no_io_library() -> None:
    _check_rule("domain-io")


def test_api_routers_import_no_sql() -> None:
    _check_rule("api-sql")


def test_no_sql_outside_adapters() -> None:
    _check_rule("sql")


def test_every_service_has_the_same_rooms() -> None:
    _check_rule("rooms")


def test_every_state_machine_is_one_transition_table() -> None:
    _check_rule("transitions")


def test_known_violations_only_name_real_modules() -> None:
    for rule, module in KNOWN_VIOLATIONS:
        if rule in {"cross-service", "domain-io", "api-sql", "sql"}:
            assert module in GRAPH.files, f"{module} in KNOWN_VIOLATIONS does not exist"
        else:
            assert rule in {"rooms", "transitions"}, (rule, module)


def _check_rule(rule: str) -> None:
    found = {key: why for key, why in find_violations().items() if key[0] == rule}
    allowed = {key for key in KNOWN_VIOLATIONS if key[0] == rule}
    new = sorted(set(found) - allowed)
    gone = sorted(allowed - set(found))
    messages = [f"new {rule} violation: {found[key]}" for key in new]
    messages += [
        f"{key} no longer happens: delete it from KNOWN_VIOLATIONS (issue 16)" for key in gone
    ]
    if messages:
        pytest.fail("\n".join(messages))


if __name__ == "__main__":  # pragma: no cover - a reading aid for humans
    for key, why in sorted(find_violations().items()):
        print(key, "|", why)
    print("I/O-free tousu_common modules:", ", ".join(io_free_common_modules()))
