"""A user's script as a type checker sees it: the one error in it is the misspelt keyword."""

import numpy as np

import napari_dip

image = np.zeros((32, 32), np.uint16)
restored: np.ndarray = napari_dip.denoise(image, noise="poisson", seed=0)
filled = napari_dip.inpaint(image, image > 0, keep_known=False)
upscaled = napari_dip.super_resolve(image, 2, kernel="box")
run = napari_dip.Restoration("denoise", image, preset="quality", threads=1)
options = napari_dip.Options(noise="poisson", offset=100.0)
print(run.info.seed, options.noise, filled.shape, upscaled.shape)
napari_dip.denoise(image, nosie="poisson")  # the typo
