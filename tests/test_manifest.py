"""The npe2 manifest: valid, registered, and every command importable."""

from npe2 import PluginManifest


def test_manifest_is_registered_valid_and_importable():
    manifest = PluginManifest.from_distribution("napari-dip")
    manifest.validate_imports()  # raises if a python_name does not resolve
    assert manifest.name == "napari-dip"
    assert [w.display_name for w in manifest.contributions.widgets] == ["Deep Image Prior"]
    assert {s.key for s in manifest.contributions.sample_data} == {
        "noisy_cells",
        "damaged_cells",
        "faint_cells",
    }
    filter_menu = manifest.contributions.menus["napari/layers/filter"]
    assert [item.command for item in filter_menu] == ["napari-dip.make_widget"]
    assert [w.command for w in manifest.contributions.writers] == ["napari-dip.write_ome_tiff"]
    (reader,) = manifest.contributions.readers
    assert reader.filename_patterns == ["*.ome.tif", "*.ome.tiff"]
