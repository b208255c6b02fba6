"""Config files: the YAML a config is read from, the dotted ``--set`` overrides applied to it, and
the configs that ship inside the package, found by name from any folder (the dataclasses that
check what is read are :mod:`textvae.text.run.config`'s).

``textvae/configs/*.yaml`` is package data, so a ``pip install``-ed textvae has them too:
``--config quickstart`` (or ``quickstart.yaml``, or ``configs/quickstart.yaml``) resolves to the
shipped file when no such file exists under the current folder. A path that does exist always
wins, so a user's own copy of a config is used as it stands.
"""

from __future__ import annotations

import difflib
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from textvae.core.errors import ConfigError

SUFFIX = ".yaml"
_SENTENCE_END = re.compile(r"(?<!\bal)\.\s+(?=[A-Z])")  # "Bowman et al. 2016" goes on


def shipped_dir() -> Path:
    """The folder of the shipped configs (inside the installed package)."""
    return Path(str(resources.files("textvae").joinpath("configs")))


def shipped_configs() -> dict[str, str]:
    """Each shipped config's name with its one-line description (the first comment line that is
    not the command that runs it), sorted by name."""
    found = {}
    for path in sorted(shipped_dir().glob(f"*{SUFFIX}")):
        found[path.stem] = _description(path)
    return found


def _description(path: Path, width: int = 100) -> str:
    """The first sentence of the file's opening comment (after the command that runs it)."""
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text.startswith("textvae "):
            words.extend(text.split())
    text = " ".join(words)
    end = _SENTENCE_END.search(text)
    text = text[: end.start() + 1] if end else text
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def shipped_name(text: str) -> str:
    """The shipped config name a ``--config`` value means: ``configs/quickstart.yaml``,
    ``quickstart.yaml`` and ``quickstart`` all mean ``quickstart``."""
    name = Path(text).name
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


def resolve_config_path(text: str | Path) -> Path:
    """A ``--config`` value as a file: the path if it exists, else the shipped config it names.

    Raises:
        ConfigError: neither exists; the message names the closest shipped configs.
    """
    path = Path(text)
    if path.is_file():
        return path
    parent = path.parent.name
    if parent in ("", "configs"):  # a bare name, or the clone's configs/ folder
        shipped = shipped_dir() / f"{shipped_name(str(text))}{SUFFIX}"
        if shipped.is_file():
            return shipped
    # The closest shipped names, not all of them: the list outgrew a readable message.
    close = difflib.get_close_matches(shipped_name(str(text)), shipped_configs(), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ConfigError(
        f"config file not found: {text} (neither a file here nor a shipped config; {hint}"
        f"`textvae config --list` lists the {len(shipped_configs())} shipped configs)"
    )


class _DuplicateKey(yaml.YAMLError):
    """A mapping names one key twice (plain YAML keeps the last silently)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, at any depth: plain
    PyYAML keeps the last value, so a second ``lr:`` further down a section would silently
    replace the first. It tracks each node's dotted path to name the section."""

    def __init__(self, stream: Any, root: str = "") -> None:
        super().__init__(stream)
        self._root = root  # the document's own path (an override's key)
        self._paths: dict[int, str] = {}  # id(node) -> dotted path, set by the parent

    def construct_document(self, node: yaml.Node) -> Any:
        self._paths[id(node)] = self._root
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        path = self._paths.get(id(node), "")
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: overriding is its point
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = lines.get(key)
            except TypeError:  # an unhashable key: the base constructor names it
                continue
            if first is not None:
                where = f"in section '{path}'" if path else "at the top level"
                at = f"lines {first} and {line}" if first != line else f"line {line}"
                raise _DuplicateKey(f"duplicate key {quoted_key(key)} {where} ({at})")
            lines[key] = line
            self._paths[id(value_node)] = f"{path}.{key}" if path else str(key)
        return super().construct_mapping(node, deep=deep)

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> list:
        path = self._paths.get(id(node), "")
        for i, item in enumerate(node.value):
            self._paths[id(item)] = f"{path}[{i}]"
        return super().construct_sequence(node, deep=deep)


def quoted_key(key: Any) -> str:
    """A config key in quotes; one with a line break or other unprintable character as its
    repr, so that an error naming it stays one line."""
    text = str(key)
    return f"'{text}'" if text.isprintable() else repr(text)


def _load(text: str, root: str = "") -> Any:
    """YAML text as Python values (safe types only); a duplicate key raises ``_DuplicateKey``
    naming its section (under ``root``, the key an override's value is for)."""
    loader = _UniqueKeyLoader(text, root)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into (["a", "b", "c"], parsed value); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value (e.g. train.lr=3e-4)")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = _load(raw, ".".join(parts)) if raw.strip() else ""
    except _DuplicateKey as err:
        raise ConfigError(f"override {text!r}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({_one_line(err)})") from None
    return parts, value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply dotted ``key=value`` overrides to a nested dict (in place) and return it."""
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _one_line(err: Exception) -> str:
    """A YAML (or decoding) error as one line: PyYAML's own message spans several, with a
    caret drawing that means nothing once the CLI has put it on one line."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(err).split())


def read_yaml(path: str | Path) -> dict:
    """Read a YAML config file into a dict, with clear errors for missing or malformed files.

    ``path`` may also name a shipped config (``quickstart``); see :func:`resolve_config_path`.
    """
    path = resolve_config_path(path)
    try:
        data = _load(path.read_text(encoding="utf-8"))
    except _DuplicateKey as err:
        raise ConfigError(f"{path}: {err}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML ({_one_line(err)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, model, train)")
    return data
