"""Random steps and augment --copies: pixels against Pillow by hand with the same draws,
torchvision's drawing rules, reproducibility whatever -j or the input order, the seed in the
recipe, and shrink-on-load under a random crop."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageEnhance, ImageStat

from conftest import SAMPLE_NAMES, SAMPLES
from imgprep import _draws, files
from imgprep._plan import Plan, _fingerprint
from imgprep._step_table._random import centre_box, draw_crop_box
from imgprep._version import __version__
from imgprep.errors import UsageError
from imgprep.files import DecodeHint
from imgprep.pipeline import OutputRecord, RunOptions, Status, decode_hint, run
from imgprep.steps import parse_steps

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]


def photo(mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> Image.Image:
    with Image.open(SAMPLES / "rocket.jpg") as source:
        image = source.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    if mode == "RGBA":
        rgba = image.convert("RGBA")
        rgba.putalpha(image.convert("L"))
        return rgba
    if mode == "LA":
        return image.convert("LA")
    if mode == "I;16":
        return image.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")
    return image.convert(mode)


def drawn_and_applied(chain: str, image: Image.Image, seed: int = 3) -> tuple[dict, Image.Image]:
    (step,) = parse_steps(chain)
    bound, drawn = step.bound(random.Random(seed), image.size)
    return drawn, bound(image)


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size and a.mode == b.mode
    return float(sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands()))


# --- each step: the drawn parameters, applied by hand with Pillow ------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_random_crop_is_the_drawn_box_resized(mode):
    image = photo(mode)
    drawn, result = drawn_and_applied("random-crop 40x30", image)
    left, top, right, bottom = drawn["box"]
    assert 0 <= left < right <= 96 and 0 <= top < bottom <= 64
    assert result.size == (40, 30)
    if mode in ("L", "RGB", "I;16"):  # resampled natively: exactly Pillow's crop + resize
        expected = image.crop(drawn["box"]).resize((40, 30), Image.Resampling.BILINEAR)
        assert result.tobytes() == expected.tobytes()
    assert result.mode == ("RGB" if mode == "P" else mode)


@pytest.mark.parametrize("seed", range(6))
def test_random_flip_mirrors_exactly_when_it_draws_so(seed):
    image = photo()
    drawn, result = drawn_and_applied("random-flip", image, seed)
    expected = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if drawn["flipped"] else image
    assert result.tobytes() == expected.tobytes()
    drawn, result = drawn_and_applied("random-flip --vertical --p 1", image, seed)
    assert drawn == {"flipped": True}
    assert result.tobytes() == image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).tobytes()
    assert drawn_and_applied("random-flip --p 0", image, seed)[0] == {"flipped": False}


def test_random_rotate_keeps_the_size_and_turns_by_the_drawn_angle():
    image = photo()
    drawn, result = drawn_and_applied("random-rotate 20 --fill white", image)
    assert -20 <= drawn["degrees"] <= 20 and drawn["degrees"] != 0
    expected = image.rotate(
        drawn["degrees"], Image.Resampling.BICUBIC, expand=False, fillcolor=(255, 255, 255)
    )
    assert result.size == image.size
    assert result.tobytes() == expected.tobytes()
    drawn, result = drawn_and_applied("random-rotate 5,10 --expand", image)
    assert 5 <= drawn["degrees"] <= 10
    assert (
        result.tobytes() == image.rotate(drawn["degrees"], Image.Resampling.BICUBIC, True).tobytes()
    )


def hue_by_hand(image: Image.Image, shift: float) -> Image.Image:
    """torchvision's adjust_hue for PIL images, one pixel at a time."""
    h, s, v = image.convert("HSV").split()
    turn = int(shift * 255)
    h = Image.frombytes("L", h.size, bytes((value + turn) % 256 for value in h.tobytes()))
    return Image.merge("HSV", (h, s, v)).convert("RGB")


BY_HAND = {
    "brightness": lambda image, f: ImageEnhance.Brightness(image).enhance(f),
    "contrast": lambda image, f: ImageEnhance.Contrast(image).enhance(f),
    "saturation": lambda image, f: ImageEnhance.Color(image).enhance(f),
    "hue": hue_by_hand,
}


@pytest.mark.parametrize("seed", range(4))
def test_jitter_applies_the_drawn_factors_in_the_drawn_order(seed):
    image = photo()
    chain = "jitter --brightness 0.4 --contrast 0.3 --saturation 0.5 --hue 0.2"
    drawn, result = drawn_and_applied(chain, image, seed)
    adjustments = drawn["adjustments"]
    assert sorted(name for name, _ in adjustments) == [
        "brightness",
        "contrast",
        "hue",
        "saturation",
    ]
    values = dict(adjustments)
    assert 0.6 <= values["brightness"] <= 1.4 and 0.7 <= values["contrast"] <= 1.3
    assert 0.5 <= values["saturation"] <= 1.5 and -0.2 <= values["hue"] <= 0.2
    expected = image
    for name, value in adjustments:
        expected = BY_HAND[name](expected, value)
    assert result.tobytes() == expected.tobytes()


def test_jitter_orders_vary_and_only_given_adjustments_are_drawn():
    image = photo()
    orders = {
        tuple(
            n
            for n, _ in drawn_and_applied("jitter --brightness 0.2 --hue 0.1", image, s)[0][
                "adjustments"
            ]
        )
        for s in range(20)
    }
    assert orders == {("brightness", "hue"), ("hue", "brightness")}


@pytest.mark.parametrize("mode", ["L", "LA", "I;16", "RGBA", "P"])
def test_jitter_on_every_mode_keeps_mode_size_and_alpha(mode):
    image = photo(mode)
    drawn, result = drawn_and_applied("jitter --brightness 0.5 --hue 0.3", image)
    assert result.size == image.size
    assert result.mode == ("RGB" if mode == "P" else mode)
    if "A" in mode:
        assert result.getchannel("A").tobytes() == image.getchannel("A").tobytes()
    if mode in ("L", "I;16"):  # no hue: only the brightness factor counts
        factor = dict(drawn["adjustments"])["brightness"]
        if mode == "L":
            assert result.tobytes() == ImageEnhance.Brightness(image).enhance(factor).tobytes()


# --- how the draws are made: torchvision's rules ------------------------------------------------


def test_random_crop_falls_back_to_the_centre_crop_when_no_try_fits():
    # an area of the whole image at ratio 2 can never fit a square: the centre 1:2... box
    assert draw_crop_box(random.Random(0), (100, 100), (1.0, 1.0), (2.0, 2.0)) == (0, 25, 100, 75)
    assert centre_box((300, 100), (0.75, 1.3333)) == (83, 0, 216, 100)  # too wide: cut to 4:3
    assert centre_box((100, 100), (0.75, 1.3333)) == (0, 0, 100, 100)  # within: the whole


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    low=st.floats(0.001, 1.0),
    spread=st.floats(0.0, 1.0),
    ratio_low=st.floats(0.05, 20.0),
    ratio_spread=st.floats(1.0, 10.0),
    seed=st.integers(0, 2**32),
)
def test_random_crop_box_stays_inside_the_image(
    width, height, low, spread, ratio_low, ratio_spread, seed
):
    scale = (low, min(1.0, low + spread))
    ratio = (ratio_low, ratio_low * ratio_spread)
    left, top, right, bottom = draw_crop_box(random.Random(seed), (width, height), scale, ratio)
    assert 0 <= left < right <= width and 0 <= top < bottom <= height


def test_draws_depend_on_seed_name_and_stage_only():
    def draws(*key: object) -> list[float]:
        rng = _draws.generator(*key)  # type: ignore[arg-type]
        return [rng.random() for _ in range(3)]

    assert draws(0, "a/b.jpg", "input") == draws(0, "a/b.jpg", "input")
    others = [(1, "a/b.jpg", "input"), (0, "a/c.jpg", "input"), (0, "a/b.jpg", "variant_r0")]
    assert all(draws(*key) != draws(0, "a/b.jpg", "input") for key in others)
    assert sorted(_draws.permutation(random.Random(5), 6)) == list(range(6))


# --- runs: reproducible, recorded, in the recipe -----------------------------------------------

CHAIN = "augment --copies 4 random-crop 128 jitter --brightness 0.3"


def run_chain(
    inputs: list[str], out: Path, chain: str = CHAIN, **options: object
) -> list[OutputRecord]:
    records: list[OutputRecord] = []
    given = {"format": "png", **options}
    report = run(
        RunOptions(output=out, steps=parse_steps(chain), inputs=inputs, **given),  # type: ignore[arg-type]
        on_record=records.append,
    )
    assert report.ok, report.failures
    return records


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_the_same_command_gives_the_same_bytes_whatever_workers_and_input_order(samples, tmp_path):
    inputs = [str(samples / name) for name in SAMPLE_NAMES]
    run_chain(inputs, tmp_path / "one", workers=1)
    run_chain(inputs, tmp_path / "two", workers=2, buffer=1)
    run_chain(inputs[::-1], tmp_path / "reversed", workers=2)
    run_chain(inputs[:2][::-1], tmp_path / "fewer", workers=2)  # other files absent
    one = outputs(tmp_path / "one")
    assert len(one) == 5 * len(SAMPLE_NAMES)
    assert {name for name in one if "rocket" in name} == {
        "rocket.png",
        *(f"rocket_r{n}.png" for n in range(4)),
    }
    assert outputs(tmp_path / "two") == one
    assert outputs(tmp_path / "reversed") == one
    fewer = outputs(tmp_path / "fewer")
    assert fewer == {name: one[name] for name in fewer}
    # the copies really differ from each other
    assert len({one[f"rocket_r{n}.png"] for n in range(4)}) == 4


def test_other_seeds_draw_other_pixels(samples, tmp_path):
    inputs = [str(samples / "rocket.jpg")]
    run_chain(inputs, tmp_path / "s1", seed=1)
    run_chain(inputs, tmp_path / "s2", seed=2)
    first, second = outputs(tmp_path / "s1"), outputs(tmp_path / "s2")
    assert first.keys() == second.keys()
    assert all(first[name] != second[name] for name in first)


def test_records_carry_the_draws_and_the_draws_redo_the_pixels(samples, tmp_path):
    records = run_chain(
        [str(samples / "coffee.png")],
        tmp_path / "out",
        chain="random-crop 64 --scale 0.3,0.6 augment --copies 2 random-flip",
    )
    written = [r for r in records if r.status is Status.WRITTEN]
    assert [r.variant for r in written] == ["", "_r0", "_r1"]
    boxes = {r.drawn["random-crop"]["box"] for r in written}  # type: ignore[index]
    assert len(boxes) == 1  # before augment: drawn once, shared by the variants
    with Image.open(samples / "coffee.png") as source:
        cropped = (
            source.convert("RGB").crop(boxes.pop()).resize((64, 64), Image.Resampling.BILINEAR)
        )
    for record in written:
        flipped = record.drawn["random-flip"]["flipped"]  # type: ignore[index]
        expected = cropped.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flipped else cropped
        with Image.open(record.output) as produced:  # type: ignore[arg-type]
            assert produced.convert("RGB").tobytes() == expected.tobytes()
    again = run_chain([str(samples / "coffee.png")], tmp_path / "out", chain="random-crop 64")
    assert all(r.drawn is None or r.status is Status.WRITTEN for r in again)


def test_a_new_seed_rebuilds_random_chains_and_only_them(samples, tmp_path, cli):
    base = ["-i", samples / "rocket.jpg", "-i", samples / "coffee.png", "-o"]
    assert cli(*base, tmp_path / "r", *CHAIN.split()).exit_code == 0
    again = cli(*base, tmp_path / "r", *CHAIN.split())
    assert again.stderr.startswith("imgprep: 0 written, 10 up to date")
    other = cli(*base, tmp_path / "r", "--seed", "5", *CHAIN.split())
    assert other.stderr.startswith("imgprep: 10 written, 0 up to date")
    assert cli(*base, tmp_path / "d", "resize", "50").exit_code == 0
    steady = cli(*base, tmp_path / "d", "--seed", "5", "resize", "50")
    assert steady.stderr.startswith("imgprep: 0 written, 2 up to date")


def test_a_deterministic_chains_recipe_is_what_it_was(samples, tmp_path):
    """Existing manifests stay current: no seed, no draws in a recipe without random steps."""
    options = RunOptions(
        output=tmp_path,
        steps=parse_steps("resize 100 augment --mirror"),
        inputs=[str(samples)],
        format="png",
        seed=9,
    )
    plan = Plan(options, files.find_inputs([str(samples)]))
    resize = parse_steps("resize 100")[0].recipe()
    expected = _fingerprint(
        [__version__, [resize], [], None, 7, False, True, False, "_mirror", "PNG", "png"]
    )
    assert plan.job(0, 1).recipe == expected


# --- shrink-on-load under a random crop --------------------------------------------------------


def test_random_crop_of_a_large_jpeg_decodes_reduced_and_matches_the_full_decode(tmp_path):
    """The box is drawn for the full size, and the planner bounds the decode by the smallest
    box --scale allows: at 4000x3000, `random-crop 128 --scale 0.25,1` decodes at 1/4."""
    with Image.open(SAMPLES / "rocket.jpg") as source:
        source.resize((4000, 3000), Image.Resampling.BICUBIC).save(tmp_path / "big.jpg", quality=90)
    chain = "random-crop 128 --scale 0.25,1"
    hint = decode_hint(parse_steps(chain))
    assert hint((4000, 3000)) == DecodeHint(size=(1000, 750))
    (record,) = run_chain([str(tmp_path / "big.jpg")], tmp_path / "out", chain=chain)
    with Image.open(tmp_path / "big.jpg") as source:
        full = source.convert("RGB")
    (step,) = parse_steps(chain)
    bound, drawn = step.bound(_draws.generator(0, "big.jpg", "input"), full.size)
    assert record.drawn == {"random-crop": drawn}
    with Image.open(record.output) as produced:  # type: ignore[arg-type]
        assert mean_abs_diff(produced.convert("RGB"), bound(full)) <= 2.0


def test_every_copys_box_under_a_reduced_decode_stays_within_two_levels(tmp_path):
    """Default --scale (boxes down to 8% of the area) after augment: each variant draws its own
    box for the full size, and a 1/4 decode still leaves the smallest one enough pixels."""
    with Image.open(SAMPLES / "chelsea.png") as source:
        source.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC).save(
            tmp_path / "big.jpg", quality=90
        )
    chain = "augment --copies 5 random-crop 128"
    assert decode_hint(parse_steps(chain))((4000, 3000)) == DecodeHint(size=(1000, 750))
    records = run_chain([str(tmp_path / "big.jpg")], tmp_path / "out", chain=chain)
    with Image.open(tmp_path / "big.jpg") as source:
        full = source.convert("RGB")
    step = parse_steps(chain)[1]
    for record in records:
        rng = _draws.generator(0, "big.jpg", _draws.variant_stage(record.variant))
        bound, drawn = step.bound(rng, full.size)
        assert record.drawn == {"random-crop": drawn}
        with Image.open(record.output) as produced:  # type: ignore[arg-type]
            assert mean_abs_diff(produced.convert("RGB"), bound(full)) <= 2.0, drawn


@pytest.mark.parametrize(
    ("chain", "size", "expected"),
    [
        ("random-crop 128", (4000, 3000), DecodeHint(size=(1000, 750))),  # smallest box ~1/3
        ("random-crop 128 --scale 0.01,1", (4000, 3000), DecodeHint(size=(2000, 1500))),
        ("random-crop 128 --scale 0.001,1", (4000, 3000), None),  # a box of 0.1%: full decode
        ("random-flip resize 100", (640, 427), DecodeHint(size=(160, 106))),  # an exact move
        ("random-rotate 10 resize 100", (640, 427), None),
        ("jitter --brightness 0.1 resize 100", (640, 427), None),
        ("crop 50% random-crop 64", (4000, 3000), DecodeHint(size=(1000, 750))),
    ],
)
def test_planner_reads_random_steps_effects(chain, size, expected):
    assert decode_hint(parse_steps(chain))(size) == expected


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("augment --copies 2 resize 50", "augment --copies 2 needs a random step after augment"),
        (
            "random-crop 128 augment --copies 2",
            "augment --copies 2 needs a random step after augment",
        ),
        ("augment --copies 0 jitter --hue 0.1", "copies must be a whole number >= 1, not 0"),
        ("random-crop 128x", "SIZE needs both sides"),
        ("random-crop 64 --scale 0,1", "scale must be MIN,MAX with 0 < MIN <= MAX <= 1, not '0,1'"),
        ("random-crop 64 --ratio 2,1", "ratio must be MIN,MAX with MIN <= MAX, not '2,1'"),
        ("jitter", "needs at least one of --brightness, --contrast, --saturation, --hue"),
        ("jitter --hue 0.6", "hue must be a number in [0, 0.5], not '0.6'"),
        ("random-flip --p 1.5", "probability must be a number in [0, 1], not '1.5'"),
        ("random-rotate 0", "degrees must be a number > 0 or MIN,MAX, not '0'"),
    ],
)
def test_usage_errors_name_the_rule(samples, tmp_path, cli, words, message):
    result = cli("-i", samples, "-o", tmp_path / "out", *words.split())
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_random_step_called_alone_draws_the_same_every_time():
    (step,) = parse_steps("random-crop 32")
    image = photo()
    assert step(image).tobytes() == step(image).tobytes()
    with pytest.raises(UsageError):
        parse_steps("random-crop 32 --scale 1,0.5")


def test_inspect_shows_what_a_run_draws(samples, tmp_path):
    from imgprep import _inspect

    chain = "random-flip augment --copies 2 random-crop 48 jitter --hue 0.3"
    run_chain([str(samples / "coffee.png")], tmp_path / "out", chain=chain)
    with Image.open(samples / "coffee.png") as source:
        rows = _inspect.stage_rows(source.convert("RGB"), parse_steps(chain), str(source.filename))
    for panel, suffix in zip(rows[1], ["", "_r0", "_r1"], strict=True):
        with Image.open(tmp_path / "out" / f"coffee{suffix}.png") as written:
            assert written.convert("RGB").tobytes() == panel.image.tobytes(), suffix
    assert rows[0][-1].image.tobytes() == rows[1][0].image.tobytes()  # the original's stages


def test_centre_box_of_a_one_pixel_image_is_that_pixel():
    # torchvision's fallback rounds 1 * 0.5 down to an empty box; hypothesis found it here
    assert centre_box((1, 1), (0.5, 0.5)) == (0, 0, 1, 1)
    assert centre_box((1, 1), (2.0, 2.0)) == (0, 0, 1, 1)


@pytest.mark.parametrize("mode", MODES)
def test_random_flip_and_rotate_on_every_mode(mode):
    image = photo(mode)
    drawn, flipped = drawn_and_applied("random-flip --p 1", image)
    assert flipped.mode == mode
    assert flipped.tobytes() == image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
    drawn, rotated = drawn_and_applied("random-rotate 30", image)
    assert rotated.size == image.size
    expected_mode = {"P": "RGB"}.get(mode, mode)
    assert rotated.mode == expected_mode
    if mode in ("L", "RGB"):
        by_hand = image.rotate(drawn["degrees"], Image.Resampling.BICUBIC)
        assert rotated.tobytes() == by_hand.tobytes()


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_hue_turns_in_hsv_and_keeps_alpha(mode):
    from imgprep import ops

    image = photo(mode)
    turned = ops.hue(image, 0.25)
    colour = image.convert("RGB")
    assert turned.convert("RGB").tobytes() == hue_by_hand(colour, 0.25).tobytes()
    if mode == "RGBA":
        assert turned.getchannel("A").tobytes() == image.getchannel("A").tobytes()
    assert ops.hue(image, 0).convert("RGB").tobytes() == hue_by_hand(colour, 0).tobytes()
    with pytest.raises(UsageError):
        ops.hue(image, 0.7)


def test_a_step_that_draws_twice_gets_numbered_names_in_draw_order():
    stage = _draws.Draws(0, "a.jpg", _draws.INPUT_STAGE)
    stage.note("jitter", {"brightness": 1.1})
    stage.note("jitter", {"brightness": 0.9})
    assert list(stage.drawn) == ["jitter", "jitter#2"]
    variant = {"jitter": {"brightness": 1.2}, "jitter#2": {"brightness": 0.8}}
    drawn = _draws.merged(stage.drawn, variant, None)  # the same step after augment too
    assert drawn == {
        "jitter": {"brightness": 1.1},
        "jitter#2": {"brightness": 0.9},
        "jitter#3": {"brightness": 1.2},
        "jitter#4": {"brightness": 0.8},
    }
    assert _draws.merged(None, {}) is None
