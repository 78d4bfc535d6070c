"""The step table, the step model's effects, and the one parser of step words."""

from __future__ import annotations

import pytest
from PIL import Image

from imgprep import ops
from imgprep.errors import UsageError
from imgprep.steps import STEPS, Colour, Geometry, make_step, parse_steps


def test_every_step_has_help_and_an_example():
    for name, definition in STEPS.items():
        assert definition.name == name
        assert definition.summary and "\n" not in definition.summary, name
        assert definition.description, name
        assert definition.example.startswith("imgprep ") and f" {name}" in definition.example
        for param in definition.params:
            assert param.help, (name, param.name)


@pytest.mark.parametrize("name", list(STEPS))
def test_each_steps_example_parses(name):
    example = STEPS[name].example
    tokens = example.split()
    start = tokens.index(name)
    [step] = parse_steps(tokens[start:])
    assert step.name == name


def test_words_are_cut_at_step_names():
    steps = parse_steps(
        "resize 200x200 --mode cover grayscale autocontrast --cutoff 3 augment --mirror"
    )
    assert [s.describe() for s in steps] == [
        "resize 200x200 --mode cover",
        "grayscale",
        "autocontrast --cutoff 3",
        "augment --mirror",
    ]


def test_an_option_value_is_never_taken_for_a_step():
    # rotate's positional is a negative number; --fill takes the next word, whatever it is
    rotate, flip = parse_steps(["rotate", "-90", "--fill", "white", "flip"])
    assert rotate.option_dict == {"degrees": -90.0, "fill": "white"}
    assert flip.name == "flip"
    resize, mirror = parse_steps(["resize", "--mode=cover", "100", "mirror"])
    assert resize.option_dict["mode"] == "cover" and mirror.name == "mirror"


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("200x200", "unknown step '200x200'; steps are: resize, crop, pad, trim, mirror"),
        ("resise 20", "unknown step 'resise'; did you mean resize?"),
        ("grayscale 200", "unknown step '200' after 'grayscale'"),
        ("resize 10 20", "unknown step '20' after 'resize'"),
        ("resize 10 grayscal", "unknown step 'grayscal' after 'resize'; did you mean grayscale?"),
        ("resize 10 --moed cover", "resize: no option --moed; did you mean --mode?"),
        ("grayscale --mode cover", "grayscale: no option --mode; it takes no options"),
        ("resize 10 --mode", "resize --mode: needs a value, one of fit, cover, pad, stretch"),
        ("resize 10 --mode squash", "resize --mode: must be one of fit, cover, pad, stretch"),
        ("resize 10 --only-shrink=yes", "resize --only-shrink: is a flag and takes no value"),
        ("resize 0x5", "resize SIZE: size must be positive, not '0x5'"),
        ("resize", "resize: missing SIZE"),
        ("rotate 15 --fill blurple", "rotate --fill: colour must be a CSS name"),
        ("rotate 90 --fill blurple", "rotate --fill: colour must be a CSS name"),
        ("resize 9 --mode pad --pad-color nope", "resize --pad-color: colour must be"),
        ("resize 9 --pad-color red", "resize: --pad-color only applies with --mode pad"),
        ("resize 200x --mode cover", "resize: --mode cover needs both sides of the box"),
        ("autocontrast --cutoff 60", "autocontrast --cutoff: cutoff must be in [0, 50), not 60"),
        ("autocontrast --cutoff nan", "autocontrast --cutoff: cutoff must be in [0, 50)"),
        ("augment", "augment: augment needs at least one of --mirror, --flip, --rotate"),
        ("augment --rotate 45", "augment --rotate: rotations must be 90, 180 or 270, not 45"),
        ("crop", "crop: needs a GEOMETRY smaller than the image, --ratio W:H or both"),
        ("crop 150%", "crop GEOMETRY: crop percentages must be in (0, 100], not '150%'"),
        ("crop 200", "crop GEOMETRY: a crop in pixels needs both sides"),
        ("crop 9x9+1+1 --gravity north", "crop: --gravity places a box without offsets"),
        ("crop 9x9+1+1 --ratio 1:1", "crop: --ratio needs a GEOMETRY without offsets"),
        ("crop --ratio 16/9", "crop --ratio: ratio must be WIDTH:HEIGHT"),
        ("crop 50% --gravity middle", "crop --gravity: must be one of center, north, south"),
        ("pad", "pad: needs a SIZE larger than 1x1, --ratio W:H or both"),
        ("pad 100 --color nope", "pad --color: colour must be a CSS name"),
        ("trim --fuzz 100", "trim --fuzz: fuzz must be a percentage in [0, 100), not 100"),
        ("convert cmyk", "convert MODE: must be one of rgb, l, la, rgba, not 'cmyk'"),
        ("convert la --background red", "convert: --background only applies to rgb and l"),
        ("convert rgb --background nope", "convert --background: colour must be a CSS name"),
        ("brightness -1", "brightness FACTOR: factor must be a finite number >= 0, not -1"),
        ("contrast x", "contrast FACTOR: factor must be a number, not 'x'"),
        ("gamma 0", "gamma GAMMA: gamma must be a number > 0, not '0'"),
        ("posterize 9", "posterize BITS: bits must be in 1..8, not 9"),
        ("posterize 2.5", "posterize BITS: bits must be a whole number, not '2.5'"),
        ("blur -2", "blur RADIUS: radius must be a number >= 0, not '-2'"),
        ("blur", "blur: missing RADIUS"),
        ("sharpen --percent -3", "sharpen --percent: value must be a whole number >= 0"),
        ("normalize --cutoff 50", "normalize --cutoff: cutoff must be in [0, 50), not 50"),
    ],
)
def test_refusals_name_the_step_and_the_option(words, message):
    with pytest.raises(UsageError) as raised:
        parse_steps(words)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_global_option_after_a_step_says_where_it_goes():
    from imgprep._step_parse import parse_step_tokens

    with pytest.raises(UsageError, match="-o is a global option: global options go before"):
        parse_step_tokens(["resize", "64", "-o", "out"], global_options={"-o", "--output"})


def test_parse_steps_binds_values_and_describes_them_back():
    steps = parse_steps("resize 200x --mode fit --only-shrink autocontrast --cutoff 2.5 rotate -90")
    assert [s.name for s in steps] == ["resize", "autocontrast", "rotate"]
    assert steps[0].option_dict["size"] == ops.Size(200, None)
    assert steps[0].option_dict["only_shrink"] is True
    assert steps[1].option_dict["cutoff"] == 2.5
    assert [s.describe() for s in steps] == [
        "resize 200x --only-shrink",
        "autocontrast --cutoff 2.5",
        "rotate -90",
    ]


def test_steps_apply_their_op():
    image = Image.linear_gradient("L").resize((64, 32)).convert("RGB")
    [resize, gray, mirror] = parse_steps("resize 16x16 --mode stretch grayscale mirror")
    result = mirror(gray(resize(image)))
    expected = ops.mirror(ops.grayscale(ops.resize(image, (16, 16), "stretch")))
    assert result.tobytes() == expected.tobytes()


def test_augment_variants_suffixes_and_their_effects():
    [augment] = parse_steps("augment --rotate 270,90 --flip --mirror")
    assert [v.suffix for v in augment.variants] == ["", "_mirror", "_flip", "_rot90", "_rot270"]
    assert [v.effects.swaps_axes for v in augment.variants] == [False, False, False, True, True]
    with pytest.raises(TypeError, match="fans out"):
        augment(Image.new("L", (2, 2)))


def test_recipes_differ_when_options_differ():
    a, b, c = (parse_steps(f"autocontrast --cutoff {x}")[0] for x in ("3", "3.0", "2"))
    assert a.recipe() == b.recipe() != c.recipe()


@pytest.mark.parametrize(
    ("words", "geometry", "colour", "swaps", "scale_invariant"),
    [
        ("resize 10", Geometry.RESAMPLE, Colour.NEUTRAL, False, True),
        ("grayscale", Geometry.KEEP, Colour.TO_GREY, False, True),
        ("autocontrast", Geometry.KEEP, Colour.READS, False, False),
        ("equalize", Geometry.KEEP, Colour.READS, False, False),
        ("mirror", Geometry.MOVE, Colour.NEUTRAL, False, True),
        ("flip", Geometry.MOVE, Colour.NEUTRAL, False, True),
        ("rotate 90", Geometry.MOVE, Colour.NEUTRAL, True, True),
        ("rotate -90", Geometry.MOVE, Colour.NEUTRAL, True, True),
        ("rotate 180", Geometry.MOVE, Colour.NEUTRAL, False, True),
        ("rotate 15", Geometry.OTHER, Colour.READS, False, False),
        # a box in percentages or to a ratio is the same part of the image at any scale
        ("crop 50%", Geometry.BOX, Colour.NEUTRAL, False, True),
        ("crop --ratio 1:1 --gravity north", Geometry.BOX, Colour.NEUTRAL, False, True),
        ("crop 50% --ratio 4:3 --clamp", Geometry.BOX, Colour.NEUTRAL, False, True),
        ("crop 200x100", Geometry.BOX, Colour.NEUTRAL, False, False),
        ("crop 50%x50%+10+10", Geometry.BOX, Colour.NEUTRAL, False, False),
        ("crop 200x100+0+0", Geometry.BOX, Colour.NEUTRAL, False, False),
        ("pad --ratio 1:1", Geometry.BOX, Colour.NEUTRAL, False, True),
        ("pad --ratio 1:1 --color red", Geometry.BOX, Colour.READS, False, True),
        ("pad 300x300", Geometry.BOX, Colour.NEUTRAL, False, False),
        ("pad 300x300 --ratio 1:1", Geometry.BOX, Colour.NEUTRAL, False, False),
        ("trim", Geometry.BOX, Colour.READS, False, False),
        ("convert l", Geometry.KEEP, Colour.TO_GREY, False, True),
        ("convert la", Geometry.KEEP, Colour.TO_GREY, False, True),
        ("convert rgb", Geometry.KEEP, Colour.READS, False, True),
        ("invert", Geometry.KEEP, Colour.READS, False, True),
        ("brightness 0.8", Geometry.KEEP, Colour.READS, False, True),
        ("brightness 1.5", Geometry.KEEP, Colour.READS, False, False),  # amplifies
        ("saturation 0", Geometry.KEEP, Colour.READS, False, True),
        ("saturation 2", Geometry.KEEP, Colour.READS, False, False),
        ("contrast 0.5", Geometry.KEEP, Colour.READS, False, False),  # pivots on the mean
        ("gamma 2.2", Geometry.KEEP, Colour.READS, False, False),  # curved
        ("posterize 3", Geometry.KEEP, Colour.READS, False, False),
        ("normalize", Geometry.KEEP, Colour.READS, False, False),
        ("blur 2", Geometry.KEEP, Colour.NEUTRAL, False, False),
        ("sharpen", Geometry.KEEP, Colour.READS, False, False),
    ],
)
def test_each_step_says_what_it_does(words, geometry, colour, swaps, scale_invariant):
    [step] = parse_steps(words)
    assert step.effects.geometry is geometry
    assert step.effects.colour is colour
    assert step.effects.swaps_axes is swaps
    assert step.effects.scale_invariant is scale_invariant


@pytest.mark.parametrize("words", ["resize 300x200", "resize 300x200 --mode cover", "resize x50"])
def test_a_resample_step_maps_sizes_as_it_resizes(words):
    [step] = parse_steps(words)
    image = Image.new("RGB", (640, 427))
    assert step.effects.scaled_size is not None
    scaled = step.effects.scaled_size(image.size)
    assert scaled == ops.scaled_size(image.size, step.option_dict["size"], step.option_dict["mode"])
    # fit and one-sided boxes are the scaled size itself
    if step.option_dict["mode"] == "fit":
        assert step(image).size == scaled


def test_resample_from_gives_the_full_images_geometry_and_only_resample_steps_have_it():
    [resize, mirror] = parse_steps("resize 100x100 --mode cover mirror")
    reduced = Image.new("RGB", (320, 214))  # 1/2 of 640x427, rounded up
    assert resize.resample_from(reduced, (640, 427)).size == (100, 100)
    with pytest.raises(TypeError, match="does not resample"):
        mirror.resample_from(reduced, (640, 427))


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("nope", {}, "unknown step 'nope'"),
        ("resize", {}, "resize: missing SIZE"),
        ("resize", {"size": "10", "speed": 3}, "step 'resize' has no option 'speed'"),
        ("resize", {"size": "10", "mode": "zoom"}, "must be one of fit, cover, pad, stretch"),
        ("rotate", {"degrees": "nan"}, "degrees must be a finite number"),
        ("augment", {"rotate": "90,90"}, "rotation 90 is given twice"),
    ],
)
def test_make_step_errors(name, values, message):
    with pytest.raises(UsageError, match=message):
        make_step(name, **values)


def test_make_step_takes_parsed_values_too():
    step = make_step("resize", size=ops.Size(20, 10), mode="stretch")
    assert step(Image.new("L", (5, 5))).size == (20, 10)


@pytest.mark.parametrize(
    ("words", "described"),
    [
        ("crop --ratio 1:1", "crop --ratio 1:1"),  # the default GEOMETRY is not shown
        ("crop 100% --ratio 1:1", "crop --ratio 1:1"),
        ("crop 50x40% --gravity north --clamp", "crop 50%x40% --gravity north --clamp"),
        ("crop 200x100+0-5", "crop 200x100+0-5"),
        ("pad --ratio 16:9 --color white", "pad --ratio 16:9 --color white"),
        ("pad 300x --gravity south", "pad 300x --gravity south"),
        ("trim --fuzz 2.5", "trim --fuzz 2.5"),
        ("convert rgb --background black", "convert rgb --background black"),
        ("sharpen --radius 1", "sharpen --radius 1"),
        ("posterize 4", "posterize 4"),
    ],
)
def test_new_steps_describe_themselves_as_typed_and_parse_back(words, described):
    [step] = parse_steps(words)
    assert step.describe() == described
    [again] = parse_steps(described)
    assert again.recipe() == step.recipe()


def test_box_steps_keep_the_box_their_effects_compute():
    image = Image.linear_gradient("L").resize((64, 48))
    for words, op in [
        ("crop 50%x25% --gravity southeast", lambda i: ops.crop(i, "50%x25%", gravity="southeast")),
        ("crop --ratio 1:1", lambda i: ops.crop(i, ratio="1:1")),
        ("pad 80x80 --color white", lambda i: ops.pad(i, (80, 80), color="white")),
        ("pad --ratio 2:1 --gravity west", lambda i: ops.pad(i, ratio="2:1", gravity="west")),
    ]:
        [step] = parse_steps(words)
        assert step(image).tobytes() == op(image).tobytes(), words
        assert step.effects.box is not None
        left, top, right, bottom = step.effects.box(image.size)
        assert step.effects.maps_size(image.size) == (right - left, bottom - top)
        assert step(image).size == (right - left, bottom - top)
        # the box the pipeline hands it instead (a reduced decode's) is the one kept
        assert step.reframe(image, (0, 0, 10, 5)).size == (10, 5)


def test_a_step_without_a_size_box_cannot_be_reframed():
    [trim] = parse_steps("trim")
    assert trim.effects.box is None and trim.effects.maps_size((10, 10)) is None
    with pytest.raises(TypeError, match="computes no box"):
        trim.reframe(Image.new("L", (4, 4)), (0, 0, 2, 2))


def test_effects_refuse_inconsistent_facts():
    from imgprep.steps import Effects

    with pytest.raises(ValueError, match="only a BOX step has a box"):
        Effects(Geometry.KEEP, box=lambda size: (0, 0, *size))
    with pytest.raises(ValueError, match="a scale-invariant BOX step needs its box"):
        Effects(Geometry.BOX, scale_invariant=True)


def test_an_out_of_bounds_crop_fails_the_image_not_the_command():
    [crop] = parse_steps("crop 700x100+0+0")  # parses: whether it fits depends on each image
    with pytest.raises(ops.OpError, match="crop box 700x100\\+0\\+0 reaches outside the 640x427"):
        crop(Image.new("RGB", (640, 427)))
    [clamped] = parse_steps("crop 700x100+0+0 --clamp")
    assert clamped(Image.new("RGB", (640, 427))).size == (640, 100)
