"""Tests of imgprep.ops: exact pixel facts, every (op, mode) pair, the size parser."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageOps, ImageStat

from imgprep import ops
from imgprep.errors import UsageError
from imgprep.ops import _tone

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
ORIENTATION = 0x0112

# "P+t" is a palette image whose index 0 is transparent.
MODES = ["RGB", "RGBA", "LA", "L", "P", "P+t", "PA", "CMYK", "I;16", "I", "F", "1"]


def pixels(image: Image.Image) -> list[object]:
    return list(image.get_flattened_data())


def make_image(mode: str, size: tuple[int, int] = (16, 12)) -> Image.Image:
    """A small image in ``mode`` whose pixels all differ along x and along y."""
    width, height = size
    grey = Image.new("L", size)
    grey.putdata([(x * 15 + y * 7) % 256 for y in range(height) for x in range(width)])
    alpha = Image.new("L", size)
    alpha.putdata([0 if x < width // 4 else 255 for y in range(height) for x in range(width)])
    rgb = Image.merge("RGB", [grey, ImageOps.mirror(grey), ImageOps.flip(grey)])
    if mode in ("RGB", "L"):
        return rgb if mode == "RGB" else grey
    if mode in ("RGBA", "LA"):
        base = rgb if mode == "RGBA" else grey
        return Image.merge(mode, [*base.split(), alpha])
    if mode in ("P", "P+t", "PA"):
        palette = rgb.quantize(15)  # indices 0..14; 15 is free for the transparent one
        if mode == "P+t":  # the left quarter is index 15, transparent, like the alpha above
            palette.putpalette([*palette.getpalette()[: 15 * 3], 0, 0, 0])
            palette.paste(15, (0, 0, width // 4, height))
            palette.info["transparency"] = 15
        if mode == "PA":
            palette = palette.convert("PA")
            palette.putalpha(alpha)
        return palette
    if mode == "CMYK":
        return rgb.convert("CMYK")
    if mode in ("I;16", "I"):
        deep = grey.convert("I").point(lambda value: value * 257)
        return deep.convert("I;16") if mode == "I;16" else deep
    if mode == "F":
        return grey.convert("F")
    assert mode == "1"
    return grey.convert("1", dither=Image.Dither.NONE)


def snapshot(image: Image.Image) -> tuple[object, ...]:
    palette = image.getpalette() if image.mode in ("P", "PA") else None
    return image.mode, image.size, image.tobytes(), dict(image.info), palette


# --------------------------------------------------------------------------- every op, every mode

OPS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "fit": lambda image: ops.resize(image, (8, 8)),
    "cover": lambda image: ops.resize(image, (8, 8), "cover"),
    "pad": lambda image: ops.resize(image, (10, 10), "pad"),
    "stretch": lambda image: ops.resize(image, (5, 9), "stretch"),
    "fit-nearest": lambda image: ops.resize(image, (8, 8), resample="nearest"),
    "grayscale": ops.grayscale,
    "autocontrast": lambda image: ops.autocontrast(image, cutoff=2),
    "equalize": ops.equalize,
    "mirror": ops.mirror,
    "flip": ops.flip,
    "rotate90": lambda image: ops.rotate(image, 90),
    "rotate30": lambda image: ops.rotate(image, 30),
    "auto_orient": ops.auto_orient,
}
EXPECTED_SIZE = {
    "fit": (8, 6),
    "cover": (8, 8),
    "pad": (10, 10),
    "stretch": (5, 9),
    "fit-nearest": (8, 6),
    "rotate90": (12, 16),
    "rotate30": (20, 20),  # Pillow rounds the 19.9 x 18.4 bounding box outwards
}
# Ops that compute new colours turn palettes into RGB / RGBA (documented in ops).
COLOUR_MODE = {"P": "RGB", "P+t": "RGBA", "PA": "RGBA"}
GREY_MODE = {"RGB": "L", "RGBA": "LA", "P": "L", "P+t": "LA", "PA": "LA", "CMYK": "L"}
COMPUTING_OPS = {"fit", "cover", "pad", "stretch", "autocontrast", "equalize", "rotate30"}


def expected_mode(op: str, mode: str) -> str:
    if op == "grayscale":
        return GREY_MODE.get(mode, mode)
    if op in COMPUTING_OPS:
        return COLOUR_MODE.get(mode, mode)
    return "P" if mode == "P+t" else mode


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", OPS)
def test_every_op_on_every_mode_returns_a_new_image_and_leaves_the_input_alone(
    op: str, mode: str
) -> None:
    image = make_image(mode)
    before = snapshot(image)
    result = OPS[op](image)
    assert result is not image
    assert snapshot(image) == before
    assert result.mode == expected_mode(op, mode)
    assert result.size == EXPECTED_SIZE.get(op, image.size)
    if mode == "P+t" and result.mode == "P":  # exact ops keep the transparent index
        assert result.info["transparency"] == 15


UNIFORM = {
    "RGB": (200, 30, 90),
    "RGBA": (200, 30, 90, 255),  # semi-transparent: see the premultiplication test
    "LA": (77, 255),
    "L": 77,
    "CMYK": (10, 200, 30, 40),
    "I;16": 40000,  # above 255: proves 16-bit depth survives
    "I": 40000,
    "F": 3.25,
    "1": 255,
}


@pytest.mark.parametrize("mode", UNIFORM)
@pytest.mark.parametrize("op", ["fit", "cover", "pad", "stretch", "mirror", "rotate90"])
def test_geometry_of_a_uniform_image_keeps_its_exact_value(op: str, mode: str) -> None:
    image = Image.new(mode, (16, 12), UNIFORM[mode])
    result = OPS[op](image)
    assert result.mode == mode
    if op == "pad":  # only the scaled part is the colour; the border is checked elsewhere
        result = result.crop((0, 2, 10, 8))
    assert set(pixels(result)) == {UNIFORM[mode]}


@pytest.mark.parametrize("op", ["fit", "cover", "pad", "stretch", "rotate30"])
def test_semi_transparent_colour_survives_resampling_within_premultiplication_rounding(
    op: str,
) -> None:
    result = OPS[op](Image.new("RGBA", (16, 12), (200, 30, 90, 128)))
    centre = result.getpixel((result.width // 2, result.height // 2))
    assert isinstance(centre, tuple)
    assert centre[3] == 128
    assert all(abs(got - want) <= 1 for got, want in zip(centre, (200, 30, 90), strict=False))


@pytest.mark.parametrize("mode", UNIFORM)
def test_odd_angle_rotation_keeps_the_centre_value(mode: str) -> None:
    image = Image.new(mode, (31, 31), UNIFORM[mode])
    rotated = ops.rotate(image, 30)
    assert rotated.mode == mode
    centre = rotated.getpixel((rotated.width // 2, rotated.height // 2))
    assert centre == pytest.approx(UNIFORM[mode])


# --------------------------------------------------------------------------- mirror / flip


@pytest.mark.parametrize("mode", MODES)
def test_mirror_reverses_each_row_and_flip_reverses_the_rows(mode: str) -> None:
    image = make_image(mode)
    mirrored, flipped = ops.mirror(image), ops.flip(image)
    width, height = image.size
    for y in range(height):
        for x in range(width):
            assert mirrored.getpixel((x, y)) == image.getpixel((width - 1 - x, y))
            assert flipped.getpixel((x, y)) == image.getpixel((x, height - 1 - y))


def test_mirror_of_a_horizontal_gradient_is_the_reversed_gradient() -> None:
    gradient = Image.new("L", (256, 3))
    gradient.putdata([x for _ in range(3) for x in range(256)])
    assert pixels(ops.mirror(gradient)) == [255 - x for _ in range(3) for x in range(256)]


# --------------------------------------------------------------------------- resize


def test_cover_of_a_640x427_photo_is_200x200_and_centred() -> None:
    with Image.open(SAMPLES / "rocket.jpg") as opened:
        rocket = opened.convert("RGB")
    assert rocket.size == (640, 427)
    cover = ops.resize(rocket, ops.Size(200, 200), "cover")
    assert cover.size == (200, 200)
    # The whole photo scaled to 300x200, then its centre 200 columns: columns 50..250.
    assert ops.scaled_size(rocket.size, 200, "cover") == (300, 200)
    reference = rocket.resize((300, 200), Image.Resampling.BICUBIC).crop((50, 0, 250, 200))
    difference = ImageChops.difference(cover, reference)
    assert max(high for _, high in difference.getextrema()) <= 1  # float rounding only
    # and it matches Pillow's own centred crop-and-resize up to sub-pixel placement
    pillow_fit = ImageOps.fit(rocket, (200, 200), Image.Resampling.BICUBIC, centering=(0.5, 0.5))
    assert max(ImageStat.Stat(ImageChops.difference(cover, pillow_fit)).mean) < 1
    # a crop that is not centred would differ far more
    shifted = rocket.resize((300, 200), Image.Resampling.BICUBIC).crop((0, 0, 200, 200))
    assert max(ImageStat.Stat(ImageChops.difference(cover, shifted)).mean) > 5


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P+t", "PA"])
def test_fit_keeps_alpha(mode: str) -> None:
    image = make_image(mode, (64, 32))  # left quarter transparent, the rest opaque
    fitted = ops.resize(image, 32)
    assert fitted.size == (32, 16)
    alpha = fitted.convert("RGBA").getchannel("A")
    # the edge is at x = 8; Lanczos reaches 3 output pixels across it when halving
    assert {alpha.getpixel((x, y)) for x in range(5) for y in range(16)} == {0}
    assert {alpha.getpixel((x, y)) for x in range(12, 32) for y in range(16)} == {255}


def test_fit_does_not_bleed_transparent_colour_into_visible_pixels() -> None:
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # invisible red
    image.paste((0, 0, 255, 255), (4, 0, 8, 8))  # opaque blue right half
    fitted = ops.resize(image, (4, 4))
    row = [fitted.getpixel((x, 1)) for x in range(4)]
    assert row[3] == (0, 0, 255, 255)
    visible = [pixel for pixel in row if isinstance(pixel, tuple) and pixel[3] > 0]
    assert len(visible) >= 2
    assert all(pixel[:3] == (0, 0, 255) for pixel in visible)  # no red, even half-transparent


def test_pad_centres_the_image_on_the_pad_colour() -> None:
    image = Image.new("RGB", (40, 20), "red")
    padded = ops.resize(image, (30, 30), "pad", pad_color="blue")
    assert padded.size == (30, 30)
    assert ops.scaled_size(image.size, (30, 30), "pad") == (30, 15)
    rows = [set(pixels(padded.crop((0, y, 30, y + 1)))) for y in range(30)]
    # 15 rows of border split 7 above and 8 below, like ImageOps.pad's floor division
    assert rows == [{(0, 0, 255)}] * 7 + [{(255, 0, 0)}] * 15 + [{(0, 0, 255)}] * 8


@pytest.mark.parametrize(
    ("mode", "pad_color", "border"),
    [
        ("RGBA", None, (0, 0, 0, 0)),
        ("LA", None, (0, 0)),
        ("RGB", None, (0, 0, 0)),
        ("L", "white", 255),
        ("CMYK", None, (0, 0, 0, 255)),  # black ink, not white paper
        ("CMYK", "white", (0, 0, 0, 0)),
        ("I;16", "white", 65535),
        ("I", None, 0),
        ("F", 0.5, 0.5),
        ("1", "white", 255),
        ("P", "#00ff00", (0, 255, 0)),
        ("P+t", None, (0, 0, 0, 0)),
        ("RGBA", (1, 2, 3, 4), (1, 2, 3, 4)),
    ],
)
def test_pad_border_colour_per_mode(mode: str, pad_color: ops.Color | None, border: object) -> None:
    padded = ops.resize(make_image(mode, (16, 8)), (16, 16), "pad", pad_color=pad_color)
    assert padded.size == (16, 16)
    assert padded.getpixel((0, 0)) == border
    assert padded.getpixel((15, 15)) == border


@pytest.mark.parametrize("size", [(7, 30), (30, 7), (1, 1), (200, 3)])
def test_stretch_gives_the_exact_size(size: tuple[int, int]) -> None:
    assert ops.resize(make_image("RGB"), size, "stretch").size == size


@pytest.mark.parametrize("mode", ["fit", "cover", "stretch"])
def test_only_shrink_leaves_a_small_image_alone(mode: str) -> None:
    image = make_image("RGB")
    result = ops.resize(image, (100, 50), mode, only_shrink=True)
    assert result is not image
    assert (result.size, result.tobytes()) == (image.size, image.tobytes())
    assert ops.resize(image, (100, 50), mode).size != image.size  # without it, enlarged


def test_only_shrink_with_pad_pads_the_unscaled_image_to_the_box() -> None:
    image = Image.new("L", (10, 4), 255)
    padded = ops.resize(image, (20, 20), "pad", only_shrink=True)
    assert padded.size == (20, 20)
    assert padded.getbbox() == (5, 8, 15, 12)


def test_only_shrink_with_cover_crops_but_never_enlarges() -> None:
    image = make_image("L", (16, 12))
    result = ops.resize(image, (8, 40), "cover", only_shrink=True)
    assert result.size == (8, 12)
    assert result.tobytes() == image.crop((4, 0, 12, 12)).tobytes()


def test_only_shrink_still_shrinks_a_large_image() -> None:
    assert ops.resize(make_image("RGB", (40, 20)), 10, only_shrink=True).size == (10, 5)


@pytest.mark.parametrize("mode", ["fit", "cover", "pad", "stretch"])
def test_one_missing_side_follows_the_ratio_in_every_mode(mode: str) -> None:
    image = make_image("RGB", (40, 20))
    assert ops.resize(image, (10, None), mode).size == (10, 5)
    assert ops.resize(image, ops.Size(None, 10), mode).size == (20, 10)


def test_bilevel_is_resampled_and_thresholded_back() -> None:
    image = Image.new("1", (8, 4), 0)
    image.paste(1, (4, 0, 8, 4))
    fitted = ops.resize(image, (4, 2))
    assert fitted.mode == "1"
    assert pixels(fitted) == [0, 0, 255, 255] * 2


def test_nearest_keeps_the_palette() -> None:
    image = make_image("P+t")
    fitted = ops.resize(image, (8, 6), resample="nearest")
    assert fitted.mode == "P" and fitted.getpalette() == image.getpalette()
    assert set(pixels(fitted)) <= set(pixels(image))


def test_sixteen_bit_resize_keeps_values_above_255() -> None:
    ramp = Image.new("I;16", (64, 1))
    ramp.putdata([x * 1000 for x in range(64)])
    shrunk = ops.resize(ramp, (16, None), resample="box")
    assert shrunk.mode == "I;16"
    # box filter: the mean of each 4 source pixels
    assert pixels(shrunk) == [round((4 * x + 1.5) * 1000) for x in range(16)]


@pytest.mark.parametrize("name", sorted(ops.RESAMPLING_FILTERS))
def test_every_resampling_filter_is_accepted_by_name(name: str) -> None:
    image = Image.new("RGB", (20, 10), (10, 20, 30))
    resized = ops.resize(image, 5, resample=name.upper())
    assert set(pixels(resized)) == {(10, 20, 30)}


# --------------------------------------------------------------------------- scaled_size


@pytest.mark.parametrize(
    ("source", "size", "mode", "only_shrink", "expected"),
    [
        ((640, 427), 200, "fit", False, (200, 133)),
        ((640, 427), 200, "pad", False, (200, 133)),
        ((640, 427), 200, "cover", False, (300, 200)),
        ((640, 427), 200, "stretch", False, (200, 200)),
        ((640, 427), (None, 100), "cover", False, (150, 100)),
        ((640, 427), (1000, None), "stretch", True, (640, 427)),
        ((100, 50), (400, 400), "cover", True, (100, 50)),
        ((100, 50), (400, 10), "stretch", True, (100, 10)),
        ((1000, 1), 10, "fit", False, (10, 1)),  # never 0
        ((3, 2), (1, 1), "cover", False, (2, 1)),  # 1.5 rounds half up
    ],
)
def test_scaled_size_examples(
    source: tuple[int, int],
    size: ops.SizeLike,
    mode: str,
    only_shrink: bool,
    expected: tuple[int, int],
) -> None:
    assert ops.scaled_size(source, size, mode, only_shrink=only_shrink) == expected


sides = st.integers(min_value=1, max_value=48)


@settings(max_examples=150, deadline=None)
@given(
    source=st.tuples(sides, sides),
    box=st.tuples(st.none() | sides, st.none() | sides).filter(lambda box: box != (None, None)),
    mode=st.sampled_from(ops.RESIZE_MODES),
    only_shrink=st.booleans(),
)
def test_scaled_size_agrees_with_resize(
    source: tuple[int, int],
    box: tuple[int | None, int | None],
    mode: str,
    only_shrink: bool,
) -> None:
    image = Image.new("L", source, 255)
    scaled = ops.scaled_size(source, box, mode, only_shrink=only_shrink)
    result = ops.resize(image, box, mode, only_shrink=only_shrink, resample="nearest")
    width, height = box
    if width is None or height is None or mode in ("fit", "stretch"):
        assert result.size == scaled
    elif mode == "cover":
        assert result.size == (min(width, scaled[0]), min(height, scaled[1]))
        if not only_shrink:
            assert scaled[0] >= width and scaled[1] >= height
            assert width in scaled or height in scaled
    else:  # pad: the white image sits centred on a black canvas at exactly the scaled size
        assert result.size == (width, height)
        left, top = (width - scaled[0]) // 2, (height - scaled[1]) // 2
        assert result.getbbox() == (left, top, left + scaled[0], top + scaled[1])
    if only_shrink:
        assert scaled[0] <= source[0] and scaled[1] <= source[1]
    if width is not None and height is not None and mode in ("fit", "pad"):
        assert scaled[0] <= width and scaled[1] <= height


# --------------------------------------------------------------------------- rotate


def test_rotate_90_of_a_2x1_image_moves_the_right_pixel_to_the_top() -> None:
    image = Image.new("L", (2, 1))
    image.putdata([10, 20])  # left 10, right 20
    turned = ops.rotate(image, 90)  # counter-clockwise
    assert turned.size == (1, 2)
    assert pixels(turned) == [20, 10]
    assert pixels(ops.rotate(image, -90)) == [10, 20]
    assert pixels(ops.rotate(image, 270.0)) == [10, 20]
    assert pixels(ops.rotate(image, 180)) == [20, 10]
    assert pixels(ops.rotate(image, 360)) == [10, 20]


def test_rotate_90_without_expand_keeps_the_canvas() -> None:
    image = Image.new("RGB", (4, 2), "red")
    turned = ops.rotate(image, 90, expand=False, fill="blue")
    assert turned.size == (4, 2)
    assert pixels(turned) == [(0, 0, 255), *[(255, 0, 0)] * 2, (0, 0, 255)] * 2


@pytest.mark.parametrize(
    ("mode", "fill", "corner"),
    [
        ("RGBA", None, (0, 0, 0, 0)),
        ("LA", None, (0, 0)),
        ("P+t", None, (0, 0, 0, 0)),
        ("RGB", None, (0, 0, 0)),
        ("RGB", "white", (255, 255, 255)),
        ("L", 9, 9),
        ("I;16", "white", 65535),
    ],
)
def test_odd_angle_corners_are_transparent_or_the_fill(
    mode: str, fill: ops.Color | None, corner: object
) -> None:
    image = Image.new(mode if mode != "P+t" else "RGBA", (20, 20), "gray" if mode != "I;16" else 7)
    if mode == "P+t":
        image = image.convert("RGB").quantize(4)
        image.info["transparency"] = 3
    rotated = ops.rotate(image, 45, fill=fill)
    assert rotated.size == (30, 30)
    assert rotated.getpixel((0, 0)) == corner


def test_rotate_without_expand_keeps_the_size() -> None:
    assert ops.rotate(make_image("RGB"), 30, expand=False).size == (16, 12)


# --------------------------------------------------------------------------- tones


def test_grayscale_of_pure_red_is_76() -> None:
    assert set(pixels(ops.grayscale(Image.new("RGB", (3, 3), (255, 0, 0))))) == {76}


@pytest.mark.parametrize("mode", ["RGBA", "PA", "P+t"])
def test_grayscale_keeps_alpha(mode: str) -> None:
    image = make_image(mode)
    grey = ops.grayscale(image)
    assert grey.mode == "LA"
    assert grey.getchannel("A").tobytes() == image.convert("RGBA").getchannel("A").tobytes()


def test_grayscale_drops_the_colour_profile_and_copies_grey_modes() -> None:
    image = Image.new("RGB", (2, 2), "red")
    image.info["icc_profile"] = b"an RGB profile"
    assert "icc_profile" not in ops.grayscale(image).info
    for mode in ("L", "LA", "I;16", "I", "F", "1"):
        grey_image = make_image(mode)
        assert ops.grayscale(grey_image).tobytes() == grey_image.tobytes()


def ramp(mode: str, low: float, high: float, count: int = 151, rows: int = 1) -> Image.Image:
    image = Image.new("F", (count, rows))
    image.putdata([low + (high - low) * x / (count - 1) for _ in range(rows) for x in range(count)])
    return image if mode == "F" else image.convert("I").convert(mode)


def test_autocontrast_stretches_a_50_to_200_ramp_to_0_to_255() -> None:
    image = Image.new("L", (151, 1))
    image.putdata(list(range(50, 201)))
    stretched = pixels(ops.autocontrast(image))
    assert (min(stretched), max(stretched)) == (0, 255)
    assert stretched == sorted(stretched)
    assert len(set(stretched)) == 151  # no levels merged


@pytest.mark.parametrize(("mode", "top"), [("I;16", 65535), ("I", 65535), ("F", 255.0)])
def test_autocontrast_stretches_deep_images_to_their_range(mode: str, top: float) -> None:
    image = ramp(mode, 1000, 30000)
    stretched = ops.autocontrast(image)
    assert stretched.mode == mode
    values = pixels(stretched)
    assert values[0] == 0 and values[-1] == pytest.approx(top)
    assert values == sorted(values)
    # with a cutoff the ends clip: more pixels reach the limits
    clipped = pixels(ops.autocontrast(image, cutoff=10))
    assert clipped.count(0) > 5 and clipped[-1] == pytest.approx(top)
    assert min(clipped) >= 0 and max(clipped) <= top


def test_autocontrast_keeps_alpha_and_ignores_transparent_pixels() -> None:
    colour = Image.new("L", (4, 1))
    colour.putdata([0, 100, 150, 255])
    alpha = Image.new("L", (4, 1))
    alpha.putdata([0, 255, 255, 0])  # only 100 and 150 are visible
    image = Image.merge("LA", [colour, alpha])
    result = ops.autocontrast(image)
    assert pixels(result.getchannel("A")) == [0, 255, 255, 0]
    assert pixels(result.getchannel("L"))[1:3] == [0, 255]


def test_autocontrast_of_cmyk_stretches_each_ink() -> None:
    bands = []
    for low, high in [(10, 20), (0, 255), (100, 101), (30, 60)]:
        band = Image.new("L", (2, 1))
        band.putdata([low, high])
        bands.append(band)
    result = ops.autocontrast(Image.merge("CMYK", bands))
    assert result.mode == "CMYK"
    assert pixels(result) == [(0, 0, 0, 0), (255, 255, 255, 255)]


@settings(max_examples=200, deadline=None)
@given(
    levels=st.lists(st.integers(0, 255), min_size=1, max_size=64),
    cutoff=st.sampled_from([0, 1, 2, 3, 5, 10, 25, 49, 0.5, 2.5, 33.3, 49.99]),
    mode=st.sampled_from(["L", "RGB"]),
    alpha=st.none() | st.lists(st.sampled_from([0, 255]), min_size=64, max_size=64),
)
def test_autocontrast_matches_pillow_pixel_for_pixel(
    levels: list[int], cutoff: float, mode: str, alpha: list[int] | None
) -> None:
    # few distinct levels, repeated: the cut often ends inside a bin, or empties several
    grey = Image.new("L", (len(levels), 3))
    count = len(levels)
    grey.putdata([levels[(x * (y + 1)) % count] for y in range(3) for x in range(count)])
    halved = grey.point(lambda value: value // 2)
    image = grey if mode == "L" else Image.merge("RGB", [grey, ImageOps.mirror(grey), halved])
    mask = None
    if alpha is not None:
        mask = Image.new("L", image.size)
        mask.putdata(alpha[: image.width] * image.height)
        mask = mask.resize(image.size)
    expected = ImageOps.autocontrast(image, cutoff, mask=mask)
    stretched = _tone._stretch_8bit(image, cutoff, mask)  # the private 8-bit path itself
    assert stretched.tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.jpg")))
@pytest.mark.parametrize("cutoff", [0, 3])
def test_autocontrast_of_photos_matches_pillow(name: str, cutoff: float) -> None:
    with Image.open(SAMPLES / name) as photo:
        photo.draft("RGB", (320, 320))
        image = photo.convert("RGB")
    for working in (image, image.convert("L")):
        expected = ImageOps.autocontrast(working, cutoff)
        assert ops.autocontrast(working, cutoff).tobytes() == expected.tobytes()


@pytest.mark.parametrize("cutoff", [60, 50, -1, True, "3"])
def test_autocontrast_rejects_a_cutoff_outside_0_to_50(cutoff: object) -> None:
    with pytest.raises(UsageError, match=rf"cutoff must be in \[0, 50\), not {cutoff!r}"):
        ops.autocontrast(make_image("L"), cutoff=cutoff)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["L", "I;16", "I", "F"])
def test_equalize_spreads_a_narrow_ramp_over_the_whole_range(mode: str) -> None:
    top = {"L": 255, "F": 255.0}.get(mode, 65535)
    # 41 levels, 255 pixels each: Pillow's integer equalize then spreads them evenly
    narrow = ramp("I" if mode == "L" else mode, 100, 140, count=41, rows=255)
    equalized = ops.equalize(narrow.convert("L") if mode == "L" else narrow)
    values = pixels(equalized.crop((0, 0, 41, 1)))
    assert values == sorted(values) and len(set(values)) == 41
    assert values[0] == 0 and values[-1] == pytest.approx(top)
    assert values[20] == pytest.approx(top / 2, rel=0.02)


def test_equalize_keeps_alpha() -> None:
    grey = ramp("I", 100, 140, count=41, rows=255).convert("L")
    alpha = Image.new("L", grey.size, 255)
    alpha.paste(0, (0, 0, 41, 100))
    image = Image.merge("RGBA", [grey, grey, grey, alpha])
    equalized = ops.equalize(image)
    assert equalized.getchannel("A").tobytes() == alpha.tobytes()
    row = pixels(equalized.getchannel("R").crop((0, 200, 41, 201)))
    assert (row[0], row[-1]) == (0, 255)


def deep_levels(mode: str, counts: list[tuple[float, int]]) -> Image.Image:
    """A one-row image in ``mode`` (I;16, I or F) holding each value ``count`` times, in order."""
    values = [value for value, count in counts for _ in range(count)]
    image = Image.new("F" if mode == "F" else "I", (len(values), 1))
    image.putdata(values)
    return image.convert(mode) if mode == "I;16" else image


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_autocontrast_of_a_deep_ramp_clips_ten_percent_at_each_end(mode: str) -> None:
    # Every value 0..65535 once. The deep path bins the range into Pillow's 256 bins of 257
    # values (bin k holds 257k..257k+256; the last bin only 65535). 10% is 6553.6 pixels: the
    # running total first exceeds it after bin 25 (26 x 257 = 6682), so low = 25 x 257 = 6425;
    # from the top after 26 bins (1 + 26 x 257), so bin 229 is the last kept and high is its
    # end, 230 x 257 = 59110. Values up to 6425 become 0, from 59110 up 65535 (to within the
    # float scaling's truncation), and in between (v - 6425) x 65535 / 52685.
    ramp_image = Image.new("I", (256, 256))
    ramp_image.putdata(range(65536))
    stretched = pixels(ops.autocontrast(ramp_image.convert(mode), cutoff=10))
    assert stretched.count(0) == 6426  # 0..6425, exactly 10% and the rest of bin 25
    assert stretched[6426] == 1
    assert stretched[59109] == 65533 and stretched[59111:] == [65535] * (65536 - 59111)
    for value in range(0, 65536, 97):
        expected = min(65535, max(0, (value - 6425) * 65535 / 52685))
        assert expected - 1 <= stretched[value] <= expected, value  # truncated, never rounded up


@pytest.mark.parametrize(
    ("mode", "levels", "expected"),
    [
        # 10 + 40 + 40 + 10 pixels, cutoff 10: exactly the 10 darkest and 10 lightest pixels are
        # clipped (as ImageOps.autocontrast removes int(count x cutoff / 100) from each end), so
        # the range is the bins of the middle values: [19789, 40092) for 20000 and 40000 (bins
        # 77 and 155 of 257 each), [50, 151) for the F values 50 and 150 (bins of 1).
        ("I;16", (0, 20000, 40000, 65535), [0, 681, 65238, 65535]),
        ("I", (0, 20000, 40000, 65535), [0, 681, 65238, 65535]),
        ("F", (0.0, 50.0, 150.0, 255.0), [0.0, 0.0, 100 * 255 / 101, 255.0]),
    ],
)
def test_autocontrast_of_deep_images_clips_exactly_the_cutoff(
    mode: str, levels: tuple[float, ...], expected: list[float]
) -> None:
    image = deep_levels(mode, list(zip(levels, (10, 40, 40, 10), strict=True)))
    stretched = pixels(ops.autocontrast(image, cutoff=10))
    assert [stretched[0], stretched[10], stretched[50], stretched[99]] == pytest.approx(expected)
    # 20 pixels are exactly the cutoff: a cutoff of 9 keeps the end values and the whole range
    assert pixels(ops.autocontrast(image, cutoff=9)) == pytest.approx(pixels(image), abs=1e-3)


@pytest.mark.parametrize(
    ("mode", "levels", "top"),
    [
        ("I;16", (1000, 2000, 3000, 64000), 65535),
        ("I", (1000, 2000, 3000, 64000), 65535),
        ("F", (10.0, 20.0, 30.0, 250.0), 255.0),
    ],
)
def test_equalize_of_deep_images_gives_the_known_levels(
    mode: str, levels: tuple[float, ...], top: float
) -> None:
    # The values map onto 256 levels over their range (0, 4, 8 and 255: the first three are
    # close together), which Pillow's integer equalize spreads by their counts: step =
    # (4000 - 1000) // 255 = 11, and level i goes to (5 + pixels below it) // 11: 0, 91, 182,
    # 273 (clipped to 255). I;16 and I scale the levels by 257 back to 16 bits; F keeps 0..255.
    image = deep_levels(mode, [(value, 1000) for value in levels])
    equalized = ops.equalize(image)
    assert equalized.mode == mode
    scale = top / 255
    expected = [0, 91 * scale, 182 * scale, top]
    assert pixels(equalized)[::1000] == pytest.approx(expected)


# --------------------------------------------------------------------------- auto_orient

# How a camera stores an upright picture for each EXIF orientation, as the Pillow transpose
# that turns the upright pixels into the stored ones (the inverse of what a viewer applies).
STORED_AS: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # camera turned clockwise: viewer turns 90 clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_auto_orient_makes_every_orientation_upright(orientation: int) -> None:
    upright = Image.new("L", (3, 2))
    upright.putdata([1, 2, 3, 4, 5, 6])
    method = STORED_AS[orientation]
    stored = upright if method is None else upright.transpose(method)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    encoded = BytesIO()
    stored.save(encoded, "PNG", exif=exif.tobytes())
    with Image.open(BytesIO(encoded.getvalue())) as loaded:
        loaded.load()
        before = snapshot(loaded)
        oriented = ops.auto_orient(loaded)
        assert snapshot(loaded) == before
        assert loaded.getexif().get(ORIENTATION) == orientation
    assert (oriented.size, pixels(oriented)) == ((3, 2), [1, 2, 3, 4, 5, 6])
    assert oriented.getexif().get(ORIENTATION, 1) == 1
    again = ops.auto_orient(oriented)  # never applied twice
    assert pixels(again) == [1, 2, 3, 4, 5, 6]


# --------------------------------------------------------------------------- size parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200x100", (200, 100)),
        ("200X100", (200, 100)),
        (" 64 x 48 ", (64, 48)),
        ("200", (200, 200)),
        ("200x", (200, None)),
        ("x200", (None, 200)),
        ("+5x7", (5, 7)),
    ],
)
def test_parse_size_accepts_the_four_forms(text: str, expected: tuple[int | None, ...]) -> None:
    size = ops.parse_size(text)
    assert size == expected and isinstance(size, ops.Size)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0x5", "size must be positive, not '0x5'"),
        ("-3", "size must be positive, not '-3'"),
        ("5x0", "size must be positive, not '5x0'"),
        ("x-2", "size must be positive, not 'x-2'"),
        ("axb", "size must be WIDTHxHEIGHT, WIDTH, WIDTHx or xHEIGHT, not 'axb'"),
        ("", "size must be WIDTHxHEIGHT, WIDTH, WIDTHx or xHEIGHT, not ''"),
        ("x", "size must be WIDTHxHEIGHT, WIDTH, WIDTHx or xHEIGHT, not 'x'"),
        ("2x3x4", "size must be WIDTHxHEIGHT, WIDTH, WIDTHx or xHEIGHT, not '2x3x4'"),
        ("2.5", "size must be WIDTHxHEIGHT, WIDTH, WIDTHx or xHEIGHT, not '2.5'"),
        ("1_000", "size must be WIDTHxHEIGHT, WIDTH, WIDTHx or xHEIGHT, not '1_000'"),
        ("²", "size must be WIDTHxHEIGHT, WIDTH, WIDTHx or xHEIGHT, not '²'"),
    ],
)
def test_parse_size_errors_state_the_rule_and_the_value(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        ops.parse_size(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def reference_scaled_size(
    source: tuple[int, int], box: tuple[int | None, int | None], mode: str, only_shrink: bool
) -> tuple[int, int]:
    """scaled_size's documented rule in exact rationals, written the obvious way."""
    width, height = box
    if width is not None and height is not None and mode == "stretch":
        return (min(width, source[0]), min(height, source[1])) if only_shrink else (width, height)
    pairs = zip(box, source, strict=True)
    ratios = [Fraction(side, length) for side, length in pairs if side is not None]
    ratio = max(ratios) if mode == "cover" else min(ratios)
    if only_shrink:
        ratio = min(ratio, Fraction(1))
    return tuple(max(1, math.floor(length * ratio + Fraction(1, 2))) for length in source)  # type: ignore[return-value]


lengths = st.integers(1, 12) | st.integers(1, 10**5)  # small ones meet exact halves often


@settings(max_examples=300, deadline=None)
@given(
    source=st.tuples(lengths, lengths),
    box=st.tuples(st.none() | lengths, st.none() | lengths).filter(lambda box: box != (None, None)),
    mode=st.sampled_from(ops.RESIZE_MODES),
    only_shrink=st.booleans(),
)
def test_scaled_size_is_the_exact_rational_rule(
    source: tuple[int, int], box: tuple[int | None, int | None], mode: str, only_shrink: bool
) -> None:
    expected = reference_scaled_size(source, box, mode, only_shrink)
    assert ops.scaled_size(source, box, mode, only_shrink=only_shrink) == expected


@given(st.integers(1, 10**6), st.integers(1, 10**6))
def test_parse_size_round_trips(width: int, height: int) -> None:
    assert ops.parse_size(f"{width}x{height}") == (width, height)


# --------------------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda image: ops.resize(image, 0), "size must be positive, not 0"),
        (lambda image: ops.resize(image, (5, -1)), "size must be positive, not (5, -1)"),
        (lambda image: ops.resize(image, (None, None)), "size needs a width or a height"),
        (lambda image: ops.resize(image, True), "size must be an int or a (width, height)"),
        (lambda image: ops.resize(image, "200"), "size must be an int or a (width, height)"),
        (lambda image: ops.resize(image, (2.5, 3)), "size sides must be int or None"),
        (
            lambda image: ops.resize(image, 5, "zoom"),
            "resize mode must be one of fit, cover, pad, stretch, not 'zoom'",
        ),
        (lambda image: ops.resize(image, 5, resample="cubic"), "resample must be one of nearest"),
        (
            lambda image: ops.resize(image, 50, "pad", pad_color="nocolour"),
            "pad_color must be a colour Pillow knows, not 'nocolour'",
        ),
        (lambda image: ops.rotate(image, float("nan")), "degrees must be finite, not nan"),
        (lambda image: ops.rotate(image, "90"), "degrees must be a number, not '90'"),
        (lambda image: ops.rotate(image, 30, fill="nope"), "fill must be a colour Pillow knows"),
    ],
)
def test_bad_arguments_raise_usage_errors(
    call: Callable[[Image.Image], Image.Image], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        call(make_image("RGB"))
    assert str(caught.value).startswith(message)


def test_scaled_size_rejects_an_empty_source() -> None:
    with pytest.raises(UsageError, match=r"source size must be positive, not \(0, 5\)"):
        ops.scaled_size((0, 5), 10)
