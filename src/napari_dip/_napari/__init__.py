"""The napari layer: the dock widget, running a restoration on a layer, reading and writing.

The only part of the package that imports Qt and napari.  ``layer_run`` holds
``restore_layer`` (public as ``napari_dip.restore_layer``); ``napari.yaml``
points at ``widget``, ``io`` and ``sample_data``.
"""
