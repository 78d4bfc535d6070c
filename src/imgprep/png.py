"""PNG writing: Pillow writes the file, zlib-ng deflates its pixels.

Pillow's PNG writer spends most of its time in zlib's ``deflate``: about 80% of the 2.8 ms
it takes for a 200x200 grey photo at its default level 6. zlib-ng writes the same deflate
format faster. Its levels are not zlib's, though: its level 6 is three times as fast as
zlib's 6 but its files are 3-4% larger; its level 7 gives photos the size zlib's 6 gives them
(0.2-1.4% smaller) 1.5 times as fast (1.9 ms for that photo, 15 ms instead of 25 ms at
512x512). So imgprep's default PNG level is zlib-ng's 7 (``config.PNG_COMPRESS_LEVEL``);
docs/cli.md, "Encoder trade-offs", has the table for every level.

``save_png`` has Pillow write the PNG with ``compress_level=0``. Every chunk (header,
palette, transparency, ICC profile, resolution, text) and the filter chosen for each row stay
exactly Pillow's, and the IDAT chunks hold the filtered rows in stored (uncompressed) deflate
blocks. ``_IdatRecompressor``, the stream Pillow writes into, passes every other chunk through
unchanged and replaces the IDAT chunks with those rows deflated by zlib-ng at the requested
level, with Pillow's settings (strategy ``Z_FILTERED``, 32 KiB window, ``memLevel`` 9).
Decoders see an ordinary PNG with the same pixels; only the deflate bytes differ.

Pillow's own encoder still writes level 0 (nothing to gain), ``optimize=True`` (Pillow then
also tries the "average" filter, which level 0 would not), a ``dictionary`` and animations.
Memory stays bounded by one IDAT chunk (64 KiB) plus zlib-ng's state: large images stream.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO, Any, cast

from PIL import Image

from imgprep.config import PNG_COMPRESS_LEVEL

__all__ = ["save_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK_HEAD = struct.Struct(">I4s")
_LENGTH = struct.Struct(">I")
# zlib-ng's output is gathered into IDAT chunks of at least this size (the last may be
# smaller): one chunk for a thumbnail, and bounded memory for a large image.
IDAT_CHUNK_BYTES = 1 << 16
_IDAT_CRC = zlib.crc32(b"IDAT")
# Pillow's zlib settings for PNG (ZipEncode.c): 15-bit window, memLevel 9, and Z_FILTERED
# unless the caller picks a strategy with ``compress_type``.
_WINDOW_BITS = 15
_MEM_LEVEL = 9
# Options whose output level 0 cannot reproduce: optimize adds a filter, a dictionary primes
# the compressor, save_all writes animation frames (fdAT) that would stay stored.
_PILLOW_ONLY = ("optimize", "dictionary", "save_all")


def save_png(
    image: Image.Image,
    stream: IO[bytes],
    *,
    compress_level: int = PNG_COMPRESS_LEVEL,
    **options: Any,
) -> None:
    """Write ``image`` to ``stream`` as PNG, as ``image.save(stream, "PNG", compress_level=...,
    **options)`` would, with the pixels deflated by zlib-ng instead of zlib.

    ``compress_level`` 1..9 goes through zlib-ng; 0 (stored), ``optimize=True``, a
    ``dictionary`` and ``save_all`` are left to Pillow's own encoder. Other options
    (``icc_profile``, ``dpi``, ``pnginfo``, ``transparency``, ...) reach Pillow unchanged.
    Pillow's errors pass through.
    """
    if not 1 <= compress_level <= 9 or any(options.get(name) for name in _PILLOW_ONLY):
        image.save(stream, format="PNG", compress_level=compress_level, **options)
        return
    strategy = options.pop("compress_type", -1)
    recompressor = _IdatRecompressor(
        stream, compress_level, zlib.Z_FILTERED if strategy == -1 else strategy
    )
    image.save(cast(IO[bytes], recompressor), format="PNG", compress_level=0, **options)
    recompressor.finish()


class _IdatRecompressor:
    """A write-only stream that takes a PNG and writes it to ``out`` with its IDAT re-deflated.

    Writes may split or join chunks anyhow; whole chunks are handled as they complete. It has
    no ``fileno``, so Pillow hands it encoded bytes instead of writing to a descriptor.
    """

    def __init__(self, out: IO[bytes], level: int, strategy: int) -> None:
        from zlib_ng import zlib_ng  # here: only runs that write PNG pay for its import

        self._out = out
        self._pending = bytearray()
        self._seen_signature = False
        self._inflater: Any = None  # zlib's: it reads Pillow's stored blocks
        self._deflater: Any = None  # zlib-ng's
        self._deflated = bytearray()  # zlib-ng's output not yet written as an IDAT chunk
        self._compressobj = zlib_ng.compressobj
        self._level = level
        self._strategy = strategy
        self._idat_done = False
        self._ended = False

    def write(self, data: bytes) -> int:
        self._pending += data
        self._take_whole_chunks()
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def finish(self) -> None:
        """Check that a whole PNG went through (Pillow raising midway never gets here)."""
        if not self._ended or self._pending:
            raise ValueError("the PNG writer stopped before the end of the image")

    def _take_whole_chunks(self) -> None:
        pending = self._pending
        start = 0
        if not self._seen_signature:
            if len(pending) < len(PNG_SIGNATURE):
                return
            if pending[: len(PNG_SIGNATURE)] != PNG_SIGNATURE:
                raise ValueError("the PNG writer did not start with the PNG signature")
            self._out.write(PNG_SIGNATURE)
            self._seen_signature = True
            start = len(PNG_SIGNATURE)
        # Every view is released on the spot: a profiler or debugger holding a frame (Dask's
        # workers sample theirs) would otherwise keep one alive, and `pending` could not shrink.
        with memoryview(pending) as view:
            while len(pending) - start >= _CHUNK_HEAD.size:
                length, kind = _CHUNK_HEAD.unpack_from(pending, start)
                end = start + _CHUNK_HEAD.size + length + 4  # + CRC
                if len(pending) < end:
                    break
                if kind == b"IDAT":
                    with view[start + _CHUNK_HEAD.size : end - 4] as stored:
                        self._recompress(stored)
                else:
                    if self._deflater is not None and not self._idat_done:
                        self._finish_idat()
                    with view[start:end] as chunk:
                        self._out.write(chunk)
                    self._ended = kind == b"IEND"
                start = end
        del pending[:start]

    def _recompress(self, stored: memoryview) -> None:
        if self._idat_done:
            raise ValueError("the PNG writer split its image data around another chunk")
        if self._deflater is None:
            self._inflater = zlib.decompressobj()
            self._deflater = self._compressobj(
                self._level, zlib.DEFLATED, _WINDOW_BITS, _MEM_LEVEL, self._strategy
            )
        self._deflated += self._deflater.compress(self._inflater.decompress(stored))
        if len(self._deflated) >= IDAT_CHUNK_BYTES:
            self._write_idat()

    def _finish_idat(self) -> None:
        rows = self._inflater.flush()
        if not self._inflater.eof:
            raise ValueError("the PNG writer's image data ended early")
        self._deflated += self._deflater.compress(rows)
        self._deflated += self._deflater.flush()
        self._write_idat()
        self._idat_done = True

    def _write_idat(self) -> None:
        data = self._deflated
        if data:
            self._out.write(_CHUNK_HEAD.pack(len(data), b"IDAT"))
            self._out.write(data)
            self._out.write(_LENGTH.pack(zlib.crc32(data, _IDAT_CRC)))
            self._deflated = bytearray()
