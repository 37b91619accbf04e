"""The shape of ``src/citeqa``: no import cycles, imports flow one way along the pipeline, only ``app`` meets gradio.

Every ``import`` statement counts, including those inside functions and under ``TYPE_CHECKING``: a lazy import is
still a dependency, and a cycle hidden behind one is still a cycle to a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "citeqa"

# Each top-level part of the package and the parts it may import. The pipeline runs
# ingest -> encode -> index -> answer; qa.py composes them; eval and app sit on top.
CORE = {"models", "errors", "config"}
ALLOWED: dict[str, set[str]] = {
    "models": set(),
    "errors": set(),
    "config": {"errors"},  # a setting that is not a number is an InputError
    "ingest": CORE,
    "encode": CORE | {"ingest"},
    "index": CORE | {"ingest", "encode"},
    "answer": CORE | {"ingest", "encode", "index"},
    "qa": CORE | {"ingest", "encode", "index", "answer"},
    "eval": CORE | {"ingest", "encode", "index", "answer", "qa"},
    "cluster": CORE | {"ingest", "encode", "index", "answer", "qa"},
    "app": CORE | {"ingest", "encode", "index", "answer", "qa", "eval", "cluster"},
    "train": CORE | {"ingest", "encode"},
    "__init__": {"qa", "config"},
}
GUI = ("gradio", "gradio_client", "fastapi", "uvicorn", "starlette", "mcp")


def module_name(path: Path, src: Path = SRC) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(src: Path = SRC) -> dict[str, Path]:
    return {module_name(p, src): p for p in sorted(src.rglob("*.py"))}


def imports_of(path: Path, name: str, known: dict[str, Path] | None = None) -> set[str]:
    """Every module named by an import in ``path``: absolute, relative, and ``from package import module``."""
    known = modules() if known is None else known
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return out


def graph(src: Path = SRC) -> dict[str, set[str]]:
    known = modules(src)
    root = src.name
    return {m: {i for i in imports_of(p, m, known) if i in known and i not in (m, root)} for m, p in known.items()}


def part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def test_every_module_belongs_to_a_known_part():
    unknown = sorted(m for m in modules() if part(m) not in ALLOWED)
    assert not unknown, f"add these to ALLOWED (and docs/architecture.md): {unknown}"


def find_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [])
    return cycles


def test_no_import_cycles():
    cycles = find_cycles(graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_flow_one_way():
    wrong = []
    for m, deps in graph().items():
        for d in deps:
            if part(d) != part(m) and part(d) not in ALLOWED[part(m)]:
                wrong.append(f"{m} imports {d}")
    assert not wrong, "\n".join(sorted(wrong))


@pytest.mark.parametrize("name", sorted(modules()))
def test_only_app_imports_gui_and_server_frameworks(name: str):
    if part(name) == "app":
        return
    found = {i for i in imports_of(modules()[name], name) if i.split(".")[0] in GUI}
    assert not found, f"{name} imports {sorted(found)}; only citeqa.app may"


def test_cycle_detector_follows_relative_lazy_and_type_checking_imports(tmp_path: Path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from pkg import c\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n")
    (pkg / "d.py").write_text("import pkg.c\n")
    g = graph(pkg)
    assert g["pkg.a"] == {"pkg.sub", "pkg.sub.b"} and g["pkg.sub.b"] == {"pkg.c"} and g["pkg.c"] == {"pkg.a"}
    assert find_cycles(g) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_modules_stay_small():
    big = {m: n for m, p in modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert not big, f"modules over 300 lines, split them: {big}"
