"""The README and docs/ show commands that work.

- Every ``textvae`` command in a fenced shell block (```bash, sh, shell, console) of README.md or
  docs/*.md parses with the real parser (a flag that does not exist fails), and its ``--config``
  names a shipped config (or a file the same page writes with ``> FILE``). In ``console`` blocks
  only ``$ `` lines are commands (the rest is output); elsewhere a line is a command when it
  starts with ``textvae `` (after an optional ``$ ``), with ``\\`` continuations joined.
- Inline code spans that hold a whole command (``textvae sample --n 5``) parse too; spans written
  as usage (with ``[``, ``|`` or ``...``) and bare command names are only checked for existing.
- The README's commands and Python blocks run, in order, in a temporary folder, with tiny budgets
  added here (``TINY_TRAIN`` and ``budgeted``). Commands that need data a user downloads (PTB,
  Yahoo, MNIST) are parsed only.
- Console commands shown with a ``textvae: error: ...`` line run and must print that line; a few
  cheap docs commands (``CHEAP``) run too.
- Relative links point at files (and headings) that exist; commands are not hidden in blocks
  without a shell language; docs/configs.md names every config key; Python blocks in docs/ compile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from textvae.cli import build_parser, main
from textvae.core.config_files import resolve_config_path, shipped_dir

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "shell", "console"}
SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1"}

# Added to every `textvae train` the README runs (after its own options, so these win).
TINY_TRAIN = [
    "data.grammar_size=400",
    "train.max_steps=12",
    "train.max_minutes=null",
    "train.amp=off",
    "model.embed_dim=16",
    "model.encoder_hidden_dim=24",
    "model.decoder_hidden_dim=16",  # = embed_dim: the `text` recipe ties the output layer to it
    "model.latent_dim=8",
]
QUICKSTART_OUTPUT = re.compile(r"<!-- QUICKSTART OUTPUT -->.*?<!-- /QUICKSTART OUTPUT -->", re.S)


@dataclass
class Command:
    page: str  # relative to the repository root
    line: int  # 1-based
    text: str  # the command line, `$ ` and continuations removed
    output: list[str]  # console blocks: the lines shown after it
    run_in_readme: bool  # False inside the QUICKSTART OUTPUT markers

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass
class Block:
    page: str
    line: int  # the line of the opening fence
    lang: str
    lines: list[str]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def fenced_blocks(path: Path) -> list[Block]:
    blocks, lines, i = [], path.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if not opening:
            i += 1
            continue
        fence, start, body = opening.group(1), i, []
        i += 1
        while i < len(lines) and not re.match(rf"^\s*{fence[0]}{{{len(fence)},}}\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append(Block(rel(path), start + 1, opening.group(2).lower(), body))
        i += 1
    return blocks


def marked_lines(path: Path) -> set[int]:
    """Line numbers (1-based) inside the README's QUICKSTART OUTPUT markers."""
    text = path.read_text(encoding="utf-8")
    inside = set()
    for found in QUICKSTART_OUTPUT.finditer(text):
        first = text.count("\n", 0, found.start()) + 1
        inside.update(range(first, first + found.group(0).count("\n") + 1))
    return inside


def commands_in(path: Path) -> list[Command]:
    found, marked = [], marked_lines(path)
    for block in fenced_blocks(path):
        if block.lang not in SHELL:
            continue
        current: Command | None = None
        lines = block.lines
        i = 0
        while i < len(lines):
            number, raw = block.line + 1 + i, lines[i]
            text = raw.strip()
            while text.endswith("\\") and i + 1 < len(lines):  # join continuations
                i += 1
                text = text[:-1].rstrip() + " " + lines[i].strip()
            i += 1
            prompt = text.startswith("$ ")
            command = text[2:].strip() if prompt else text
            if block.lang == "console" and not prompt:
                if current is not None:
                    current.output.append(raw)
                continue
            current = None
            if command.startswith("textvae "):
                current = Command(rel(path), number, command, [], number not in marked)
                found.append(current)
    return found


ALL_COMMANDS = [c for page in PAGES for c in commands_in(page)]
README_COMMANDS = [c for c in ALL_COMMANDS if c.page == "README.md"]


def split_command(text: str) -> tuple[list[str], str | None]:
    """The arguments after ``textvae`` (up to the first shell operator), and the file a ``>``
    redirect writes, if any."""
    words = shlex.split(text, comments=True)
    redirect = None
    for i, word in enumerate(words):
        if word in SHELL_OPERATORS:
            if word in (">", ">>") and i + 1 < len(words):
                redirect = words[i + 1]
            words = words[:i]
            break
    assert words and words[0] == "textvae", text
    return words[1:], redirect


def option_values(argv: list[str], flag: str) -> list[str]:
    values = []
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif word.startswith(flag + "="):
            values.append(word.split("=", 1)[1])
    return values


def parse(argv: list[str]) -> str | None:
    """None if ``textvae ARGV`` parses; else argparse's message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exit_:
        if exit_.code not in (0, None):  # --help and --version exit 0
            return err.getvalue().strip().splitlines()[-1] if err.getvalue() else str(exit_)
    return None


def subcommand_names() -> dict:
    """The command tree: {name: {subname: {...}}}."""

    def walk(parser) -> dict:
        tree = {}
        for action in parser._actions:  # argparse has no public walk of subparsers
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    tree[name] = walk(sub)
        return tree

    return walk(build_parser())


COMMAND_TREE = subcommand_names()


def check_command(argv: list[str], files_written: set[str]) -> None:
    """Fail unless ``textvae ARGV`` parses and its configs resolve."""
    message = parse(argv)
    assert message is None, f"does not parse: {message}"
    for name in option_values(argv, "--config"):
        if name not in files_written:
            resolve_config_path(name)  # ConfigError names the shipped configs


def files_written_by(page: str) -> set[str]:
    return {r for c in ALL_COMMANDS if c.page == page for r in [split_command(c.text)[1]] if r}


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: c.where)
def test_every_documented_command_parses(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # configs resolve as for a user with no clone
    argv, _ = split_command(command.text)
    check_command(argv, files_written_by(command.page))


def inline_commands(path: Path) -> list[tuple[int, str]]:
    """``textvae ...`` code spans outside fenced blocks: (line, text)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for block in fenced_blocks(path):
        for i in range(block.line - 1, block.line + len(block.lines) + 1):
            if i < len(lines):
                lines[i] = ""
    text = "\n".join(lines)
    found = []
    for match in re.finditer(r"(?<!`)`(textvae [^`]+)`(?!`)", text):
        found.append((text.count("\n", 0, match.start()) + 1, " ".join(match.group(1).split())))
    return found


INLINE = [(rel(page), line, text) for page in PAGES for line, text in inline_commands(page)]


@pytest.mark.parametrize("page, line, text", INLINE, ids=[f"{p}:{n}" for p, n, _ in INLINE])
def test_inline_commands_exist_and_parse(page, line, text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = text.split()[1:]
    tree, names = COMMAND_TREE, 0
    while names < len(words) and words[names] in tree:
        tree = tree[words[names]]
        names += 1
    usage = any(mark in text for mark in ("[", "|", "...", "…"))
    if names == len(words) or usage:  # a name (`textvae evaluate`) or usage, not a command line
        assert names > 0 or (words and words[0].startswith("-")), f"no such command: {text}"
        return
    argv, _ = split_command(text)
    check_command(argv, files_written_by(page))


def test_commands_are_not_hidden_in_blocks_without_a_shell_language():
    hidden = []
    for page in PAGES:
        for block in fenced_blocks(page):
            if block.lang in SHELL:
                continue
            for offset, line in enumerate(block.lines):
                text = line.strip().removeprefix("$ ")
                if text.startswith("textvae "):
                    hidden.append(f"{block.page}:{block.line + 1 + offset}: {text}")
    assert not hidden, "mark these blocks ```console (or ```bash) so their commands are checked:\n" + "\n".join(hidden)


def test_readme_has_commands_to_run():
    subcommands = {split_command(c.text)[0][0] for c in README_COMMANDS}
    assert {"train", "sample", "interpolate", "evaluate"} <= subcommands


# --- running commands -----------------------------------------------------------------------


def needs_download() -> set[str]:
    """Shipped configs whose data a user downloads (PTB, Yahoo, MNIST)."""
    names = set()
    for path in shipped_dir().glob("*.yaml"):
        source = (yaml.safe_load(path.read_text(encoding="utf-8")).get("data") or {}).get("source")
        if source in ("hf", "mnist"):
            names.add(path.stem)
    return names


DOWNLOADED = needs_download()


def with_option(argv: list[str], flag: str, value: str | None = None) -> list[str]:
    """ARGV with FLAG set to VALUE (replacing a value it gives), or FLAG added if it is a switch."""
    argv = list(argv)
    if value is None:
        return argv if flag in argv else [*argv, flag]
    if flag in argv:
        argv[argv.index(flag) + 1] = value
        return argv
    return [*argv, flag, value]


def budgeted(argv: list[str]) -> list[str]:
    """The command with tiny budgets, so the README's sequence runs in seconds."""
    command = argv[0]
    if command == "train":
        for override in TINY_TRAIN:
            argv = [*argv, "--set", override]
        return with_option(argv, "--no-progress")
    if command == "evaluate":
        for flag, value in (("--iw-samples", "3"), ("--sentences", "10"),
                            ("--diversity-samples", "10")):
            argv = with_option(argv, flag, value)
        return with_option(with_option(argv, "--no-quality"), "--no-progress")
    if command == "quality":
        for flag, value in (("--n-samples", "5"), ("--n-pairs", "2"), ("--steps", "3"),
                            ("--n-test", "5")):
            argv = with_option(argv, flag, value)
        return argv
    if command == "data" and argv[1:2] == ["grammar"]:
        return with_option(argv, "--n", "200")
    if command == "data" and argv[1:2] == ["stats"]:
        return [*argv, "--set", "data.grammar_size=400"]
    if command == "fit-prior":
        return with_option(argv, "--max-sentences", "50")
    if command == "bench":
        return [*with_option(with_option(argv, "--seconds", "0.5"), "--iw-samples", "0"),
                "--set", "data.grammar_size=400", "--set", "train.amp=off"]
    return argv


def raw_sentences(n: int, seed: int) -> str:
    """Raw text of the kind `--train FILE` is for: mixed case, punctuation attached."""
    import random

    rng = random.Random(seed)
    subjects = ["The dog", "My sister", "A tall man", "the Teacher", "Our neighbours", "Anna"]
    verbs = ["bought", "sold", "painted", "found", "lost", "didn't want"]
    objects = ["a red car", "the old house", "two guitars", "my bike", "a small boat", "owls"]
    ends = [".", "!", "?", ", yesterday.", " again.", "..."]
    return "".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}{rng.choice(ends)}\n"
                   for _ in range(n))


def run(argv: list[str], redirect: str | None = None) -> tuple[int, str, str]:
    """``textvae ARGV`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse
            status = exit_.code if isinstance(exit_.code, int) else 2
    if redirect:
        Path(redirect).write_text(out.getvalue(), encoding="utf-8")
    return status, out.getvalue(), err.getvalue()


def downloads(argv: list[str]) -> bool:
    from textvae.core.config_files import shipped_name

    configs = option_values(argv, "--config")
    checkpoints = option_values(argv, "-c") + option_values(argv, "--checkpoint")
    return (any(shipped_name(c) in DOWNLOADED for c in configs)
            or argv[0] == "image"
            or any("ptb" in c or "mnist" in c for c in checkpoints))


def error_example(command: Command) -> str | None:
    shown = [line.strip() for line in command.output if line.strip()]
    return shown[0] if shown and shown[0].startswith("textvae: error:") else None


def readme_steps() -> list[tuple[str, int, object]]:
    """The README's commands and Python blocks, in order: (kind, line, Command or code)."""
    steps: list[tuple[str, int, object]] = [
        ("command", c.line, c) for c in README_COMMANDS if c.run_in_readme and not error_example(c)
    ]
    for block in fenced_blocks(README):
        if block.lang == "python":
            steps.append(("python", block.line, "\n".join(block.lines)))
    return sorted(steps, key=lambda step: step[1])


def test_the_readme_runs(tmp_path, monkeypatch, one_thread):
    """Every README command and Python block, in order, in an empty folder, with tiny budgets."""
    import textvae.text.run.config

    monkeypatch.chdir(tmp_path)
    real_load_config = textvae.text.run.config.load_config

    def tiny_load_config(path=None, overrides=None):  # what the README's Python blocks import
        return real_load_config(path, [*(overrides or []), *TINY_TRAIN])

    monkeypatch.setattr(textvae.text.run.config, "load_config", tiny_load_config)
    namespace: dict = {"__name__": "readme"}
    ran, parsed_only = [], []
    for kind, line, step in readme_steps():
        if kind == "python":
            exec(compile(step, f"README.md:{line}", "exec"), namespace)  # noqa: S102
            ran.append(f"python block at line {line}")
            continue
        argv, redirect = split_command(step.text)
        if downloads(argv):  # PTB, Yahoo, MNIST: a user downloads them; parsed above
            parsed_only.append(step.where)
            continue
        for flag in ("--train", "--valid", "--file"):
            for name in option_values(argv, flag):
                if name != "-" and not Path(name).exists():
                    Path(name).write_text(raw_sentences(300 if flag == "--train" else 40,
                                                        seed=len(name)), encoding="utf-8")
        status, out, err = run(budgeted(argv), redirect)
        assert status == 0, f"{step.where}: `{step.text}` exited {status}\n{err[-2000:]}"
        ran.append(step.where)
    assert len(ran) >= 6, ran
    assert Path("runs/quickstart/best").is_dir()


@pytest.mark.parametrize(
    "command", [c for c in ALL_COMMANDS if error_example(c)], ids=lambda c: c.where
)
def test_documented_errors_are_the_errors_printed(command, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    argv, _ = split_command(command.text)
    status, _, err = run(argv)
    assert status == 2
    assert err.strip().splitlines()[-1] == error_example(command)


# Docs commands cheap enough to run (the rest are parsed): subcommand paths.
CHEAP = {("config",), ("data", "grammar"), ("data", "stats")}


def cheap(command: Command) -> bool:
    argv, _ = split_command(command.text)
    return tuple(argv[:1]) in CHEAP or tuple(argv[:2]) in CHEAP


@pytest.mark.parametrize("page", sorted({c.page for c in ALL_COMMANDS if c.page != "README.md" and cheap(c)}))
def test_cheap_docs_commands_run(page, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    for command in [c for c in ALL_COMMANDS if c.page == page and cheap(c) and not error_example(c)]:
        argv, redirect = split_command(command.text)
        status, _, err = run(budgeted(argv), redirect)
        assert status == 0, f"{command.where}: `{command.text}` exited {status}\n{err[-2000:]}"


# --- links, keys, Python --------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    in_code = {i for b in fenced_blocks(path) for i in range(b.line, b.line + len(b.lines) + 2)}
    found, seen = set(), {}
    for number, line in enumerate(text.splitlines(), start=1):
        heading = re.match(r"^#{1,6}\s+(.*)", line)
        if heading and number not in in_code:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    found.update(re.findall(r"<a (?:id|name)=\"([^\"]+)\"", text))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    for block in fenced_blocks(path):
        for i in range(block.line - 1, min(len(lines), block.line + len(block.lines) + 1)):
            lines[i] = ""
    found = []
    for number, line in enumerate(lines, start=1):
        line = re.sub(r"`[^`]*`", "", line)
        found += [(number, target) for target in re.findall(r"\]\(([^)\s]+)\)", line)]
    return found


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_relative_links_resolve(page):
    broken = []
    for number, target in links(page):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(f"{rel(page)}:{number}: {target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{rel(page)}:{number}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_configs_page_names_every_config_key():
    from textvae.text.models.sentence_vae import ModelConfig
    from textvae.text.run.config import (
        DataConfig,
        KLScheduleConfig,
        LabelsConfig,
        TokenizerConfig,
        TrainConfig,
    )

    page = (ROOT / "docs" / "configs.md").read_text(encoding="utf-8")
    sections = {"data": DataConfig, "data.tokenizer": TokenizerConfig, "model": ModelConfig,
                "train": TrainConfig, "train.kl": KLScheduleConfig, "labels": LabelsConfig}
    nested = {"data.tokenizer", "train.kl"}
    missing = [f"{section}.{field.name}" for section, cls in sections.items()
               for field in dataclasses.fields(cls)
               if f"{section}.{field.name}" not in nested
               and f"`{section}.{field.name}`" not in page]
    assert not missing, f"docs/configs.md does not describe: {', '.join(missing)}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_python_blocks_compile(page):
    for block in fenced_blocks(page):
        if block.lang == "python":
            compile("\n".join(block.lines), f"{block.page}:{block.line}", "exec")
