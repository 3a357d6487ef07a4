"""Architecture rules from STYLE.md that a test can hold: imports only go down the
layers (lazy imports included), no import cycle, only api/ imports openai, only cli/
imports typer, and --help/--version do not pay for openai."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "kimi_vision_cli"

# Top to bottom: a module may import from the layers below it. The package's __init__ is
# on top: it is the Python API's face (kv.describe, loaded lazily from library.py).
# The peers (issue 21, item 4) share one layer and do not import each other: what two of
# them share is a value type in types.py, or a floor module (buffers.py, stores.py), and
# what uses two of them is a flow (flows/report.py: media's thumbnails on output's page).
PEERS: list[set[str]] = [{"output", "events"}, {"api"}, {"plan"}, {"inputs"}, {"media"}]
LAYERS: list[set[str]] = [
    {"__main__", "__init__"},
    {"cli"},
    {"flows", "library", "keywords"},
    {"runner"},
    set().union(*PEERS),
    {"settings", "settings_types", "options", "schema"},
    {"moonshot", "errors", "terminal", "atomic", "provenance", "types", "buffers", "stores"},
]


def module_name(path: Path, pkg: Path = PKG) -> str:
    parts = list(path.relative_to(pkg.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def head_of(module: str) -> str:
    """kimi_vision_cli.flows.describe -> 'flows'; the package itself -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(module: str) -> int:
    """kimi_vision_cli.flows.describe -> the index of 'flows' in LAYERS."""
    head = head_of(module)
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def peer_of(module: str) -> int | None:
    return next((i for i, group in enumerate(PEERS) if head_of(module) in group), None)


def imports_of(path: Path, pkg: Path = PKG) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # `from kimi_vision_cli.flows import describe` imports the module flows.describe
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if (pkg.parent / (sub.replace(".", "/") + ".py")).exists():
                    names.add(sub)
    return names


def project_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    graph = {}
    for p in pkg.rglob("*.py"):
        # `from kimi_vision_cli import schema` imports the module schema; the package's
        # __init__ runs before any of its modules whatever imports them: not an edge.
        graph[module_name(p, pkg)] = {
            n for n in imports_of(p, pkg) if n.startswith("kimi_vision_cli") and n != "kimi_vision_cli"
        }
    return graph


def layer_violations(pkg: Path = PKG) -> list[str]:
    """Imports that go up the layers, or sideways from one peer to another."""
    found = []
    for mod, deps in project_graph(pkg).items():
        for dep in deps:
            if layer_of(dep) < layer_of(mod):
                found.append(f"upward: {mod} -> {dep}")
            elif peer_of(mod) is not None and peer_of(dep) not in (None, peer_of(mod)):
                found.append(f"sideways: {mod} -> {dep}")
    return sorted(found)


def test_imports_only_go_down_the_layers_and_never_sideways() -> None:
    assert layer_violations() == []


def test_the_floor_imports_nothing_of_ours_at_run_time() -> None:
    """types.py is the bottom: the value types every peer shares, importing none of ours
    (errors.py for a type hint only, under TYPE_CHECKING)."""
    tree = ast.parse((PKG / "types.py").read_text())
    ours = [
        node.module
        for node in tree.body  # top level only: the TYPE_CHECKING block is an `if`
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kimi_vision_cli")
    ]
    assert ours == []


def test_no_import_cycle() -> None:
    graph = project_graph()
    # A package's __init__ is imported with its modules; it is not a dependency edge of theirs.
    cycles: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph or dep == node:
                continue
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert cycles == []


def test_the_layer_check_catches_an_upward_and_a_sideways_import(tmp_path: Path) -> None:
    """Issue 21, item 4: the check run over a copy of the package, clean and then with a
    violating import of each kind written into it, one of them inside a function."""
    pkg = tmp_path / "kimi_vision_cli"
    shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    assert layer_violations(pkg) == []
    with (pkg / "media" / "image.py").open("a") as fh:
        fh.write("\nfrom kimi_vision_cli.cli import app\n")
    with (pkg / "output" / "records.py").open("a") as fh:
        fh.write("\n\ndef _late() -> None:\n    from kimi_vision_cli.api import catalog\n")
    assert layer_violations(pkg) == [  # the package and its module, each an edge
        "sideways: kimi_vision_cli.output.records -> kimi_vision_cli.api",
        "sideways: kimi_vision_cli.output.records -> kimi_vision_cli.api.catalog",
        "upward: kimi_vision_cli.media.image -> kimi_vision_cli.cli",
        "upward: kimi_vision_cli.media.image -> kimi_vision_cli.cli.app",
    ]


def test_only_api_imports_openai() -> None:
    offenders = [
        p.relative_to(PKG).as_posix()
        for p in PKG.rglob("*.py")
        if "api" not in p.relative_to(PKG).parts
        and any(n == "openai" or n.startswith("openai.") for n in imports_of(p))
    ]
    assert offenders == []


def test_only_the_cli_layer_imports_typer() -> None:
    offenders = [
        p.relative_to(PKG).as_posix()
        for p in PKG.rglob("*.py")
        if p.relative_to(PKG).parts[0] != "cli" and "typer" in {n.split(".")[0] for n in imports_of(p)}
    ]
    assert offenders == []


@pytest.mark.process
def test_version_and_help_do_not_import_openai() -> None:
    code = (
        "import sys; from kimi_vision_cli.cli import run; run(['--version']); run(['describe', '--help']);"
        "print('openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


_NO_NETWORK = """
import os, sys
from PIL import Image
from kimi_vision_cli.cli import run
Image.new("RGB", (8, 6)).save("a.png")
os.environ["MOONSHOT_API_KEY"] = "sk-test"
for argv in (["describe", "--dry-run", "a.png"], ["ask", "--dry-run", "what?", "a.png"],
             ["estimate", "--dry-run", "a.png"]):
    assert run(argv) == 0, argv
os.environ.update(_KIMI_VISION_COMPLETE="complete_bash", COMP_WORDS="kimi-vision describe --dry", COMP_CWORD="2")
try:
    run([])
except SystemExit:
    pass
print("\\nopenai imported:", "openai" in sys.modules)
"""


def test_dry_run_and_completion_do_not_import_openai(tmp_path: Path) -> None:
    """Issue 12, item 4: what answers without the network never pays for openai (most of
    a second); the first network call does (api/client.py imports it then)."""
    out = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert '"model"' in out and "--dry-run" in out.split()  # the dry runs and the completion ran
    assert out.strip().splitlines()[-1] == "openai imported: False"


_DESCRIBE_PNG = """
import json, os, sys
from kimi_vision_cli.cli import run
os.environ["MOONSHOT_API_KEY"] = "sk-test"
assert run(["describe", "--dry-run", "small.png"]) == 0
print("\\nloaded:", json.dumps(sorted(sys.modules)))
assert run(["describe", "--dry-run", "--convert", "photo.heic"]) == 0  # loads what HEIC needs
print("\\nheif:", json.dumps("pillow_heif" in sys.modules))
"""


def test_describe_of_a_png_imports_only_what_it_needs(tmp_path: Path) -> None:
    """Issue 12, item 4: start-up near the floor. A PNG does not load the HEIC plugin, video
    cutting, libmagic, XMP's XML, the HTTP transport (--dry-run), pydantic (Typer's converters,
    cli/coerce.py), rich (nothing to draw in a pipe) nor the other commands; HEIC still works."""
    heif = pytest.importorskip("pillow_heif")
    from PIL import Image

    Image.new("RGB", (32, 24), (200, 10, 10)).save(tmp_path / "small.png")
    heif.from_pillow(Image.new("RGB", (32, 24), (10, 200, 10))).save(tmp_path / "photo.heic")
    out = subprocess.run(
        [sys.executable, "-c", _DESCRIBE_PNG], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    said = dict(line.split(": ", 1) for line in out.splitlines() if line.startswith(("loaded:", "heif:")))
    loaded = set(json.loads(said["loaded"]))
    unwanted = {"pillow_heif", "av", "magic", "xml", "http", "pydantic", "rich", "openai"}
    unwanted |= {"httpx", "httpcore"}  # the transport (--dry-run sends nothing)
    assert sorted({m.split(".")[0].rstrip("0123456789") for m in loaded} & unwanted) == []
    assert "urllib.request" not in loaded  # the transport's (urllib.parse comes with pathlib)
    assert not loaded & {"kimi_vision_cli.output.sidecar", "kimi_vision_cli.output.manifest"}  # not asked for
    assert sorted(m for m in loaded if m.startswith("kimi_vision_cli.cli.commands.")) == [
        "kimi_vision_cli.cli.commands.describe"
    ]
    assert json.loads(said["heif"]) is True


_ANSWERS = """
import sys
from PIL import Image
from kimi_vision_cli.cli import run
Image.new("RGB", (8, 6)).save("a.png")
code = run(["describe", "-j", "2", "a.png", "a.png"])
print("\\nopenai imported:", "openai" in sys.modules, "exit", code)
"""


def test_describe_answers_without_importing_openai(tmp_path: Path, fake) -> None:
    """Issue 12, item 4: a chat completion is sent by api/transport.py on httpx2, so a
    describe run never pays the SDK's ~0.5 s import; file and batch calls still use it."""
    env = {**os.environ, "MOONSHOT_API_KEY": fake.api_key, "MOONSHOT_BASE_URL": fake.base_url}
    out = subprocess.run(
        [sys.executable, "-c", _ANSWERS], capture_output=True, text=True, check=True, cwd=tmp_path, env=env
    ).stdout
    assert out.count("8x6 image/png image") == 2  # both answers came back from the server
    assert out.strip().splitlines()[-1] == "openai imported: False exit 0"


@pytest.mark.process
def test_the_installed_command_answers_without_importing_openai(kv_process, fake, tmp_path: Path) -> None:
    """The same through the console script a user runs: Python's own import log
    (PYTHONPROFILEIMPORTTIME) names every module the run imported."""
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    r = kv_process("describe", "a.png", extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "64x48 image/png image" in r.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
    }
    assert "kimi_vision_cli.api.transport" in imported and "httpx2" in imported  # the log is whole
    assert not {m for m in imported if m == "openai" or m.startswith(("openai.", "pydantic"))}


# Moonshot's facts as they would be written down if copied: only moonshot.py may hold them.
_FACTS = [
    r"100\s*\*\s*1024\s*\*\s*1024",  # the 100 MB body / file limit
    r"https://api\.moonshot\.(ai|cn)",  # the endpoints
    r"\(\s*4096\s*,\s*2160\s*\)|\(\s*2048\s*,\s*1080\s*\)",  # recommended sizes
    r"\b32768\b",  # k2's default max_tokens
    r"Price\(\s*\d",  # a price table row
    r"[\"']expired[\"']",  # a batch status (BATCH_FAILED_STATES)
    r"\b4096\b(?!\s*[x,)])",  # batch submit's max_tokens (BATCH_MAX_TOKENS), not a 4096x size
]


def test_moonshot_facts_live_only_in_moonshot_py() -> None:
    import re

    found = []
    for p in PKG.rglob("*.py"):
        if p.name == "moonshot.py":
            continue
        code = re.sub(r'"""[\s\S]*?"""', "", p.read_text())  # docstrings may say the facts
        code = "\n".join(line.split("#")[0] for line in code.splitlines())
        found += [f"{p.relative_to(PKG)}: {pat}" for pat in _FACTS if re.search(pat, code)]
    assert found == []


def test_no_module_imports_another_modules_privates() -> None:
    """Flows (and everything else) talk through public names: `from x import _y` is a
    shared helper that wants a public name, or a module that wants splitting."""
    offenders = [
        f"{p.relative_to(PKG)}: {node.module}.{a.name}"
        for p in PKG.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kimi_vision_cli")
        for a in node.names
        if a.name.startswith("_") and not a.name.startswith("__")
    ]
    assert offenders == []


def test_flows_never_branch_on_dry_run() -> None:
    """--dry-run is a renderer of plans (output/dryrun.py) chosen by the command; the flows
    produce plans and never look at the flag (they only see an offline Context)."""
    offenders = [
        f"{p.relative_to(PKG)}:{node.lineno}"
        for p in (PKG / "flows").rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "dry_run"
    ]
    assert offenders == []


def test_no_module_of_the_cli_keeps_the_terminal(kv) -> None:  # type: ignore[no-untyped-def]
    """STYLE rule 2, issue 21 item 3: the Terminal is passed (cli.main.run -> click's
    context -> each command), never parked in a module global such as the old
    `cli.app.STATE`, which ~29 places read."""
    import importlib
    import pkgutil

    import kimi_vision_cli.cli
    import kimi_vision_cli.cli.commands
    from kimi_vision_cli.terminal import Terminal

    assert kv("models").returncode == 0  # a run, so that a global would now hold its Terminal
    kept = []
    for pkg in (kimi_vision_cli.cli, kimi_vision_cli.cli.commands):
        for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                held = [value, *vars(value).values()] if hasattr(value, "__dict__") else [value]
                if any(isinstance(v, Terminal) for v in held):
                    kept.append(f"{info.name}.{name}")
    assert kept == []


def test_commands_leave_the_api_to_the_flows() -> None:
    """Issue 21 item 3: a command parses, picks an output and calls a flow; it neither
    imports api/ nor calls the client (`ctx.client` alone, the up-front key check, is
    allowed). `files` and `models` did both."""
    offenders = []
    for p in (PKG / "cli" / "commands").glob("*.py"):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kimi_vision_cli.api"):
                offenders.append(f"{p.name}:{node.lineno} imports {node.module}")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "client"
            ):
                offenders.append(f"{p.name}:{node.lineno} calls the client's {node.attr}")
    assert offenders == []
