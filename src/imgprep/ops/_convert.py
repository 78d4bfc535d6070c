"""``convert``: force the colour mode of an image (RGB, L, LA or RGBA); ``to_depth``: force
its bit depth (8 or 16 bits a sample), by imgprep's one rule for scaling between depths.

The rule (docs/cli.md, "Bit depth"): 8-bit samples are 0..255, 16-bit ones 0..65535, and one
8-bit level is 257 16-bit levels, so 255 <-> 65535 and 8 -> 16 -> 8 gives every value back.
16 -> 8 rounds to the nearest level (``floor(v / 257 + 1/2)``; no value falls half-way).
32-bit integer images (I) hold 16-bit samples, as Pillow decodes 16-bit files to them:
values outside 0..65535 are clipped. Float images (F) are on the 8-bit scale, Pillow's own
convention (``convert("F")`` of L gives 0..255): 1.0 is one level, not white; they are
clipped to 0..255 and rounded to 8 bits, or scaled by 257, clipped and rounded to 16.
"""

from __future__ import annotations

from PIL import Image, ImageMath

from imgprep.errors import OpError, UsageError
from imgprep.ops._common import (
    Color,
    _colour_mode,
    _copy_info,
    _fill_value,
    _has_alpha,
)

#: The modes ``convert`` makes, by the name the step takes.
CONVERT_MODES: dict[str, str] = {"rgb": "RGB", "l": "L", "la": "LA", "rgba": "RGBA"}

_GREY = ("L", "LA")


DEPTHS = (8, 16)
"""The bit depths ``to_depth`` makes."""

#: Grey modes deeper than 8 bits: 16-bit (in any byte order), 32-bit integer and float.
DEEP_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})


def _wide(image: Image.Image) -> Image.Image:
    """A deep or 8-bit grey image with 16-bit values (0..65535: clipped, rounded), in I;16 or
    I (either converts to the other exactly)."""
    if image.mode == "F":
        # clipped first (NaN to 0): Pillow's F -> I conversion wraps values beyond 32 bits
        clipped = ImageMath.lambda_eval(
            lambda names: names["min"](names["max"](names["image"], 0.0), 255.0), image=image
        )
        assert isinstance(clipped, Image.Image)  # lambda_eval is typed Any: an image here
        return clipped.point(lambda value: value * 257 + 0.5).convert("I").convert("I;16")
    if image.mode in ("1", "L"):
        return image.convert("L").convert("I").point(lambda value: value * 257)
    # I;16B/L/N through I: Pillow converts them to I;16 through L, clipping at 255
    return image.convert("I").convert("I;16")  # I: clipped to 0..65535 here


def to_depth(image: Image.Image, bits: int) -> Image.Image:
    """``image`` with ``bits`` (8 or 16) a sample, scaled by imgprep's rule (see the module).

    * 8: deep grey (I;16 in any byte order, I, F) becomes L, rounded to the nearest level
      (65535 -> 255, 32896 -> 128, F 254.6 -> 255); 1 becomes L (0 and 255); 8-bit modes
      come back as an unchanged copy.
    * 16: grey (1, L, I, F, any I;16) becomes I;16 (L 255 -> 65535, F 1.0 -> 257); Pillow has
      no 16-bit colour or alpha modes, so any other mode raises ``OpError``.

    ``info`` (an ICC profile among it) is kept: the samples mean the same colours.
    """
    if bits not in DEPTHS:
        raise UsageError(f"depth must be 8 or 16 bits, not {bits}")
    mode = image.mode
    if bits == 16:
        if mode not in DEEP_MODES and mode not in ("1", "L"):
            raise OpError(f"16-bit samples are grey only (Pillow has no 16-bit {mode})")
        result = image.copy() if mode == "I;16" else _wide(image).convert("I;16")
    elif mode in DEEP_MODES:
        # 16-bit in any byte order goes to I exactly; I and F are clipped on the way
        wide = image.convert("I") if mode.startswith("I;16") else _wide(image).convert("I")
        result = wide.point(lambda value: value / 257 + 0.5).convert("L")  # floor: no ties
    else:
        result = image.convert("L") if mode == "1" else image.copy()
    return _copy_info(image, result)


def _eight_bit(image: Image.Image) -> Image.Image:
    """Deep grey and 1 as 8-bit L (``to_depth``), P/PA as RGB/RGBA; the rest kept."""
    if image.mode in DEEP_MODES or image.mode == "1":
        return to_depth(image, 8)
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
    * 16-bit and float grey (I;16, I, F) become 8-bit by ``to_depth``'s rule, as imgprep
      writes them to 8-bit formats. 1 is L; CMYK goes to RGB by Pillow's formula.

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
