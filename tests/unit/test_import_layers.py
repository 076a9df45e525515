"""Imports run one way: a module imports its own folder and the layers below
it, never one above; transports reach the call only through the seam.

The layers are the ones `gateway/__init__.py` draws. Every import counts,
including those inside functions and under `TYPE_CHECKING`: a type-only import
upward is still a dependency a reader has to hold in mind.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]

LAYERS: list[tuple[str, ...]] = [
    ("gateway", "gateway.clock"),
    ("gateway.audio",),
    ("gateway.flow",),
    ("gateway.observe",),
    ("gateway.pipeline", "gateway.agents"),
    ("gateway.relay",),
    ("gateway.voice",),
    ("gateway.call",),
    ("gateway.cluster",),
    ("gateway.access",),
    ("gateway.runtime",),
    ("gateway.wire",),
    ("transports",),
    ("gateway.server",),
    ("gateway.testing",),
    ("gateway.compare",),
    ("gateway.cli", "gateway.reference", "gateway.call_command"),
]

SEAM_FOR_TRANSPORTS = (
    "gateway.wire",
    "gateway.audio",
    "gateway.flow",
    "gateway.observe",
    "gateway.access",
    "gateway.cluster",
    "gateway.runtime",
)
"""What a transport may import of the gateway: the seam and what lies beside
and below it, never `gateway.call`, a voice or the pipeline."""


def layer_of(module: str) -> tuple[int, str]:
    """(rank, group) of the most specific layer prefix naming `module`."""
    best: tuple[int, str] | None = None
    for rank, group in enumerate(LAYERS):
        for prefix in group:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (rank, prefix)
    if best is None:
        raise LookupError(f"{module} is in no layer: add it to LAYERS")
    return best


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str, root: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every gateway or transports import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from gateway.x import y` may name a submodule y: count the deeper one.
            names = [f"{base}.{alias.name}" for alias in node.names]
            names = [n if _is_module(root, n) else base for n in names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("gateway", "transports"):
                yield node.lineno, name


def _is_module(root: Path, name: str) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def violations(root: Path) -> list[str]:
    found = []
    for top in ("gateway", "transports"):
        for path in sorted((root / top).rglob("*.py")):
            module = module_name(path, root)
            rank, group = layer_of(module)
            for line, imported in imports_of(path, module, root):
                target_rank, target_group = layer_of(imported)
                where = f"{path.relative_to(root)}:{line}: {module} imports {imported}"
                if target_rank > rank:
                    found.append(f"{where} (layer {target_group} is above {group})")
                elif group == "transports" and not imported.startswith("transports"):
                    if not any(
                        imported == p or imported.startswith(p + ".") for p in SEAM_FOR_TRANSPORTS
                    ):
                        found.append(f"{where} (a transport uses the call through gateway.wire)")
    return found


def test_every_module_sits_in_a_layer() -> None:
    for top in ("gateway", "transports"):
        for path in (ROOT / top).rglob("*.py"):
            layer_of(module_name(path, ROOT))


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert violations(ROOT) == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    for top in ("gateway", "transports"):
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    (tmp_path / "gateway" / "flow").mkdir()
    (tmp_path / "gateway" / "flow" / "__init__.py").write_text("")
    (tmp_path / "gateway" / "flow" / "credit.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from gateway.call.call import Call\n"
    )
    found = violations(tmp_path)
    assert len(found) == 1
    assert "gateway.flow.credit imports gateway.call.call" in found[0]


def test_the_check_catches_a_transport_reaching_past_the_seam(tmp_path: Path) -> None:
    for top in ("gateway", "transports"):
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    (tmp_path / "transports" / "media.py").write_text(
        "from gateway.wire import Call\nfrom gateway.call.conversation import Conversation\n"
    )
    found = violations(tmp_path)
    assert found == [
        "transports/media.py:2: transports.media imports gateway.call.conversation"
        " (a transport uses the call through gateway.wire)"
    ]
