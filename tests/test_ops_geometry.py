"""Tests of the box ops: crop, pad, extent, trim, their plans, and resize's ``source_box``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from imgprep import ops
from imgprep.errors import UsageError
from test_ops import MODES, make_image, pixels, snapshot

BOX_OPS = {
    "crop%": lambda image: ops.crop(image, "50%x50%"),
    "crop-px": lambda image: ops.crop(image, "6x4+3+2"),
    "crop-ratio": lambda image: ops.crop(image, ratio="1:1", gravity="east"),
    "pad-size": lambda image: ops.pad(image, (20, 14), color="red"),
    "pad-ratio": lambda image: ops.pad(image, ratio="2:1"),
    "pad-nothing": lambda image: ops.pad(image, (4, 4)),
    "trim": ops.trim,
    "extent-inside": lambda image: ops.extent(image, (1, 1, 5, 5)),
}
EXPECTED_SIZE = {
    "crop%": (8, 6),
    "crop-px": (6, 4),
    "crop-ratio": (12, 12),
    "pad-size": (20, 14),
    "pad-ratio": (24, 12),
    "pad-nothing": (16, 12),
    "extent-inside": (4, 4),
    "trim": None,  # its own box: the left quarter of the alpha modes is transparent
}
PADDING_OPS = {"pad-size", "pad-ratio"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", BOX_OPS)
def test_box_ops_on_every_mode_return_a_new_image_and_leave_the_input_alone(op, mode):
    image = make_image(mode)
    before = snapshot(image)
    result = BOX_OPS[op](image)
    assert result is not image
    assert snapshot(image) == before
    expected = EXPECTED_SIZE.get(op, image.size)
    if expected is None:
        box = ops.trim_box(image)
        expected = image.size if box is None else (box[2] - box[0], box[3] - box[1])
    assert result.size == expected
    # crops are exact in every mode (palette kept); padding gives P/PA a colour mode
    padded_modes = {"P": "RGB", "P+t": "RGBA", "PA": "RGBA"} if op in PADDING_OPS else {}
    assert result.mode == padded_modes.get(mode, "P" if mode == "P+t" else mode)


@pytest.mark.parametrize("mode", MODES)
def test_crop_keeps_exactly_the_pixels_of_its_box(mode):
    image = make_image(mode)
    result = ops.crop(image, "6x4+3+2")
    assert pixels(result) == pixels(image.crop((3, 2, 9, 6)))
    if image.mode == "P":
        assert result.getpalette() == image.getpalette()


@pytest.mark.parametrize(
    ("gravity", "box"),
    [
        (None, (4, 3, 12, 9)),
        ("center", (4, 3, 12, 9)),
        ("northwest", (0, 0, 8, 6)),
        ("north", (4, 0, 12, 6)),
        ("northeast", (8, 0, 16, 6)),
        ("west", (0, 3, 8, 9)),
        ("east", (8, 3, 16, 9)),
        ("southwest", (0, 6, 8, 12)),
        ("south", (4, 6, 12, 12)),
        ("southeast", (8, 6, 16, 12)),
    ],
)
def test_gravity_places_the_box(gravity, box):
    assert ops.crop_box((16, 12), "50%", gravity=gravity) == box
    assert ops.crop_box((16, 12), "8x6", gravity=gravity) == box


@pytest.mark.parametrize(
    ("size", "geometry", "ratio", "box"),
    [
        ((4000, 3000), "50%x50%", None, (1000, 750, 3000, 2250)),
        ((640, 427), "50%", None, (160, 106, 480, 320)),  # 213.5 rounds half up to 214
        ((640, 427), "100%", "1:1", (106, 0, 533, 427)),
        ((640, 427), "100%", "16:9", (0, 33, 640, 393)),
        ((427, 640), "100%", "1:1", (0, 106, 427, 533)),
        ((640, 427), "50%", "1.91:1", (160, 129, 480, 297)),  # 320 / 1.91 = 167.5
        ((640, 427), "33.3%x10%", None, (213, 192, 426, 235)),  # 213.1 x 42.7
        ((1, 1), "1%", None, (0, 0, 1, 1)),  # never below one pixel
    ],
)
def test_crop_box_examples(size, geometry, ratio, box):
    assert ops.crop_box(size, geometry, ratio=ratio) == box


def test_a_box_outside_the_image_fails_that_image_or_is_clamped():
    with pytest.raises(ops.OpError) as raised:
        ops.crop(Image.new("RGB", (640, 427)), "700x100+0+0")
    message = str(raised.value)
    assert "700x100+0+0" in message and "640x427" in message and "--clamp" in message
    assert not isinstance(raised.value, UsageError)  # the image's failure, not the user's
    assert ops.crop_box((640, 427), "700x100+0+0", clamp=True) == (0, 0, 640, 100)
    assert ops.crop_box((640, 427), "100x100-50-50", clamp=True) == (0, 0, 50, 50)
    assert ops.crop_box((640, 427), "800x800", clamp=True) == (0, 0, 640, 427)
    with pytest.raises(ops.OpError, match="does not overlap the 640x427 image"):
        ops.crop_box((640, 427), "10x10+700+0", clamp=True)


def test_a_crop_never_adds_a_black_band():
    image = Image.new("RGB", (10, 10), "white")
    with pytest.raises(ops.OpError):
        ops.crop(image, "20x20")  # Pillow's own crop would pad with black
    assert ops.crop(image, "20x20", clamp=True).getcolors() == [(100, (255, 255, 255))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "geometry must be WIDTHxHEIGHT, PCT% or PCT%xPCT%"),
        ("200", "a crop in pixels needs both sides"),
        ("0x5", "crop size must be positive, not '0x5'"),
        ("150%", "crop percentages must be in (0, 100], not '150%'"),
        ("0%", "crop percentages must be in (0, 100]"),
        ("1.5x2", "a crop in pixels needs whole numbers"),
        ("10x10+5", "geometry must be"),
    ],
)
def test_geometry_refusals_state_the_rule_and_the_value(text, message):
    with pytest.raises(UsageError) as raised:
        ops.CropGeometry.parse(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("200x100+10+20", "200x100+10+20"),
        ("50%", "50%x50%"),
        ("50x40%", "50%x40%"),  # as ImageMagick: a % anywhere makes both sides percentages
        ("33.3%X10%-5+0", "33.3%x10%-5+0"),
        (" 8x6 ", "8x6"),
    ],
)
def test_geometry_text_round_trips(text, shown):
    geometry = ops.CropGeometry.parse(text)
    assert str(geometry) == shown
    assert ops.CropGeometry.parse(shown) == geometry


def test_ratios_parse_and_refuse():
    assert str(ops.Ratio.parse("16:9")) == "16:9"
    assert str(ops.Ratio.parse("1.91:1")) == "1.91:1"
    for text in ("16/9", "0:1", "1:0", "a:b", "16:"):
        with pytest.raises(UsageError, match="ratio must be WIDTH:HEIGHT"):
            ops.Ratio.parse(text)


def test_an_offset_takes_no_gravity_and_no_ratio():
    with pytest.raises(UsageError, match="placed from the top-left corner"):
        ops.crop_box((100, 100), "10x10+1+1", gravity="north")
    with pytest.raises(UsageError, match="placed from the top-left corner"):
        ops.crop_box((100, 100), "10x10+1+1", ratio="1:1")


# --------------------------------------------------------------------------- pad and extent


@pytest.mark.parametrize(
    ("size", "minimum", "ratio", "gravity", "box"),
    [
        ((640, 427), (800, 800), None, None, (-80, -186, 720, 614)),
        ((640, 427), (600, 500), None, None, (0, -36, 640, 464)),  # width already enough
        ((640, 427), (None, 500), None, "north", (0, 0, 640, 500)),
        ((640, 427), None, "1:1", None, (0, -106, 640, 534)),
        ((640, 427), None, "1:1", "southeast", (0, -213, 640, 427)),
        ((640, 427), None, "4:3", None, (0, -26, 640, 454)),  # 480 high, 53 shared 26 + 27
        ((640, 427), (700, None), "1:1", "northwest", (0, 0, 700, 700)),
        ((300, 400), None, "1:1", "west", (0, 0, 400, 400)),
    ],
)
def test_pad_box_examples(size, minimum, ratio, gravity, box):
    left, top, right, bottom = ops.pad_box(size, minimum, ratio=ratio, gravity=gravity)
    assert (left, top, right, bottom) == box
    assert left <= 0 and top <= 0 and right >= size[0] and bottom >= size[1]


@pytest.mark.parametrize(
    ("mode", "color", "border"),
    [
        ("RGB", None, (0, 0, 0)),
        ("RGB", "red", (255, 0, 0)),
        ("RGBA", None, (0, 0, 0, 0)),
        ("RGBA", "#00ff0080", (0, 255, 0, 128)),
        ("L", "white", 255),
        ("LA", None, (0, 0)),
        ("I;16", "white", 65535),
        ("I", "white", 65535),
        ("F", "white", 255.0),
        ("1", "white", 255),
        ("CMYK", "black", (0, 0, 0, 255)),
        ("P", "red", (255, 0, 0)),
    ],
)
def test_pad_fills_with_the_colour_per_mode_and_keeps_the_image(mode, color, border):
    image = make_image(mode)
    padded = ops.pad(image, (20, 14), color=color, gravity="northwest")
    assert padded.getpixel((19, 13)) == border
    inner = padded.crop((0, 0, *image.size))
    expected = image if mode != "P" else image.convert("RGB")
    assert pixels(inner) == pixels(expected)


def test_extent_reaching_outside_uses_the_colour_never_black():
    image = Image.new("RGB", (4, 4), "white")
    result = ops.extent(image, (-2, -1, 6, 4), color="blue")
    assert result.size == (8, 5)
    assert result.getpixel((0, 0)) == (0, 0, 255) and result.getpixel((2, 1)) == (255, 255, 255)
    with pytest.raises(UsageError, match="box must have a positive size"):
        ops.extent(image, (2, 2, 2, 5))


# --------------------------------------------------------------------------- trim


def framed(mode: str, border: object, content: object) -> Image.Image:
    image = Image.new(mode, (30, 20), border)  # type: ignore[arg-type]
    image.paste(Image.new(mode, (12, 11), content), (7, 4))  # type: ignore[arg-type]
    if mode == "P":
        image.putpalette([level for level in range(256) for _ in range(3)])
    return image


@pytest.mark.parametrize(
    ("mode", "border", "content"),
    [
        ("RGB", (255, 255, 255), (200, 10, 10)),
        ("RGBA", (0, 0, 0, 0), (9, 9, 9, 255)),
        ("L", 0, 255),
        ("LA", (255, 255), (0, 128)),
        ("I;16", 40000, 1000),
        ("I", 40000, 1000),
        ("F", 0.5, 200.0),
        ("1", 0, 255),
        ("P", 3, 7),
        ("CMYK", (0, 0, 0, 0), (0, 0, 0, 255)),
    ],
)
def test_trim_removes_the_border_in_every_mode(mode, border, content):
    image = framed(mode, border, content)
    trimmed = ops.trim(image)
    assert trimmed.size == (12, 11) and trimmed.mode == image.mode
    assert pixels(trimmed) == pixels(image.crop((7, 4, 19, 15)))


def test_trim_treats_all_transparent_pixels_as_alike():
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.paste((255, 255, 255, 0), (0, 0, 10, 5))  # invisible white: still border
    image.paste((10, 20, 30, 255), (4, 6, 6, 8))
    assert ops.trim_box(image) == (4, 6, 6, 8)


def test_trim_fuzz_is_the_rms_distance_in_percent_of_the_range():
    image = framed("RGB", (100, 100, 100), (110, 110, 110))  # 10 levels = 3.9 %
    assert ops.trim_box(image, 3.9) == (7, 4, 19, 15)
    assert ops.trim_box(image, 4.0) is None
    deep = framed("I;16", 30000, 30000 + 655)  # 1 % of 65535
    assert ops.trim_box(deep, 0.99) == (7, 4, 19, 15)
    assert ops.trim_box(deep, 1.01) is None


def test_an_image_that_is_all_border_is_kept_as_it_is():
    image = Image.new("RGB", (8, 6), "white")
    result = ops.trim(image)
    assert result is not image and result.size == (8, 6) and pixels(result) == pixels(image)
    assert ops.trim_box(image) is None


def test_trim_of_a_jpeg_photo_with_fuzz_removes_the_noisy_border():
    with Image.open("sample_images/rocket.jpg") as photo:
        photo.load()
        inner = photo.resize((200, 150))
    framed_photo = Image.new("RGB", (260, 200), "white")
    framed_photo.paste(inner, (30, 20))
    trimmed = ops.trim(framed_photo, fuzz=2)
    assert trimmed.size == (200, 150)


@pytest.mark.parametrize("fuzz", [-1, 100, float("nan"), True])
def test_trim_refuses_a_fuzz_outside_0_to_100(fuzz):
    with pytest.raises(UsageError, match=r"fuzz must be a percentage in \[0, 100\)"):
        ops.trim(Image.new("L", (2, 2)), fuzz)


# --------------------------------------------------------------------------- properties


sizes = st.tuples(st.integers(1, 300), st.integers(1, 300))
geometries = st.one_of(
    st.builds(lambda w, h: f"{w}%x{h}%", st.integers(1, 100), st.integers(1, 100)),
    st.builds(lambda w, h: f"{w}x{h}", st.integers(1, 400), st.integers(1, 400)),
)


@settings(max_examples=300, deadline=None)
@given(
    size=sizes,
    geometry=geometries,
    gravity=st.sampled_from([None, *ops.GRAVITIES]),
    ratio=st.sampled_from([None, "1:1", "16:9", "3:4", "1.91:1"]),
)
def test_a_clamped_crop_stays_inside_the_image(size, geometry, gravity, ratio):
    left, top, right, bottom = ops.crop_box(
        size, geometry, gravity=gravity, ratio=ratio, clamp=True
    )
    assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]


@settings(max_examples=300, deadline=None)
@given(size=sizes, geometry=geometries, gravity=st.sampled_from([None, *ops.GRAVITIES]))
def test_an_unclamped_crop_is_inside_or_refused(size, geometry, gravity):
    try:
        left, top, right, bottom = ops.crop_box(size, geometry, gravity=gravity)
    except ops.OpError:
        width, height = ops.CropGeometry.parse(geometry).size_for(size)
        assert width > size[0] or height > size[1]
    else:
        assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]


@settings(max_examples=100, deadline=None)
@given(
    size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    percent=st.tuples(st.integers(1, 100), st.integers(1, 100)),
    gravity=st.sampled_from(list(ops.GRAVITIES)),
)
def test_crop_then_pad_back_restores_the_size_and_the_kept_pixels(size, percent, gravity):
    image = Image.effect_noise(size, 50)
    cropped = ops.crop(image, f"{percent[0]}%x{percent[1]}%", gravity=gravity)
    restored = ops.pad(cropped, size, gravity=gravity)
    assert restored.size == size
    left, top, right, bottom = ops.crop_box(size, f"{percent[0]}%x{percent[1]}%", gravity=gravity)
    assert pixels(restored.crop((left, top, right, bottom))) == pixels(cropped)


@settings(max_examples=200, deadline=None)
@given(size=sizes, ratio=st.sampled_from(["1:1", "16:9", "9:16", "4:3", "1.91:1"]))
def test_crop_and_pad_to_a_ratio_come_within_a_pixel_of_it(size, ratio):
    target = ops.Ratio.parse(ratio)
    for left, top, right, bottom in (
        ops.crop_box(size, ratio=ratio),
        ops.pad_box(size, ratio=ratio),
    ):
        width, height = right - left, bottom - top
        exact = float(target.width / target.height)
        assert min(abs(width - exact * height), abs(height - width / exact)) <= 0.5 + 1e-9


# --------------------------------------------------------------------------- resize's source_box


def test_resize_of_a_source_box_matches_resizing_that_box_of_the_full_image():
    with Image.open("sample_images/coffee.png") as photo:
        full = photo.convert("RGB")  # 600x400
    # The whole image, given as a box, is the plain resize, byte for byte
    whole = ops.resize(
        full, (100, 100), "cover", source_size=full.size, source_box=(0, 0, 600, 400)
    )
    assert whole.tobytes() == ops.resize(full, (100, 100), "cover").tobytes()
    # A 2x reduction whose box starts between pixels: within resampling tolerance of the
    # full image's crop, resized
    reduced = full.resize((300, 200), Image.Resampling.BOX)
    crop = full.crop((101, 51, 501, 351))  # 400x300
    expected = ops.resize(crop, (80, 60))
    got = ops.resize(
        reduced, (80, 60), source_size=(400, 300), source_box=(50.5, 25.5, 250.5, 175.5)
    )
    assert got.size == expected.size
    difference = ImageChops.difference(got, expected)
    assert max(band_max for _, band_max in difference.getextrema()) <= 40
    assert sum(difference.convert("L").get_flattened_data()) / (80 * 60) < 2


def test_resize_refuses_a_source_box_outside_the_image():
    with pytest.raises(UsageError, match="source_box must lie inside the 10x10 image"):
        ops.resize(Image.new("L", (10, 10)), 5, source_size=(20, 20), source_box=(0, 0, 11, 10))
