"""No import cycles anywhere in the package (scripts/check_import_cycles.py), and the
checker finds one when there is one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_import_cycles.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_import_cycles", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_has_no_import_time_cycles():
    checker = _checker()
    graph = checker.import_graph(module_level_only=True)
    assert "lgformer.engine.trainer" in graph and graph["lgformer.engine.trainer"]
    assert checker.cycles(graph) == []


def test_deferred_imports_close_no_cycle_either():
    # LGFormer.save_pretrained / from_pretrained read and write model folders through
    # lgformer.checkpoints.io, which is given the model builder instead of importing it.
    checker = _checker()
    assert checker.cycles(checker.import_graph()) == []


def test_a_cycle_through_a_deferred_import_is_found_and_told_apart(tmp_path):
    package = tmp_path / "lgformer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from lgformer.b import f\n")
    (package / "b.py").write_text("def f():\n    from lgformer import c\n")
    (package / "c.py").write_text("from . import a\n")
    checker = _checker()
    assert checker.cycles(checker.import_graph(tmp_path)) == [
        ["lgformer.a", "lgformer.b", "lgformer.c"]
    ]
    assert checker.cycles(checker.import_graph(tmp_path, module_level_only=True)) == []
