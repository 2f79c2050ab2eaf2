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
#: Modules of the napari layer: the only ones that may import napari or Qt.
NAPARI_LAYER = {
    "_widget",
    "_scripting",
    "_worker",
    "_placement",
    "_layer_input",
    "_sample_data",
    "_plot",
}


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


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_downwards_only(path):
    names = imports(path)
    gui = {n for n in names if n.split(".")[0] in ("napari", "qtpy", "superqt", "magicgui")}
    if path.stem not in NAPARI_LAYER:
        assert not gui, f"{path.name} imports {gui}: only the napari layer may"
    if path.parent.name in ("core", "imaging"):  # below the API: nothing from above
        upward = {n for n in names if n.startswith("..") or n.startswith("napari_dip")}
        assert not upward, f"{path.name} imports {upward}"


def test_type_information_is_shipped():
    assert resources.files("napari_dip").joinpath("py.typed").is_file()
