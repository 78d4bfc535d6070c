"""Pure image operations: ``(image, ...) -> Image``, in the spirit of Pillow's ``ImageOps``.

Every function returns a NEW image and never mutates its input (pixels, mode, size or ``info``).
No file I/O happens here: loading and saving live in ``imgprep.files``. The ops live in private
modules by theme (``_geometry``, ``_box``, ``_tone``, ``_adjust``, ``_detail``, ``_convert``,
``_augment``: the pure ops behind the random steps; ``_common`` under them all); this package
is their one public face.

Modes. Every op accepts RGB, RGBA, LA, L, P (with or without ``transparency``), PA, CMYK,
I;16, I, F and 1, except where its docstring says otherwise (the per-pixel tone maps refuse
CMYK with an ``OpError``). Where Pillow cannot do the job natively an op converts to a working
mode:

* P / PA are resampled, rotated by odd angles, padded, auto-contrasted and equalized as RGBA
  (when they carry transparency) or RGB, and come back in that mode: interpolated colours are
  not in the palette, and re-quantising would add a second, silent loss. Exact ops (mirror,
  flip, multiples of 90 degrees, crops, ``resample="nearest"``) keep the palette.
* 1 is resampled and rotated as L and thresholded back to 1 at 128 (no dithering).
* I;16 stays 16-bit through every op; I and F keep their mode. For the value-mapping ops
  (autocontrast, equalize, named pad colours) I;16 and I use the 16-bit range 0..65535 and F
  uses 0..255, the scale Pillow assumes when it converts F to L.
* Alpha (RGBA, LA, PA) is resampled premultiplied by Pillow, so transparent pixels never bleed
  their colour into visible ones; value-mapping ops leave alpha untouched and build their
  histograms from the visible pixels only.

Errors. Arguments that are wrong whatever the image raise ``UsageError``; an image that cannot
take an op (a crop box outside it, a mode the op refuses) raises ``OpError``. Both are
``ValueError``s stating the rule and the values.
"""

from __future__ import annotations

from imgprep.errors import OpError
from imgprep.ops._adjust import (
    brightness,
    check_factor,
    contrast,
    gamma,
    hue,
    invert,
    posterize,
    saturation,
)
from imgprep.ops._augment import JITTER_ADJUSTMENTS, jitter, resized_crop
from imgprep.ops._box import (
    GRAVITIES,
    CropGeometry,
    Ratio,
    check_fuzz,
    crop,
    crop_box,
    extent,
    pad,
    pad_box,
    trim,
    trim_box,
)
from imgprep.ops._common import (
    Box,
    Color,
    Size,
    SizeLike,
    check_color,
    parse_size,
)
from imgprep.ops._convert import CONVERT_MODES, DEEP_MODES, convert, to_depth
from imgprep.ops._detail import blur, sharpen
from imgprep.ops._geometry import (
    RESAMPLING_FILTERS,
    RESIZE_MODES,
    auto_orient,
    flip,
    mirror,
    resize,
    rotate,
    scaled_size,
)
from imgprep.ops._tone import autocontrast, check_cutoff, equalize, grayscale, normalize

__all__ = [
    "CONVERT_MODES",
    "DEEP_MODES",
    "GRAVITIES",
    "JITTER_ADJUSTMENTS",
    "RESAMPLING_FILTERS",
    "RESIZE_MODES",
    "Box",
    "Color",
    "CropGeometry",
    "OpError",
    "Ratio",
    "Size",
    "SizeLike",
    "auto_orient",
    "autocontrast",
    "blur",
    "brightness",
    "check_color",
    "check_cutoff",
    "check_factor",
    "check_fuzz",
    "contrast",
    "convert",
    "crop",
    "crop_box",
    "equalize",
    "extent",
    "flip",
    "gamma",
    "grayscale",
    "hue",
    "invert",
    "jitter",
    "mirror",
    "normalize",
    "pad",
    "pad_box",
    "parse_size",
    "posterize",
    "resize",
    "resized_crop",
    "rotate",
    "saturation",
    "scaled_size",
    "sharpen",
    "to_depth",
    "trim",
    "trim_box",
]
