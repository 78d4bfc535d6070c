"""``convert``: force the colour mode of an image (RGB, L, LA or RGBA)."""

from __future__ import annotations

from PIL import Image

from imgprep.errors import UsageError
from imgprep.ops._common import Color, _colour_mode, _copy_info, _fill_value, _has_alpha

#: The modes ``convert`` makes, by the name the step takes.
CONVERT_MODES: dict[str, str] = {"rgb": "RGB", "l": "L", "la": "LA", "rgba": "RGBA"}

_GREY = ("L", "LA")


def _eight_bit(image: Image.Image) -> Image.Image:
    """I;16, I and F as 8-bit L the way imgprep saves them to 8-bit formats: 0..65535 onto
    0..255 (F is already on that scale, clipped); 1 as L; P/PA as RGB/RGBA; the rest kept."""
    if image.mode == "F":
        return image.convert("L")
    if image.mode in ("I;16", "I"):
        wide = image.convert("I;16").convert("I")  # clipped to 0..65535
        return wide.point(lambda value: value / 257).convert("L")
    if image.mode == "1":
        return image.convert("L")
    return _colour_mode(image)


def _flattened(image: Image.Image, background: Color) -> Image.Image:
    """An image with alpha composited over ``background``, as RGB."""
    rgba = image.convert("RGBA")
    base = Image.new("RGBA", rgba.size, _fill_value("RGBA", background, "background"))
    base.alpha_composite(rgba)
    return base.convert("RGB")


def convert(image: Image.Image, mode: str, *, background: Color = "white") -> Image.Image:
    """``image`` in ``mode``: ``"rgb"``, ``"l"``, ``"la"`` or ``"rgba"`` (see ``CONVERT_MODES``).

    * ``rgb`` and ``l`` have no alpha: an image with alpha (RGBA, LA, PA, P with transparency)
      is composited over ``background`` (default white) first, as imgprep does when it saves
      to JPEG; ``l`` is then ITU-R 601 luma, like ``grayscale``.
    * ``la`` and ``rgba`` keep the alpha, or add an opaque one.
    * Grey to ``rgb``/``rgba`` gives three equal channels; colour to ``l``/``la`` gives luma.
    * 16-bit and float grey (I;16, I, F) become 8-bit: 0..65535 (F: 0..255) onto 0..255, as
      imgprep writes them to 8-bit formats. 1 is L; CMYK goes to RGB by Pillow's formula.

    An image already in ``mode`` comes back as an unchanged copy. An ICC profile is dropped when
    the colour space changes between grey and colour (it no longer describes the pixels).
    """
    if mode not in CONVERT_MODES:
        raise UsageError(f"mode must be one of {', '.join(CONVERT_MODES)}, not {mode!r}")
    target = CONVERT_MODES[mode]
    if image.mode == target:
        return image.copy()
    working = _eight_bit(image)
    if target in ("RGB", "L") and _has_alpha(working):
        result = _flattened(working, background)
        result = result.convert("L") if target == "L" else result
    else:
        result = working.convert(target)
    result = _copy_info(image, result)
    if (image.mode in _GREY or image.mode in ("1", "I;16", "I", "F")) != (target in _GREY):
        result.info.pop("icc_profile", None)
    result.info.pop("transparency", None)  # a palette's transparent index means nothing now
    return result
