"""The pipeline as a library: the shrink-on-load planner, shared decodes, reports, re-runs."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path, PurePath, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat

from conftest import SAMPLE_NAMES, SAMPLES, SEED_STEPS
from imgprep import _fs, files, ops
from imgprep.errors import OutputCollisionError, OutputError, UsageError
from imgprep.files import DecodeHint, InputFile
from imgprep.pipeline import OutputRecord, Plan, RunOptions, Status, decode_hint, run
from imgprep.steps import parse_steps


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size and a.mode == b.mode
    return float(sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands()))


@pytest.fixture
def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path files.load_image is called with, from any thread."""
    calls: list[Path] = []
    lock = threading.Lock()
    real = files.load_image

    def counting(path: _fs.StrPath, **kwargs: object) -> files.LoadedImage:
        with lock:
            calls.append(Path(path))
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files, "load_image", counting)
    return calls


# --- the planner --------------------------------------------------------------------------------


def test_planner_asks_for_half_scale_and_gray_on_the_seed_chain():
    hint = decode_hint(parse_steps("resize 200x200 --mode cover grayscale"))
    assert hint((640, 427)) == DecodeHint(mode="L", size=(320, 213))  # selects scale 1/2
    loaded = files.load_image(SAMPLES / "rocket.jpg", hint=hint)
    assert loaded.source_size == (640, 427)
    assert loaded.decoded_size == (320, 214)  # DCT scale 1/2
    assert loaded.image.mode == "L"  # an RGB JPEG, decoded straight to grey


@pytest.mark.parametrize(
    ("chain", "size", "expected"),
    [
        ("grayscale", (640, 427), DecodeHint(mode="L")),
        ("autocontrast grayscale", (640, 427), None),  # colour seen first: full colour decode
        ("resize 100", (640, 427), DecodeHint(size=(160, 106))),  # 1/4: 1/8 would alias
        ("resize 40", (640, 427), DecodeHint(size=(80, 53))),  # 1/8 with a 2x gap
        ("resize 2000", (640, 427), None),  # enlarging: nothing to save
        # a quarter turn before the resize swaps which source side the box constrains
        ("resize 10x100 --mode stretch", (640, 427), DecodeHint(size=(320, 213))),
        ("mirror rotate 90 resize 10x100 --mode stretch", (640, 427), DecodeHint(size=(160, 106))),
        # with augment, every variant must get enough pixels: the larger need wins
        (
            "augment --rotate 90 resize 10x100 --mode stretch",
            (640, 427),
            DecodeHint(size=(320, 213)),
        ),
        ("rotate 45 resize 100", (640, 427), None),  # the resize no longer sees the source
        ("equalize resize 100", (640, 427), None),
        ("resize 100 grayscale", (640, 427), DecodeHint(mode="L", size=(160, 106))),
        # a crop in percentages or to a ratio passes: the resize sees the box, 2000x1500
        ("crop 50%x50% resize 100", (4000, 3000), DecodeHint(size=(500, 375))),
        ("crop --ratio 1:1 resize 100", (4000, 3000), DecodeHint(size=(500, 375))),
        ("crop 50% crop 50% resize 20", (640, 427), DecodeHint(size=(160, 106))),
        ("crop 50% grayscale resize 40", (640, 427), DecodeHint(mode="L", size=(160, 106))),
        ("pad --ratio 1:1 resize 100", (640, 427), DecodeHint(size=(160, 106))),  # of 640x640
        # a quarter turn before the crop: the box is taken of the turned size
        ("rotate 90 crop 50%x100% resize 50", (640, 427), DecodeHint(size=(160, 106))),
        ("augment --rotate 90 crop 50%x100% resize 50", (640, 427), DecodeHint(size=(160, 106))),
        ("mirror crop 25% resize 20", (640, 427), DecodeHint(size=(160, 106))),
        # pixel boxes, content boxes, and moves or fan-outs after a box stop the planner
        ("crop 200x100 resize 50", (640, 427), None),
        ("crop 50%x50%+10+10 resize 50", (640, 427), None),
        ("pad 700x700 resize 50", (640, 427), None),
        ("trim resize 100", (640, 427), None),
        ("crop 50% mirror resize 40", (640, 427), None),
        ("crop 50% augment --mirror resize 40", (640, 427), None),
        # tone maps: only the linear ones that never amplify the decode's difference pass
        ("brightness 0.8 invert resize 100", (640, 427), DecodeHint(size=(160, 106))),
        ("brightness 2 resize 100", (640, 427), None),
        ("gamma 2.2 resize 100", (640, 427), None),
        ("posterize 3 resize 100", (640, 427), None),
        ("convert l resize 100", (640, 427), DecodeHint(mode="L", size=(160, 106))),
        ("blur 1 resize 100", (640, 427), None),
    ],
)
def test_planner_cases(chain, size, expected):
    assert decode_hint(parse_steps(chain))(size) == expected


@pytest.fixture(scope="module")
def photo_jpegs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Photo-sized JPEGs: rocket.jpg as it is, and the PNG photos saved as JPEG (quality 90)."""
    folder = tmp_path_factory.mktemp("jpegs")
    paths = [SAMPLES / "rocket.jpg"]
    for name in ("astronaut.png", "coffee.png", "chelsea.png", "camera.png"):
        with Image.open(SAMPLES / name) as image:
            path = folder / f"{Path(name).stem}.jpg"
            image.save(path, quality=90)
            paths.append(path)
    return paths


def full_decode_result(path: Path, chain: str) -> Image.Image:
    with Image.open(path) as source:
        image = source.convert("RGB") if source.mode != "L" else source.copy()
    for step in parse_steps(chain):
        image = step(image)
    return image


@pytest.mark.parametrize(
    "chain",
    [
        "resize 200x200 --mode cover grayscale autocontrast --cutoff 3",
        "resize 64 --mode fit",
        "resize 50x50 --mode pad",
        "resize 33x71 --mode stretch",
        "resize x50",
        "resize 150x150 --mode cover --filter bicubic",
        "resize 90x90 --mode stretch",  # 512 px photos decode at 1/4, 1.42x the target
        # crops and pads whose box scales with the image: the reduced decode keeps the
        # matching whole pixels and the resize resamples the exact fractional box of them
        "crop 50%x50% resize 100",
        "crop 33.3%x71% --gravity southeast resize 50",
        "crop --ratio 1:1 --gravity north resize 64x64 --mode cover grayscale",
        "crop 80% --ratio 3:4 resize 40x60 --mode cover",
        "pad --ratio 16:9 --color white resize 120",
        "pad --ratio 1:2 --gravity southwest resize 50",
        "invert brightness 0.8 crop 70%x60% pad --ratio 4:3 resize 90",
    ],
)
def test_shrink_on_load_keeps_geometry_and_stays_within_two_levels(tmp_path, photo_jpegs, chain):
    """The planner's reduced decode against the full decode through the same ops."""
    out = tmp_path / "out"
    inputs = [str(p) for p in photo_jpegs]
    report = run(RunOptions(output=out, steps=parse_steps(chain), inputs=inputs, format="png"))
    assert report.ok, report.failures
    reduced = 0
    for path in photo_jpegs:
        expected = full_decode_result(path, chain)
        with Image.open(out / f"{path.stem}.png") as produced:
            produced.load()
            assert produced.size == expected.size, path.name
            assert mean_abs_diff(produced.convert(expected.mode), expected) <= 2.0, path.name
        hint = decode_hint(parse_steps(chain))
        loaded = files.load_image(path, hint=hint)
        asked = hint(loaded.source_size)
        assert (loaded.decoded_size != loaded.source_size) == bool(asked and asked.size)
        reduced += loaded.decoded_size != loaded.source_size
    assert reduced >= 3  # the shortcut was really taken on most photos


def test_a_percentage_crop_of_a_large_jpeg_decodes_reduced_and_matches_the_full_decode(tmp_path):
    """Issue 15: `crop 50%x50% resize 100` on a 4000x3000 JPEG decodes at 1/8 (the crop keeps
    2000x1500, 250x188 of the reduced decode, still 2x the 100x75 target)."""
    with Image.open(SAMPLES / "rocket.jpg") as photo:
        photo.resize((4000, 3000), Image.Resampling.BICUBIC).save(tmp_path / "big.jpg", quality=90)
    chain = "crop 50%x50% resize 100"
    hint = decode_hint(parse_steps(chain))
    assert hint((4000, 3000)) == DecodeHint(size=(500, 375))
    loaded = files.load_image(tmp_path / "big.jpg", hint=hint)
    assert (loaded.source_size, loaded.decoded_size) == ((4000, 3000), (500, 375))
    out = tmp_path / "out"
    inputs = [str(tmp_path / "big.jpg")]
    report = run(RunOptions(output=out, steps=parse_steps(chain), inputs=inputs, format="png"))
    assert report.ok, report.failures
    expected = full_decode_result(tmp_path / "big.jpg", chain)
    with Image.open(out / "big.png") as produced:
        produced.load()
        assert produced.size == expected.size == (100, 75)
        assert mean_abs_diff(produced.convert("RGB"), expected) <= 2.0


def test_a_box_after_a_reduced_decode_is_resampled_exactly_where_it_lies():
    """The box of a reduced decode starts between pixels: apply_steps keeps the whole pixels
    around it and the resize samples the fractional box, never a shifted one."""
    from imgprep._shrink import apply_steps

    full = Image.new("L", (130, 96))
    full.putdata([(x * 7) % 256 for y in range(96) for x in range(130)])  # sawtooth ramps
    reduced = full.resize((65, 48), Image.Resampling.BOX)  # what a 1/2 decode gives
    steps = parse_steps("crop 50%x100% --gravity east resize 32x24 --mode stretch")
    # the crop keeps x 65..130 of the full image: 32.5..65 of the reduced one
    image, pending = apply_steps(steps, reduced, (130, 96))
    assert pending is None and image.size == (32, 24)
    expected = full
    for step in steps:
        expected = step(expected)
    exact = mean_abs_diff(image, expected)
    assert exact <= 2.0
    for whole_pixels in ((32, 0, 65, 48), (33, 0, 65, 48)):  # what rounding the box would do
        shifted = ops.resize(reduced.crop(whole_pixels), (32, 24), "stretch")
        assert mean_abs_diff(shifted, expected) > 3 * exact
    with pytest.raises(ValueError, match="must be followed by a resize"):
        apply_steps(parse_steps("crop 50%"), reduced, (130, 96))


def test_shrink_on_load_on_a_tiny_thumbnail_is_the_known_worst_case(tmp_path):
    """hopper.jpg is a 128 px, heavily compressed thumbnail: decoding it at 1/2 scale instead
    of Lanczos-resizing the full decode differs by 3-4 levels (documented in docs/cli.md)."""
    out = tmp_path / "out"
    chain = "resize 64"
    report = run(
        RunOptions(
            output=out, steps=parse_steps(chain), inputs=[str(SAMPLES / "hopper.jpg")], format="png"
        )
    )
    assert report.ok
    with Image.open(out / "hopper.png") as produced:
        difference = mean_abs_diff(
            produced.convert("RGB"), full_decode_result(SAMPLES / "hopper.jpg", chain)
        )
    assert 2.0 < difference <= 4.0


def test_exif_rotated_jpeg_gets_upright_geometry_with_shrink_on_load(tmp_path):
    with Image.open(SAMPLES / "rocket.jpg") as source:
        stored = source.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways stores
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view": undoes the turn above
    stored.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    out = tmp_path / "out"
    report = run(
        RunOptions(
            output=out,
            steps=parse_steps("resize 120x50 --mode cover"),
            inputs=[str(tmp_path / "turned.jpg")],
        )
    )
    assert report.ok
    with Image.open(out / "turned.jpg") as produced, Image.open(SAMPLES / "rocket.jpg") as source:
        expected = ops.resize(source.convert("RGB"), (120, 50), "cover")
        assert produced.size == (120, 50)
        assert mean_abs_diff(produced.convert("RGB"), expected) <= 4.0  # two JPEG encodes


# --- shared decode -------------------------------------------------------------------------------


def test_variants_share_one_decode_per_input(tmp_path, samples, count_loads):
    steps = parse_steps("resize 64 --mode cover grayscale augment --mirror --flip --rotate 90")
    report = run(RunOptions(output=tmp_path / "out", steps=steps, inputs=[str(samples)], workers=2))
    assert report.written == 4 * len(SAMPLE_NAMES)
    assert sorted(p.name for p in count_loads) == SAMPLE_NAMES  # each input opened once


def test_up_to_date_outputs_are_not_decoded(tmp_path, samples, count_loads):
    options = RunOptions(
        output=tmp_path / "out", steps=parse_steps(SEED_STEPS), inputs=[str(samples)]
    )
    assert run(options).written == 12
    count_loads.clear()
    again = run(options)
    assert (again.written, again.up_to_date, count_loads) == (0, 12, [])


def test_real_paths_shortcut_agrees_with_os_path_realpath(tmp_path, monkeypatch):
    from imgprep._plan import _RealPaths

    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "a.jpg").write_bytes(b"x")
    (tmp_path / "real" / "sub" / "b.jpg").write_bytes(b"x")
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "file-link.jpg").symlink_to(tmp_path / "real" / "sub" / "b.jpg")
    (tmp_path / "real" / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "real" / "relative-link.jpg").symlink_to("sub/b.jpg")
    monkeypatch.chdir(tmp_path / "real")
    names = [
        "a.jpg", "sub/b.jpg", "file-link.jpg", "dangling.jpg", "relative-link.jpg", "missing.jpg",
        ".", "..", "sub/..", "../linked/a.jpg", "../linked/sub/b.jpg", "../linked/file-link.jpg",
        str(tmp_path / "linked" / "relative-link.jpg"), str(tmp_path / "linked"),
    ]  # fmt: skip
    real_path = _RealPaths()
    for _ in range(2):  # the second time from the folder cache
        for name in names:
            assert real_path(name) == os.path.realpath(name), name
            assert real_path(Path(name)) == os.path.realpath(name), name


def test_a_run_leaves_no_file_open(tmp_path, samples):
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(2):  # a first run, then a re-run that finds everything up to date
        report = run(
            RunOptions(
                output=tmp_path / "out", steps=parse_steps(SEED_STEPS), inputs=[str(samples)]
            )
        )
        assert report.failures == []
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_records_come_in_input_then_variant_order(tmp_path, samples):
    steps = parse_steps("resize 32 augment --mirror")
    records = []
    report = run(
        RunOptions(output=tmp_path / "o", steps=steps, inputs=[str(samples)], workers=2, buffer=3),
        on_record=records.append,
    )
    assert report.written == report.done == len(records)
    names = [record.output.name for record in records if record.output]
    expected = [f"{Path(n).stem}{s}{Path(n).suffix}" for n in SAMPLE_NAMES for s in ("", "_mirror")]
    assert names == expected


# --- reports and failures ------------------------------------------------------------------------


def test_failures_are_data_in_the_report(tmp_path, samples):
    (samples / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    records = []
    report = run(
        RunOptions(
            output=tmp_path / "o",
            steps=parse_steps("grayscale augment --mirror"),
            inputs=[str(samples)],
        ),
        on_record=records.append,
    )
    assert not report.ok
    assert report.failed == 1  # one input, though two of its outputs failed
    [(path, reason)] = report.failures
    assert path.name == "bad.png" and reason
    assert [r.status for r in records].count(Status.FAILED) == 2
    assert report.counts[Status.FAILED] == 2
    assert report.written == 2 * len(SAMPLE_NAMES)
    assert "1 failed" in report.summary()


def test_collision_is_refused_before_writing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLES / "hopper.jpg", src / "a.jpg")
    shutil.copy(SAMPLES / "coffee.png", src / "a.png")
    out = tmp_path / "out"
    with pytest.raises(OutputCollisionError) as caught:
        run(RunOptions(output=out, steps=[], inputs=[str(src)], format="png"))
    assert "a.jpg" in str(caught.value) and "a.png" in str(caught.value)
    assert not out.exists()


def test_overwriting_an_input_needs_in_place(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLES / "coffee.png", src / "c.png")
    before = (src / "c.png").read_bytes()
    with pytest.raises(OutputError, match="--in-place"):
        run(RunOptions(output=src, steps=parse_steps("grayscale"), inputs=[str(src)]))
    assert (src / "c.png").read_bytes() == before
    report = run(
        RunOptions(output=src, steps=parse_steps("grayscale"), inputs=[str(src)], in_place=True)
    )
    assert report.written == 1
    with Image.open(src / "c.png") as replaced:
        assert replaced.mode == "L"
    # the replaced file is recorded as its own input: the next run has nothing to do
    again = run(
        RunOptions(output=src, steps=parse_steps("grayscale"), inputs=[str(src)], in_place=True)
    )
    assert (again.written, again.up_to_date) == (0, 1)


def test_outputs_are_not_read_back_as_inputs(tmp_path, samples):
    # -o inside -i, walked recursively: the second run must not process its own outputs
    steps = parse_steps("resize 32 augment --mirror")
    options = RunOptions(
        output=samples / "prepared", steps=steps, inputs=[str(samples)], recursive=True
    )
    assert run(options).written == 12
    again = run(options)
    assert (again.written, again.up_to_date, again.failed) == (0, 12, 0)
    # -o equal to -i (with --in-place allowed): last run's a_mirror.png is no input
    same = RunOptions(
        output=samples, steps=steps, inputs=[str(samples)], format="png", in_place=True
    )
    first = run(same)
    second = run(same)
    assert second.planned == first.planned and second.written == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quality": 0}, "quality must be in 1..100, not 0"),
        ({"format": "gif"}, "format must be one of"),
        ({"name": "{stem}"}, None),  # valid (no extension is the user's business)
        ({"name": "{stem"}, "--name is not a valid template"),
        ({"workers": 0}, "workers must be at least 1, not 0"),
    ],
)
def test_options_are_validated(tmp_path, changes, message):
    options = RunOptions(
        output=tmp_path / "o", steps=[], inputs=[str(SAMPLES / "hopper.jpg")], **changes
    )
    if message is None:
        options.validate()
    else:
        with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("(", r"\(")):
            options.validate()


def test_name_template_cannot_escape_the_output_folder(tmp_path):
    with pytest.raises(OutputError, match="would leave the output folder"):
        run(
            RunOptions(
                output=tmp_path / "o",
                steps=[],
                inputs=[str(SAMPLES / "hopper.jpg")],
                name="../{stem}.{ext}",
            )
        )
    assert not (tmp_path / "hopper.jpg").exists()


def test_interrupted_run_counts_every_output_on_disk(tmp_path, samples):
    """Ctrl-C while workers are ahead: what they finish is written, recorded and counted."""
    out = tmp_path / "out"

    def interrupt(record):
        raise KeyboardInterrupt

    for copy in range(4):  # 30 inputs; --buffer 2 bounds the work done ahead to 2 of them
        for name in SAMPLE_NAMES:
            shutil.copy(samples / name, samples / f"copy{copy}_{name}")
    steps = parse_steps("resize 64 augment --mirror --flip")
    options = RunOptions(output=out, steps=steps, inputs=[str(samples)], workers=2, buffer=2)
    report = run(options, on_record=interrupt)
    assert report.interrupted
    on_disk = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert 1 <= report.written == len(on_disk) <= 3 * 3 < report.planned
    assert "not done" in report.summary()
    again = run(RunOptions(output=out, steps=steps, inputs=[str(samples)]))
    assert (again.up_to_date, again.written) == (len(on_disk), report.planned - len(on_disk))


def test_name_template_with_a_folder_is_no_collision(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for stem in ("x", "y"):
        shutil.copy(SAMPLES / "hopper.jpg", src / f"{stem}.jpg")
    out = tmp_path / "out"
    steps = parse_steps("grayscale augment --mirror")
    report = run(
        RunOptions(output=out, steps=steps, inputs=[str(src)], name="{stem}/v{suffix}.{ext}")
    )
    assert report.written == 4
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert written == ["x/v.jpg", "x/v_mirror.jpg", "y/v.jpg", "y/v_mirror.jpg"]
    with pytest.raises(OutputCollisionError, match=r"x\.jpg and .*y\.jpg"):
        run(RunOptions(output=tmp_path / "o2", steps=[], inputs=[str(src)], name="same/v.{ext}"))


# --- output names and records, made from text ---------------------------------------------------

NAME_PARTS = ["a", "photos", "x y", "é", ".hidden", "a.", "a.tar.gz", "b.JPG", "c.png", "d.jpeg"]
TEMPLATES = [
    "{stem}{suffix}.{ext}",
    "{stem}/{suffix}.{ext}",
    "x/{stem}{suffix}.{ext}",
    "{stem}{suffix}",
    "{stem}//{suffix}.{ext}",
    "./{stem}{suffix}.{ext}",
    "{stem}{suffix}/",
    "../{stem}{suffix}.{ext}",
    "/abs/{stem}{suffix}.{ext}",
    "{stem}/../../{suffix}",
    ".{suffix}",
]


def pathlib_key(relative: PurePath, template: str, suffix: str, ext: str) -> str:
    """An output's manifest key, the obvious way: pathlib all along (what Plan.job must equal)."""
    name = template.format(stem=relative.stem, suffix=suffix, ext=ext)
    joined = relative.parent / name
    if joined.is_absolute() or ".." in joined.parts:
        raise OutputError("would leave the output folder")
    return PurePosixPath(*joined.parts).as_posix()


@settings(max_examples=200, deadline=None)
@given(
    relatives=st.lists(
        st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=3), min_size=1, max_size=4
    ),
    template=st.sampled_from(TEMPLATES),
    format_name=st.sampled_from(["same", "png"]),
)
def test_output_keys_match_pathlib(relatives: list[list[str]], template: str, format_name: str):
    found = [InputFile(Path("/in", *parts), PurePath(*parts)) for parts in relatives]
    steps = parse_steps("augment --mirror")
    options = RunOptions(output=Path("/out"), steps=steps, format=format_name, name=template)
    plan = Plan(options, found)
    for index, file in enumerate(found):
        input_suffix = file.path.suffix
        if format_name == "same":
            ext = files.output_format(files.format_of_suffix(input_suffix), input_suffix)[1]
        else:
            ext = files.OUTPUT_FORMATS[format_name][1]
        for variant_index, suffix in enumerate(("", "_mirror")):
            try:
                expected = pathlib_key(file.relative, template, suffix, ext)
            except OutputError:
                with pytest.raises(OutputError, match="would leave the output folder"):
                    plan.job(index, variant_index)
                continue
            job = plan.job(index, variant_index)
            assert job.key == expected
            assert Path(job.path(options.output)) == options.output / expected


def test_output_record_makes_paths_on_reading_and_behaves_like_a_value(tmp_path):
    import copy
    import pickle

    record = OutputRecord("in/a.jpg", "out/a.png", Status.WRITTEN, variant="_mirror")
    assert record.input == Path("in/a.jpg") and isinstance(record.input, Path)
    assert record.output == Path("out/a.png")
    same = OutputRecord(Path("in/a.jpg"), Path("out/a.png"), Status.WRITTEN, None, "_mirror")
    assert record == same and hash(record) == hash(same) and not record.failed
    assert record != OutputRecord("in/a.jpg", None, Status.FAILED, "broken", "_mirror")
    assert pickle.loads(pickle.dumps(record)) == record == copy.copy(record)
    assert repr(same) == (
        "OutputRecord(input=PosixPath('in/a.jpg'), output=PosixPath('out/a.png'), "
        "status=Status.WRITTEN, reason=None, variant='_mirror')"
    )
    with pytest.raises(AttributeError, match="immutable"):
        record.status = Status.FAILED  # type: ignore[misc]
    failed = OutputRecord("in/b.jpg", None, Status.FAILED, "truncated image data")
    assert failed.failed and failed.output is None and failed.reason == "truncated image data"


# --- re-runs: deciding what is up to date while planning ----------------------------------------


def seed_options(samples: Path, out: Path) -> RunOptions:
    return RunOptions(output=out, steps=parse_steps(SEED_STEPS), inputs=[str(samples)])


def test_a_no_op_rerun_stats_each_file_once_and_starts_no_thread(tmp_path, samples, monkeypatch):
    options = seed_options(samples, tmp_path / "out")
    assert run(options).written == 12
    stats: dict[str, int] = {}
    for name in ("stat", "lstat"):
        real = getattr(os, name)

        def counting(path, *args, real=real, **kwargs):
            if isinstance(path, str | os.PathLike):
                stats[os.fspath(path)] = stats.get(os.fspath(path), 0) + 1
            return real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, counting)
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(
        os, "scandir", lambda path=".": (listed.append(str(path)), real_scandir(path))[1]
    )
    started: list[threading.Thread] = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda t: (started.append(t), real_start(t)))
    report = run(options)
    assert (report.written, report.up_to_date) == (0, 12)
    outputs = [str(p) for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    inputs = [str(samples / name) for name in SAMPLE_NAMES]
    assert len(outputs) == 12
    assert {path: stats.get(path, 0) for path in inputs + outputs} == dict.fromkeys(
        inputs + outputs, 1
    )
    assert started == []  # no pool: nothing to decode
    assert listed == [str(samples)]  # the output folder is not walked: nothing is written


def test_up_to_date_answers_without_decoding(tmp_path, samples, count_loads):
    from imgprep._plan import gather_inputs
    from imgprep._uptodate import up_to_date
    from imgprep.manifest import CHECK, CURRENT, STALE, Manifest

    out = tmp_path / "out"
    options = seed_options(samples, out)
    run(options)
    count_loads.clear()
    later = os.stat(samples / "hopper.jpg").st_mtime_ns + 5_000_000_000
    os.utime(samples / "hopper.jpg", ns=(later, later))  # touched: same bytes
    with Image.open(samples / "coffee.png") as image:  # edited: new pixels
        image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(samples / "coffee.png")
    (out / "camera_mirror.png").unlink()
    manifest = Manifest.load(out)
    plan = Plan(options, gather_inputs(options, manifest))
    fresh = up_to_date(plan, manifest)
    manifest.close()
    verdicts = {
        (Path(plan.inputs.path_text(index)).name, variant): fresh.verdict(index, variant)
        for index in range(len(plan.inputs))
        for variant in range(2)
    }
    expected = dict.fromkeys(verdicts, CURRENT)
    expected |= {("hopper.jpg", 0): CHECK, ("hopper.jpg", 1): CHECK}
    expected |= {("coffee.png", 0): STALE, ("coffee.png", 1): STALE, ("camera.png", 1): STALE}
    assert verdicts == expected
    assert fresh.current == 7
    stale = sorted(Path(plan.inputs.path_text(index)).name for index in fresh.stale_inputs)
    assert stale == ["camera.png", "coffee.png", "hopper.jpg"]
    names = [Path(plan.inputs.path_text(index)).name for index in range(len(plan.inputs))]
    assert [name for index, name in enumerate(names) if fresh.is_current(index)] == sorted(
        {"astronaut.png", "chelsea.png", "rocket.jpg"}
    )
    assert count_loads == []  # nothing decoded
    assert up_to_date(plan, manifest, force=True).current == 0


def test_up_to_date_outputs_are_counted_not_recorded_without_on_record(
    tmp_path, samples, monkeypatch
):
    import imgprep._execute

    options = seed_options(samples, tmp_path / "out")
    run(options)
    made: list[object] = []
    real_record = imgprep._execute.OutputRecord

    def counting(*args, **kwargs):
        made.append(args)
        return real_record(*args, **kwargs)

    monkeypatch.setattr(imgprep._execute, "OutputRecord", counting)
    report = run(options)
    assert (report.up_to_date, report.done, made) == (12, 12, [])
    records: list[OutputRecord] = []
    report = run(options, on_record=records.append)  # asked for: one each, in plan order
    assert report.up_to_date == 12 and [r.status for r in records] == [Status.UP_TO_DATE] * 12
    expected = [f"{Path(n).stem}{s}{Path(n).suffix}" for n in SAMPLE_NAMES for s in ("", "_mirror")]
    assert [record.output.name for record in records if record.output] == expected


def test_planning_reports_its_progress(tmp_path, samples, monkeypatch):
    from imgprep import _plan

    monkeypatch.setattr(_plan, "PROGRESS_EVERY", 2)
    options = seed_options(samples, tmp_path / "out")
    calls: list[tuple[str, int]] = []
    run(options, on_planning=lambda stage, count: calls.append((stage, count)))
    assert calls == [("finding inputs", 2), ("finding inputs", 4), ("finding inputs", 6)]
    calls.clear()
    run(options, on_planning=lambda stage, count: calls.append((stage, count)))
    found = [("finding inputs", n) for n in (2, 4, 6)]
    assert calls == [*found, ("checking outputs", 2), ("checking outputs", 4)]
