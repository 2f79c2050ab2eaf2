"""The package's shape: layers that import downwards only, pieces of a readable size."""

import ast
from importlib import resources
from pathlib import Path

import pytest

import napari_dip

PACKAGE = Path(napari_dip.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
#: Longest class and function, in lines (their own docstring not counted).
MAX_CLASS, MAX_FUNCTION = 250, 80
#: Packages of the two front ends, over the API modules at the top of the package.
NAPARI_LAYER, BATCH_LAYER = "_napari", "batch"
#: What may not be imported from where: a package, and the names its modules may not import
#: (absolute or relative, at any depth); only the napari layer imports napari and Qt.
GUI = ("napari", "qtpy", "superqt", "magicgui", "PyQt5", "PyQt6", "PySide2", "PySide6")


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def docstring_lines(node) -> int:
    first = node.body[0]
    documented = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    return first.end_lineno - first.lineno + 1 if documented else 0


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_classes_and_functions_stay_readable(path):
    """Lines of code, the node's own docstring (its documentation and examples) not counted."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            limit = MAX_CLASS if isinstance(node, ast.ClassDef) else MAX_FUNCTION
            lines = node.end_lineno - node.lineno + 1 - docstring_lines(node)
            assert lines <= limit, f"{node.name} at line {node.lineno} has {lines} lines"


def package_of(path: Path) -> str:
    """``core``, ``imaging``, ``_napari``, ``batch``, or ``""`` for the API at the top."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ""


def absolute(name: str, path: Path) -> str:
    """An import's target as a dotted name from the package's root (``_napari.placement``)."""
    if not name.startswith("."):
        return name.removeprefix("napari_dip.") if name.startswith("napari_dip") else name
    level = len(name) - len(name.lstrip("."))
    here = list(path.relative_to(PACKAGE).parent.parts)
    base = here[: len(here) - (level - 1)]
    return ".".join([*base, name.lstrip(".")]).strip(".")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_downwards_only(path):
    """core and imaging import nothing above them; the API imports no front end; the batch
    front end nothing of the napari one; the napari one nothing of batch (both read and write files with imaging.files)."""
    targets = {absolute(name, path) for name in imports(path)}
    package = package_of(path)
    gui = {t for t in targets if t.split(".")[0] in GUI}
    if package != NAPARI_LAYER:
        assert not gui, f"{path.name} imports {gui}: only the napari layer may"
    ours = {
        t
        for t in targets
        if not t.startswith(GUI)
        and t.split(".")[0] in {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
        or t == ""
    }
    forbidden = {
        "core": lambda t: not t.startswith(("core", "imaging")),
        "imaging": lambda t: not t.startswith("imaging"),
        "": lambda t: t.startswith((NAPARI_LAYER, BATCH_LAYER)),
        BATCH_LAYER: lambda t: t.startswith(NAPARI_LAYER),
        NAPARI_LAYER: lambda t: t.startswith(BATCH_LAYER),
    }[package]
    if path.name == "__main__.py":  # ``python -m napari_dip`` is the command line
        ours.discard("batch.cli")
    wrong = {t or "napari_dip" for t in ours if forbidden(t)}
    assert not wrong, f"{path.relative_to(PACKAGE)} imports {wrong}"


def test_the_layout_rule_sees_relative_imports():
    """The rule above reads ``from ..x import`` in a subpackage as ``x`` (so it cannot pass
    by not understanding an import)."""
    widget = PACKAGE / "_napari" / "widget.py"
    assert absolute("..core.estimate", widget) == "core.estimate"
    assert absolute(".placement", widget) == "_napari.placement"
    assert absolute("..", widget) == ""
    assert "_napari.layer_run" in {absolute(n, widget) for n in imports(widget)}


def test_type_information_is_shipped():
    assert resources.files("napari_dip").joinpath("py.typed").is_file()
