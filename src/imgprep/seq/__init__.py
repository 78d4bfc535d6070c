"""Lazy indexable sequences (standard library only), with SeqTools-compatible names.

Build a pipeline by wrapping sequences; nothing is computed until an item is asked for::

    from imgprep.seq import add_cache, prefetch, smap

    images = add_cache(smap(load, paths), cache_size=8)
    with prefetch(smap(process, images), max_buffered=8, nworkers=4) as results:
        for result in results:
            ...

Every returned object supports ``len``, integer indexing (negative too), slicing (a lazy view)
and iteration; a failure computing an item is raised as ``imgprep.errors.EvaluationError``
naming the index, the operation and where the sequence was built. See ``docs/library.md``.
"""

from imgprep.seq._cache import add_cache
from imgprep.seq._prefetch import prefetch
from imgprep.seq._transforms import collate, concatenate, smap, unbatch

__all__ = ["add_cache", "collate", "concatenate", "prefetch", "smap", "unbatch"]
