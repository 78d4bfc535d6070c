"""Tests of the tone, detail and mode ops against Pillow applied by hand, mode by mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image, ImageChops, ImageEnhance, ImageFilter, ImageOps, ImageStat

from imgprep import ops
from imgprep.errors import UsageError
from test_ops import MODES, make_image, pixels, snapshot

TONE_OPS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "brightness": lambda image: ops.brightness(image, 1.3),
    "contrast": lambda image: ops.contrast(image, 0.6),
    "saturation": lambda image: ops.saturation(image, 1.5),
    "gamma": lambda image: ops.gamma(image, 2.2),
    "invert": ops.invert,
    "posterize": lambda image: ops.posterize(image, 3),
    "normalize": lambda image: ops.normalize(image, 1),
    "blur": lambda image: ops.blur(image, 1.5),
    "sharpen": ops.sharpen,
}
REFUSES_CMYK = {"brightness", "contrast", "saturation", "gamma", "invert", "posterize"}
COLOUR_MODE = {"P": "RGB", "P+t": "RGBA", "PA": "RGBA"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", TONE_OPS)
def test_tone_ops_on_every_mode_keep_size_mode_and_input(op, mode):
    image = make_image(mode)
    before = snapshot(image)
    if mode == "CMYK" and op in REFUSES_CMYK:
        with pytest.raises(ops.OpError, match=f"{op} works on grey and RGB images.*not CMYK"):
            TONE_OPS[op](image)
        return
    result = TONE_OPS[op](image)
    assert result is not image and snapshot(image) == before
    assert result.size == image.size
    assert result.mode == COLOUR_MODE.get(mode, mode)  # 16-bit stays 16-bit, 1 stays 1


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "P+t"])
@pytest.mark.parametrize("op", TONE_OPS)
def test_alpha_is_kept_untouched(op, mode):
    image = make_image(mode)
    alpha = image.convert("RGBA").getchannel("A")
    assert pixels(TONE_OPS[op](image).getchannel("A")) == pixels(alpha)


# --------------------------------------------------------------------------- 8-bit, as Pillow

ENHANCERS = {
    "brightness": (ops.brightness, ImageEnhance.Brightness),
    "contrast": (ops.contrast, ImageEnhance.Contrast),
    "saturation": (ops.saturation, ImageEnhance.Color),
}


@pytest.mark.parametrize("factor", [0, 0.5, 1, 1.7])
@pytest.mark.parametrize("name", ENHANCERS)
@pytest.mark.parametrize("mode", ["RGB", "L", "P"])
def test_enhancers_are_pillows_image_enhance(name, mode, factor):
    op, enhancer = ENHANCERS[name]
    image = make_image(mode)
    working = image.convert("RGB") if mode == "P" else image
    expected = enhancer(working).enhance(factor)
    assert op(image, factor).tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", ENHANCERS)
def test_enhancers_map_the_colour_of_rgba_as_pillow_maps_rgb(name):
    op, enhancer = ENHANCERS[name]
    image = make_image("RGBA")
    expected = enhancer(image.convert("RGB")).enhance(1.4)
    assert op(image, 1.4).convert("RGB").tobytes() == expected.tobytes()


def test_gamma_is_the_power_curve_by_hand():
    image = make_image("RGB")
    expected = image.point(lambda level: round(255 * (level / 255) ** (1 / 2.2)))
    assert ops.gamma(image, 2.2).tobytes() == expected.tobytes()
    assert ops.gamma(image, 1).tobytes() == image.tobytes()
    ramp = Image.linear_gradient("L")
    assert ops.gamma(ramp, 0.5).getextrema() == (0, 255)  # black and white stay


def test_invert_and_posterize_are_pillows():
    for mode in ("L", "RGB"):
        image = make_image(mode)
        assert ops.invert(image).tobytes() == ImageOps.invert(image).tobytes()
        for bits in (1, 3, 8):
            expected = ImageOps.posterize(image, bits)
            assert ops.posterize(image, bits).tobytes() == expected.tobytes()


def test_bilevel_images_are_mapped_as_grey_and_thresholded_back():
    image = make_image("1")
    assert pixels(ops.invert(image)) == [255 - value for value in pixels(image)]
    assert set(pixels(ops.brightness(image, 0.4))) == {0}  # white * 0.4 = 102 < 128


# --------------------------------------------------------------------------- 16-bit and float


def deep(mode: str, values: list[float]) -> Image.Image:
    image = Image.new("F", (len(values), 1))
    image.putdata(values)
    if mode == "F":
        return image
    wide = image.convert("I")
    return wide.convert("I;16") if mode == "I;16" else wide


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_sixteen_bit_tone_maps_use_the_16_bit_range(mode):
    image = deep(mode, [0, 1000, 40000, 60000, 65535])
    assert pixels(ops.brightness(image, 1.2)) == [0, 1200, 48000, 65535, 65535]
    assert pixels(ops.invert(image)) == [65535, 64535, 25535, 5535, 0]
    assert pixels(ops.posterize(image, 2)) == [0, 0, 32768, 49152, 49152]
    expected_gamma = [round(65535 * (v / 65535) ** 0.5) for v in (0, 1000, 40000, 60000, 65535)]
    assert pixels(ops.gamma(image, 2)) == expected_gamma
    assert len(set(pixels(ops.gamma(deep(mode, list(range(0, 65536, 97))), 1.3)))) > 256
    mean = (0 + 1000 + 40000 + 60000 + 65535) / 5
    expected_contrast = [round(mean + 0.5 * (v - mean)) for v in (0, 1000, 40000, 60000, 65535)]
    assert pixels(ops.contrast(image, 0.5)) == expected_contrast
    assert ops.saturation(image, 0).tobytes() == image.tobytes()  # grey has no colour


def test_float_tone_maps_use_0_to_255():
    image = deep("F", [0.0, 10.5, 200.0, 255.0])
    assert pixels(ops.brightness(image, 2)) == [0.0, 21.0, 255.0, 255.0]
    assert pixels(ops.invert(image)) == [255.0, 244.5, 55.0, 0.0]
    assert pixels(ops.posterize(image, 3)) == [0.0, 0.0, 192.0, 224.0]


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
@pytest.mark.parametrize("op", ["blur", "sharpen"])
def test_deep_filters_agree_with_pillows_8_bit_result(op, mode):
    with Image.open("sample_images/camera.png") as photo:
        grey = photo.convert("L").crop((100, 100, 260, 260))
    scale = 1 if mode == "F" else 257
    wide = grey.convert("F").point(lambda value: value * scale)
    image = wide if mode == "F" else wide.convert("I").convert(mode)
    result = TONE_OPS[op](image)
    assert result.mode == mode
    back = result.convert("F").point(lambda value: value / scale + 0.5).convert("L")
    difference = ImageChops.difference(back, TONE_OPS[op](grey))
    assert ImageStat.Stat(difference).mean[0] < 0.6  # Pillow rounds each pass to 8 bits
    assert difference.getextrema()[1] <= (3 if op == "blur" else 10)


def test_deep_blur_keeps_16_bit_precision():
    ramp = deep("I;16", [value * 64 for value in range(1024)])  # a smooth 16-bit ramp
    blurred = ops.blur(ramp.resize((1024, 8)), 3)
    assert len(set(pixels(blurred.crop((20, 4, 1000, 5))))) > 900  # not 256 levels


# --------------------------------------------------------------------------- blur and sharpen


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_blur_and_sharpen_are_pillows_filters(mode):
    image = make_image(mode, (40, 30))
    expected_blur = image.filter(ImageFilter.GaussianBlur(2.5))
    assert ops.blur(image, 2.5).tobytes() == expected_blur.tobytes()
    expected_sharp = image.filter(ImageFilter.UnsharpMask(3, 80, 2))
    assert ops.sharpen(image, 3, 80, 2).tobytes() == expected_sharp.tobytes()
    assert ops.sharpen(image).tobytes() == image.filter(ImageFilter.UnsharpMask()).tobytes()


def test_blur_of_an_opaque_rgba_image_is_the_rgb_blur():
    image = make_image("RGB", (40, 30))
    opaque = image.convert("RGBA")
    blurred = ops.blur(opaque, 2)
    assert blurred.convert("RGB").tobytes() == ops.blur(image, 2).tobytes()


def test_blur_never_bleeds_hidden_colour_into_visible_pixels():
    image = Image.new("RGBA", (40, 20), (255, 0, 0, 0))  # invisible red
    image.paste((0, 0, 255, 255), (20, 0, 40, 20))  # visible blue
    result = ops.blur(image, 3)
    visible = result.crop((20, 0, 40, 20)).convert("RGB")
    assert visible.getcolors() == [(400, (0, 0, 255))]
    assert pixels(result.getchannel("A")) == pixels(image.getchannel("A"))


def test_blur_radius_zero_is_a_copy_and_bad_radii_are_refused():
    image = make_image("RGB")
    assert ops.blur(image, 0).tobytes() == image.tobytes()
    for radius in (-1, float("inf"), True):
        with pytest.raises(UsageError, match="radius must be a finite number >= 0"):
            ops.blur(image, radius)


# --------------------------------------------------------------------------- normalize


def test_normalize_stretches_all_channels_with_one_range():
    image = Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize((16, 16)).point(lambda v: 40 + v // 2),  # 40..167
            Image.new("L", (16, 16), 100),
            Image.linear_gradient("L").resize((16, 16)).point(lambda v: 60 + v // 4),  # 60..123
        ],
    )
    low = min(band_low for band_low, _ in image.getextrema())  # over all channels at once
    high = max(band_high for _, band_high in image.getextrema())
    assert (low, high) != (0, 255)
    scale = 255 / (high - low)
    expected = image.point(lambda v: min(255, max(0, int(v * scale - low * scale))))
    assert ops.normalize(image).tobytes() == expected.tobytes()
    # autocontrast stretches each channel on its own: the flat green stays, blue goes 0..255
    assert ops.autocontrast(image).getchannel("B").getextrema()[1] >= 254
    assert ops.normalize(image).getchannel("B").getextrema()[1] < 200  # blue stays less


@pytest.mark.parametrize("mode", ["L", "LA", "I;16", "I", "F", "1"])
def test_normalize_is_autocontrast_on_grey_images(mode):
    image = make_image(mode)
    assert ops.normalize(image, 2).tobytes() == ops.autocontrast(image, 2).tobytes()


def test_normalize_links_the_inks_of_cmyk():
    image = make_image("CMYK")
    low = min(band_low for band_low, _ in image.getextrema())
    high = max(band_high for _, band_high in image.getextrema())
    scale = 255 / (high - low)
    expected = image.point(lambda v: min(255, max(0, int(v * scale - low * scale))))
    assert ops.normalize(image).tobytes() == expected.tobytes()


# --------------------------------------------------------------------------- convert


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", list(ops.CONVERT_MODES))
def test_convert_gives_the_mode_asked_from_every_mode(mode, target):
    image = make_image(mode)
    before = snapshot(image)
    result = ops.convert(image, target)
    assert result.mode == ops.CONVERT_MODES[target] and result.size == image.size
    assert snapshot(image) == before


def test_convert_drops_alpha_over_the_background():
    image = Image.new("RGBA", (2, 1), (255, 0, 0, 0))
    image.putpixel((1, 0), (0, 0, 255, 255))
    assert pixels(ops.convert(image, "rgb")) == [(255, 255, 255), (0, 0, 255)]
    assert pixels(ops.convert(image, "rgb", background="black")) == [(0, 0, 0), (0, 0, 255)]
    half = Image.new("LA", (1, 1), (0, 128))
    assert pixels(ops.convert(half, "l")) == [127]  # black at half opacity over white
    assert pixels(ops.convert(half, "la")) == [(0, 128)]


def test_convert_grey_to_rgb_and_back():
    grey = make_image("L")
    rgb = ops.convert(grey, "rgb")
    assert pixels(rgb) == [(value, value, value) for value in pixels(grey)]
    assert ops.convert(rgb, "l").tobytes() == grey.tobytes()
    colour = make_image("RGB")
    assert ops.convert(colour, "l").tobytes() == ops.grayscale(colour).tobytes()
    assert ops.convert(colour, "rgba").getchannel("A").getextrema() == (255, 255)


def test_convert_scales_16_bit_grey_to_8_bit():
    image = deep("I;16", [0, 257 * 100, 65535])
    assert pixels(ops.convert(image, "l")) == [0, 100, 255]
    assert pixels(ops.convert(image, "rgb")) == [(0, 0, 0), (100, 100, 100), (255, 255, 255)]
    assert pixels(ops.convert(deep("F", [0.0, 100.0, 300.0]), "l")) == [0, 100, 255]


def test_convert_drops_a_profile_that_no_longer_describes_the_pixels():
    colour = make_image("RGB")
    colour.info["icc_profile"] = b"rgb profile"
    assert "icc_profile" not in ops.convert(colour, "l").info
    assert ops.convert(colour, "rgba").info["icc_profile"] == b"rgb profile"
    same = ops.convert(colour, "rgb")
    assert same is not colour and same.tobytes() == colour.tobytes()


def test_convert_of_a_transparent_palette_composites_it():
    image = make_image("P+t")
    result = ops.convert(image, "rgb")
    assert result.getpixel((0, 0)) == (255, 255, 255)  # the transparent index, over white
    assert "transparency" not in result.info


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ops.brightness(make_image("L"), -1), "factor must be a finite number >= 0"),
        (lambda: ops.contrast(make_image("L"), float("nan")), "factor must be a finite number"),
        (lambda: ops.gamma(make_image("L"), 0), "gamma must be a finite number > 0, not 0"),
        (lambda: ops.posterize(make_image("L"), 9), "bits must be a whole number in 1..8"),
        (lambda: ops.sharpen(make_image("L"), percent=-5), "percent must be a whole number"),
        (lambda: ops.convert(make_image("L"), "cmyk"), "mode must be one of rgb, l, la, rgba"),
    ],
)
def test_bad_arguments_raise_usage_errors(call, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        call()
