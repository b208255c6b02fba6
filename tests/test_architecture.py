"""The package's import graph: no cycle, and no import against the declared layer order.

Every ``import`` in every module counts, wherever it stands: at the top, inside a function (a
lazy import), or under ``if TYPE_CHECKING``. A module may import modules of its own layer (the
graph must stay acyclic) and of lower layers, never of a higher one. docs/architecture.md
explains the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "textvae"

# Lowest first. A module belongs to the layer of the longest prefix that names it (a prefix
# names a module or a package and everything under it).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("textvae.version", "textvae.errors", "textvae.device", "textvae.files",
                    "textvae.distributed", "textvae.progress", "textvae.curves")),
    ("text and pictures", ("textvae.label_sets", "textvae.data", "textvae.image.sprites",
                           "textvae.image.pictures")),
    ("models", ("textvae.models", "textvae.image.models", "textvae.image.vq",
                "textvae.image.vqvae2", "textvae.image.registry",
                "textvae.image.m2", "textvae.image.pixelcnn", "textvae.image.prior")),
    ("configs", ("textvae.config_files", "textvae.config_types", "textvae.loop_config",
                 "textvae.label_config", "textvae.config", "textvae.image.config")),
    ("batches", ("textvae.data.corpus", "textvae.data.labelled_corpus", "textvae.image.data",
                 "textvae.image.degrade")),
    ("objectives and metrics", ("textvae.objectives", "textvae.semisupervised", "textvae.label_posterior",
                                "textvae.metrics",
                                "textvae.image.evaluate",
                                "textvae.image.disentangle", "textvae.image.m2_objective",
                                "textvae.image.restore", "textvae.image.checkerboard")),
    ("checkpoint", ("textvae.checkpoint", "textvae.text_checkpoint")),
    ("trainers", ("textvae.training", "textvae.validate", "textvae.remedies", "textvae.train",
                  "textvae.train_labelled",
                  "textvae.image.train", "textvae.image.semisup_train", "textvae.image.prior_train")),
    ("use", ("textvae.decoding", "textvae.generate", "textvae.api", "textvae.quality", "textvae.evaluate",
             "textvae.bench", "textvae.image.generate", "textvae.image.report", "textvae.viz",
             "textvae.image.classify", "textvae.image.judge", "textvae.image.prior_sample",
             "textvae.image.restore_run")),
    ("entry points", ("textvae", "textvae.__main__", "textvae.cli", "textvae.image")),
]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """The textvae modules that ``path`` (module ``name``) imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, up level - 1 more
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {m for m in found if m == "textvae" or m.startswith("textvae.")}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, name, modules) - {name} for name, path in paths.items()}


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS in {__file__}")
    return best


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{src} ({LAYERS[layer_of(src)][0]}) imports {dst} ({LAYERS[layer_of(dst)][0]})"
        for src, targets in sorted(graph.items()) for dst in sorted(targets)
        if dst in graph and layer_of(dst) > layer_of(src)
    ]


def test_every_module_has_a_layer():
    for module in import_graph():
        layer_of(module)


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_no_import_against_the_layer_order():
    assert upward_imports(import_graph()) == []


# The modules both sides share: they import neither side, and the image side imports nothing of
# the text side but them (the text side may not import the image side at all). Until the package
# moves into core/, text/ and image/ folders (issue 32), this list says which modules are core.
CORE = ("textvae.version", "textvae.errors", "textvae.device", "textvae.files",
        "textvae.distributed", "textvae.progress", "textvae.curves", "textvae.config_files", "textvae.config_types",
        "textvae.loop_config", "textvae.label_config", "textvae.label_sets",
        "textvae.semisupervised", "textvae.metrics", "textvae.objectives",
        "textvae.models.gaussian", "textvae.models.weights", "textvae.checkpoint",
        "textvae.training")
ENTRY = ("textvae", "textvae.__main__", "textvae.cli")


def side_of(module: str) -> str:
    def under(prefixes: tuple[str, ...]) -> bool:
        return any(module == p or module.startswith(p + ".") for p in prefixes)

    if module in ENTRY[:2] or under(ENTRY[2:]):
        return "entry"
    if under(CORE):
        return "core"
    return "image" if under(("textvae.image",)) else "text"


def side_crossings(graph: dict[str, set[str]]) -> list[str]:
    allowed = {"core": {"core"}, "text": {"core", "text"}, "image": {"core", "image"},
               "entry": {"core", "text", "image", "entry"}}
    return [f"{src} ({side_of(src)}) imports {dst} ({side_of(dst)})"
            for src, targets in sorted(graph.items()) for dst in sorted(targets)
            if dst in graph and side_of(dst) not in allowed[side_of(src)]]


def test_core_imports_neither_side_and_the_sides_not_each_other():
    assert side_crossings(import_graph()) == []


def test_flags_a_side_importing_the_other(tmp_path):
    package = write_tree(tmp_path, {
        "__init__.py": "", "errors.py": "", "config.py": "import textvae.errors\n",
        "image/__init__.py": "", "image/train.py": "from textvae.config import Config\n",
        "checkpoint.py": "def f():\n    import textvae.config\n",
    })
    assert side_crossings(import_graph(package)) == [
        "textvae.checkpoint (core) imports textvae.config (text)",
        "textvae.image.train (image) imports textvae.config (text)",
    ]


def test_no_module_over_the_size_limit():
    # "About 400 lines": the few between 400 and 450 are named in docs/architecture.md.
    sizes = {module_name(p, PACKAGE): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {m: n for m, n in sizes.items() if n > 450} == {}


# The checks themselves, on small trees with known answers (so that they can fail).


def write_tree(root: Path, files: dict[str, str]) -> Path:
    package = root / "textvae"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_finds_a_cycle_hidden_in_a_function_and_under_type_checking(tmp_path):
    package = write_tree(tmp_path, {
        "__init__.py": "",
        "train.py": "def f():\n    from textvae.remedies import R\n",
        "remedies.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                       "    from textvae.train import Trainer\n",
    })
    graph = import_graph(package)
    assert graph["textvae.train"] == {"textvae.remedies"}
    assert graph["textvae.remedies"] == {"textvae.train"}
    assert find_cycle(graph) in (
        ["textvae.remedies", "textvae.train", "textvae.remedies"],
        ["textvae.train", "textvae.remedies", "textvae.train"],
    )


def test_resolves_relative_and_submodule_imports(tmp_path):
    package = write_tree(tmp_path, {
        "__init__.py": "",
        "cli/__init__.py": "from . import common\nfrom .common import helper\n",
        "cli/common.py": "from ..errors import TextVAEError\n",
        "errors.py": "",
    })
    graph = import_graph(package)
    assert graph["textvae.cli"] == {"textvae.cli.common"}
    assert graph["textvae.cli.common"] == {"textvae.errors"}
    assert find_cycle(graph) is None


def test_flags_an_import_against_the_layer_order(tmp_path):
    package = write_tree(tmp_path, {
        "__init__.py": "",
        "checkpoint.py": "def f():\n    from textvae.image.config import ImageConfig\n",
        "image/__init__.py": "",
        "image/config.py": "",
        "metrics.py": "import textvae.api\n",
        "api/__init__.py": "",
    })
    assert upward_imports(import_graph(package)) == [
        "textvae.metrics (objectives and metrics) imports textvae.api (use)",
    ]


@pytest.mark.parametrize("module, layer", [
    ("textvae.data.grammar.lexicon", "text and pictures"),
    ("textvae.data.corpus", "batches"),
    ("textvae.training.loop", "trainers"),
    ("textvae.cli.image", "entry points"),
])
def test_longest_prefix_picks_the_layer(module, layer):
    assert LAYERS[layer_of(module)][0] == layer
