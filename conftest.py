"""Test session set-up: napari's Qt binding is Qt6 (napari 0.9 deprecates PyQt5).

Set before anything imports qtpy; an explicit ``QT_API`` in the environment wins.
"""

import os

os.environ.setdefault("QT_API", "pyqt6")
