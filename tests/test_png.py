"""png.save_png: Pillow's PNG with its pixels deflated by zlib-ng."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps, PngImagePlugin

from corpus import sample
from imgprep import _encode, config, files, png
from imgprep.errors import OutputError

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]


def chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each chunk of a PNG, after checking its signature and CRC."""
    assert data[:8] == png.PNG_SIGNATURE
    position = 8
    while position < len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        payload = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack_from(">I", data, position + 8 + length)
        assert crc == zlib.crc32(payload, zlib.crc32(kind)), kind
        yield kind, payload
        position += 12 + length
    assert position == len(data)


def image_data(data: bytes) -> bytes:
    """The concatenated IDAT payloads: one zlib stream."""
    return b"".join(payload for kind, payload in chunks(data) if kind == b"IDAT")


def other_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(kind, payload) for kind, payload in chunks(data) if kind != b"IDAT"]


def ours(image: Image.Image, **options: object) -> bytes:
    stream = io.BytesIO()
    png.save_png(image, stream, **options)  # type: ignore[arg-type]
    return stream.getvalue()


def pillows(image: Image.Image, **options: object) -> bytes:
    stream = io.BytesIO()
    image.save(stream, format="PNG", **options)  # type: ignore[arg-type]
    return stream.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(sample("chelsea.png")) as opened:
        return opened.convert("RGB").resize((160, 107))


def in_mode(image: Image.Image, mode: str) -> Image.Image:
    if mode == "I;16":
        return image.convert("L").point(lambda v: v * 257, "I").convert("I;16")
    if mode in ("LA", "RGBA"):
        converted = image.convert(mode)
        converted.putalpha(image.convert("L"))  # a real, varying alpha channel
        return converted
    if mode == "P":
        return image.quantize(64)
    return image.convert(mode)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_every_pillow_png_mode_reads_back_pixel_for_pixel(photo: Image.Image, mode: str) -> None:
    image = in_mode(photo, mode)
    data = ours(image)
    with Image.open(io.BytesIO(data)) as back:
        back.load()
        assert back.mode == image.mode
        assert back.size == image.size
        assert back.tobytes() == image.tobytes()
        if mode == "P":
            assert back.getpalette() == image.getpalette()
    Image.open(io.BytesIO(data)).verify()  # Pillow's own CRC and structure check
    assert len(data) < len(pillows(image, compress_level=0))  # really deflated


@pytest.mark.parametrize("name", PHOTOS)
def test_rows_are_filtered_exactly_as_pillow_filters_them(name: str) -> None:
    with Image.open(sample(name)) as opened:
        image = opened.convert("L").resize((200, 200))
    ours_rows = zlib.decompress(image_data(ours(image)))
    pillows_rows = zlib.decompress(image_data(pillows(image)))
    assert ours_rows == pillows_rows  # same filter on every row; only the deflate differs


def test_every_other_chunk_is_pillows_byte_for_byte(photo: Image.Image) -> None:
    with Image.open(sample("rocket.jpg")) as rocket:
        profile = rocket.info["icc_profile"]
    text = PngImagePlugin.PngInfo()
    text.add_text("Source", "imgprep test")
    options = {"icc_profile": profile, "dpi": (300, 300), "pnginfo": text}
    palette = photo.quantize(16)
    for image, extra in [(photo, options), (palette, {"transparency": 3})]:
        mine, theirs = ours(image, **extra), pillows(image, **extra)
        assert other_chunks(mine) == other_chunks(theirs)
        kinds = [kind for kind, _ in chunks(mine)]
        assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    with Image.open(io.BytesIO(ours(photo, **options))) as back:
        assert back.info["icc_profile"] == profile
        assert back.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert back.info["Source"] == "imgprep test"


@pytest.mark.parametrize("level", range(1, 10))
def test_every_level_goes_through_zlib_ng_and_reads_back(photo: Image.Image, level: int) -> None:
    data = ours(photo, compress_level=level)
    stream = image_data(data)
    assert stream[0] & 0x0F == 8  # deflate, as the PNG standard requires
    with Image.open(io.BytesIO(data)) as back:
        assert back.tobytes() == photo.tobytes()


def test_higher_levels_make_smaller_files_of_a_photo(photo: Image.Image) -> None:
    sizes = [len(ours(photo, compress_level=level)) for level in (1, 6, 9)]
    assert sizes[0] > sizes[1] > sizes[2]


@pytest.mark.parametrize(
    "options",
    [{"compress_level": 0}, {"optimize": True}, {"compress_level": 6, "dictionary": b"abc"}],
    ids=["stored", "optimize", "dictionary"],
)
def test_what_zlib_ng_cannot_reproduce_is_left_to_pillow(
    photo: Image.Image, options: dict[str, object]
) -> None:
    assert ours(photo, **options) == pillows(photo, **options)


def test_default_level_writes_photos_no_larger_than_pillows_default() -> None:
    """The reason the default is 7: zlib-ng's 6 is 3-4% larger than zlib's 6 on photos."""
    ours_total = pillows_total = 0
    for name in PHOTOS:
        with Image.open(sample(name)) as opened:
            full = opened.convert("RGB")
        for image in (full, ImageOps.fit(full, (200, 200)).convert("L")):
            ours_total += len(ours(image, compress_level=config.PNG_COMPRESS_LEVEL))
            pillows_total += len(pillows(image))
    assert ours_total <= pillows_total * 1.005


def test_large_image_data_is_split_into_bounded_chunks() -> None:
    noise = Image.effect_noise((400, 400), 64).convert("L")  # barely compressible: > 64 KiB
    data = ours(noise)
    sizes = [len(payload) for kind, payload in chunks(data) if kind == b"IDAT"]
    assert len(sizes) > 1
    assert all(size >= png.IDAT_CHUNK_BYTES for size in sizes[:-1])
    assert max(sizes) < 2 * png.IDAT_CHUNK_BYTES + (1 << 16)  # no whole-image buffer
    with Image.open(io.BytesIO(data)) as back:
        assert back.tobytes() == noise.tobytes()


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_writes_may_split_the_png_anywhere(cuts: list[int]) -> None:
    """Pillow writes a chunk in three pieces; any other split must give the same file."""
    image = Image.linear_gradient("L").resize((40, 30))
    stored = pillows(image, compress_level=0)
    whole = io.BytesIO()
    recompressor = png._IdatRecompressor(whole, 7, zlib.Z_FILTERED)
    recompressor.write(stored)
    recompressor.finish()
    pieces = io.BytesIO()
    recompressor = png._IdatRecompressor(pieces, 7, zlib.Z_FILTERED)
    start = 0
    for cut in [*sorted({min(cut, len(stored)) for cut in cuts}), len(stored)]:
        recompressor.write(stored[start:cut])
        start = cut
    recompressor.finish()
    assert pieces.getvalue() == whole.getvalue()
    with Image.open(io.BytesIO(whole.getvalue())) as back:
        assert back.tobytes() == image.tobytes()


@pytest.mark.parametrize(
    "written, reason",
    [
        (b"GIF89a" + bytes(10), "did not start with the PNG signature"),
        (png.PNG_SIGNATURE + struct.pack(">I4s", 13, b"IHDR"), "stopped before the end"),
    ],
)
def test_an_incomplete_or_foreign_stream_is_refused(written: bytes, reason: str) -> None:
    recompressor = png._IdatRecompressor(io.BytesIO(), 6, zlib.Z_FILTERED)
    with pytest.raises(ValueError, match=reason):
        recompressor.write(written)
        recompressor.finish()


def test_pixel_data_cut_short_is_refused() -> None:
    stored = pillows(Image.linear_gradient("L"), compress_level=0)
    kinds = list(chunks(stored))
    head = png.PNG_SIGNATURE + b"".join(
        struct.pack(">I4s", len(p), k) + p + struct.pack(">I", zlib.crc32(p, zlib.crc32(k)))
        for k, p in kinds[:1]
    )
    idat = kinds[1][1][:100]  # the first 100 bytes of the stored stream only
    iend = struct.pack(">I4s", 0, b"IEND") + struct.pack(">I", zlib.crc32(b"IEND"))
    cut = head + struct.pack(">I4s", len(idat), b"IDAT") + idat + b"\0\0\0\0" + iend
    recompressor = png._IdatRecompressor(io.BytesIO(), 6, zlib.Z_FILTERED)
    with pytest.raises(ValueError, match="ended early"):
        recompressor.write(cut)


@pytest.mark.parametrize("streamed", [False, True], ids=["in memory", "streamed"])
def test_save_image_writes_zlib_ng_pngs_both_in_memory_and_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photo: Image.Image, streamed: bool
) -> None:
    if streamed:  # as an image over ENCODE_IN_MEMORY_MAX_BYTES is written
        monkeypatch.setattr(_encode, "ENCODE_IN_MEMORY_MAX_BYTES", 0)
    target = tmp_path / "out.png"
    files.save_image(photo, target, format="PNG")
    level = config.PNG_COMPRESS_LEVEL
    assert target.read_bytes() == ours(photo, compress_level=level, icc_profile=None)
    assert target.read_bytes() != pillows(photo, compress_level=level, icc_profile=None)


def test_a_failing_recompression_is_one_clear_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photo: Image.Image
) -> None:
    def broken(self: object, stored: memoryview) -> None:
        raise zlib.error("Error -3 while decompressing data")

    monkeypatch.setattr(png._IdatRecompressor, "_recompress", broken)
    target = tmp_path / "out.png"
    with pytest.raises(OutputError) as caught:
        files.save_image(photo, target, format="PNG")
    assert str(caught.value) == (
        f"{target}: cannot encode the image (Error -3 while decompressing data)"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_profiler_holding_every_frame_does_not_stop_the_writer(photo: Image.Image) -> None:
    # Dask's workers sample their frames; a frame kept alive keeps its locals alive, and a view
    # of the writer's buffer left among them would stop it from shrinking (BufferError)
    import sys

    held: list[object] = []
    plain = io.BytesIO()
    png.save_png(photo, plain)
    profiled = io.BytesIO()
    sys.setprofile(lambda frame, event, arg: held.append(frame) if event == "call" else None)
    try:
        png.save_png(photo, profiled)
    finally:
        sys.setprofile(None)
    assert held and profiled.getvalue() == plain.getvalue()
