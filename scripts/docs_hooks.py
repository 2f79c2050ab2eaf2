"""mkdocs hooks: the API reference must list every public function and class, each with an example.

Run by ``mkdocs build`` (see ``mkdocs.yml``); with ``strict: true`` the build fails on the first
public name missing from docs/reference.md, or whose docstring has no Examples section.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import napari_dip
import napari_dip.batch

#: Public names that are data, not functions or classes: the reference names them in its text.
DATA = {"PRESETS", "TASKS"}


def on_pre_build(config) -> None:
    reference = (Path(config["docs_dir"]) / "reference.md").read_text()
    public = [(f"napari_dip.{name}", getattr(napari_dip, name)) for name in napari_dip.__all__]
    public += [
        (f"napari_dip.batch.{n}", getattr(napari_dip.batch, n)) for n in napari_dip.batch.__all__
    ]
    problems = []
    for path, value in public:
        if path.split(".")[-1] in DATA:
            continue
        if f"::: {path}\n" not in reference:
            problems.append(f"{path} is not in docs/reference.md")
        if "\n    Examples\n    --------\n" not in (inspect.getdoc(value) and value.__doc__ or ""):
            problems.append(f"{path} has no Examples section in its docstring")
    if problems:
        raise SystemExit("API reference incomplete:\n  " + "\n  ".join(problems))
