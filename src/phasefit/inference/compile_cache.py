"""nutpie's compiled callbacks loaded from numba's on-disk cache instead of compiled in every process.

`nutpie.compile_pymc_model(..., backend="numba")` turns a PyMC model into two C callbacks
(`numba.cfunc`): the log density with its gradient, and the expansion of a draw to the stored
variables. PyTensor caches the numba code of the model's graph on disk, but nutpie's callbacks wrap
that code in closures whose pickles differ from process to process (numba's cache index hashes
them), so numba never finds them again: every process compiled them anew, about 10 s per hypothesis
on 2 cores, 25 s of a default analysis's 30 s of compiling.

`compile_pymc_model` here gives each callback a key that is the same in every process for the same
model: PyTensor's own cache key of the graph the callback calls (it covers the graph's operations
and constants, i.e. the model and its priors), the layout of the data the callback reads (the
number, order, dimensions and dtypes of the model's data arrays; not their names, which nutpie
draws at random, nor their values, which are passed at each call), the callback's bytecode and the
versions of nutpie, numba, llvmlite, PyTensor and NumPy. Numba stores and loads the compiled
callback under that key in PyTensor's compile directory (`pytensor.config.base_compiledir`, so
PyTensor's cache clearing clears it too). A graph that PyTensor does not cache (its key is None)
is compiled as before, uncached.

Numba offers no hook for a caller's cache key, so while nutpie compiles, `numba.cfunc` is replaced
by `_keyed_cfunc` (under a lock; nothing else in the process compiles callbacks meanwhile). With
numba's fastmath off, a callback loaded from the cache computes bit for bit what a freshly compiled
one does (tests/test_compile_cache.py checks the draws).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
import types
from importlib.metadata import version
from pathlib import Path
from weakref import WeakKeyDictionary

import numba
import numpy as np
from numba.core.caching import CacheImpl, FunctionCache, _CacheLocator
from numba.core.ccallback import CFunc

KEY_VERSION = 2  # bump when what the key covers changes (2: numpy-integer dimensions were left out)
_KEYS: WeakKeyDictionary = WeakKeyDictionary()  # callback's Python function -> its stable key
_LOCK = threading.Lock()
_UUID = re.compile(r"[0-9a-f]{32}")


def cache_dir() -> Path:
    """Where the callbacks are stored: beside PyTensor's own numba cache."""
    from pytensor.configdefaults import config

    return Path(config.base_compiledir) / "numba" / "phasefit-nutpie"


class _Locator(_CacheLocator):
    """Puts the callbacks keyed here in `cache_dir()`, one index file per key."""

    def __init__(self, py_func, py_file, key: str):
        self._key = key
        self._path = cache_dir()

    def get_cache_path(self):
        return str(self._path)

    def get_source_stamp(self):
        return KEY_VERSION

    def get_disambiguator(self):
        return self._key[:24]

    @classmethod
    def from_function(cls, py_func, py_file):
        key = _KEYS.get(py_func)
        return cls(py_func, py_file, key) if key is not None else None


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


if _Locator not in CacheImpl._locator_classes:
    CacheImpl._locator_classes.insert(0, _Locator)


class _KeyedCache(FunctionCache):
    """numba's function cache with the index key replaced by the stable key."""

    def __init__(self, py_func, key: str):
        _KEYS[py_func] = key
        self._stable_key = key
        super().__init__(py_func)

    def _index_key(self, sig, codegen):
        return (sig, codegen.magic_tuple(), self._stable_key)

    def load_overload(self, sig, target_context):
        """The stored callback, or None (compile it) when its files are unreadable: a damaged index
        is removed so that the freshly compiled callback replaces it."""
        try:
            return super().load_overload(sig, target_context)
        except Exception:  # noqa: BLE001 - a truncated or foreign cache file of any kind
            Path(self._cache_file._index_path).unlink(missing_ok=True)
            return None

    def save_overload(self, sig, data):
        """Store the compiled callback; a cache that cannot be written costs the next process a
        compile, not this one its result."""
        try:
            super().save_overload(sig, data)
        except Exception:  # noqa: BLE001
            pass


def _closure(func) -> dict:
    cells = func.__closure__ or ()
    return {name: cell.cell_contents for name, cell in zip(func.__code__.co_freevars, cells, strict=True)}


def _constants(closure: dict, known: set[str]) -> str | None:
    """The closure's plain values (dimensions, index tuples; numpy scalars as Python numbers), or
    None when it holds anything else than `known` names and such values: then it is not keyed."""
    out = {}
    for name, value in sorted(closure.items()):
        if name in known:
            continue
        if isinstance(value, bool | int | float | str | np.integer | np.floating):
            out[name] = value.item() if isinstance(value, np.generic) else value
        elif isinstance(value, tuple) and all(isinstance(v, int | np.integer) for v in value):
            out[name] = tuple(int(v) for v in value)
        elif isinstance(value, types.ModuleType):
            out[name] = value.__name__
        else:
            return None
    return repr(out)


def callback_key(pyfunc, sig, options: dict) -> str | None:
    """The stable key of one of nutpie's callbacks (None: not cacheable, compile it as usual).

    Everything the compiled code embeds must be in it: the callback's and its extractor's bytecode,
    every constant they close over (the model's dimensions above all: the callback checks them),
    the graph they call (PyTensor's key) and the layout of the data arrays. A closure value of a
    kind not listed here makes the callback uncacheable rather than risk a wrong hit."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    outer = _closure(pyfunc)
    extract = outer.get("extract")
    if extract is None or not hasattr(extract, "py_func"):
        return None
    inner_vars = _closure(extract.py_func)
    inner = inner_vars.get("inner")
    graph_key = CACHED_SRC_FUNCTIONS.get(getattr(inner, "py_func", None)) if inner is not None else None
    if graph_key is None:
        return None
    outer_constants = _constants(outer, {"extract"})
    inner_constants = _constants(
        inner_vars,
        {"inner", "record_dtype", "shared_tuple", "extract_array", "tuple_setitem_literal", "literal_unroll"},
    )
    if outer_constants is None or inner_constants is None:
        return None
    record = inner_vars.get("record_dtype")
    layout = [(np.asarray(a).ndim, np.asarray(a).dtype.str) for a in inner_vars.get("shared_tuple", ())]
    names: dict[str, str] = {}  # nutpie names the data arrays at random: numbered in order instead
    descr = repr(record.descr) if record is not None else ""  # None: a model without data arrays
    record_descr = _UUID.sub(lambda m: names.setdefault(m.group(0), f"v{len(names)}"), descr)
    parts = [
        f"phasefit-nutpie-callback-{KEY_VERSION}",
        pyfunc.__qualname__,
        hashlib.sha256(pyfunc.__code__.co_code).hexdigest(),
        hashlib.sha256(extract.py_func.__code__.co_code).hexdigest(),
        outer_constants,
        inner_constants,
        graph_key,
        repr(layout),
        record_descr,
        repr(sig),
        repr(sorted(options.items())),
        *(f"{pkg}={version(pkg)}" for pkg in ("nutpie", "numba", "llvmlite", "pytensor", "numpy")),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _keyed_cfunc(sig, locals=None, cache=False, pipeline_class=None, **options):
    """`numba.cfunc` with a stable on-disk cache key where one can be made."""
    from numba.core import sigutils

    if locals or pipeline_class is not None:  # not how nutpie calls it: leave it to numba
        return _NUMBA_CFUNC(sig, locals=locals or {}, cache=cache, pipeline_class=pipeline_class, **options)
    sig = sigutils.normalize_signature(sig)

    def wrapper(func):
        res = CFunc(func, sig, locals={}, options=options)
        key = callback_key(func, sig, options)
        if key is not None and _writable(cache_dir()):  # else compiled as nutpie does, uncached
            res._cache = _KeyedCache(func, key)
        elif cache:
            res.enable_caching()
        res.compile()
        return res

    return wrapper


_NUMBA_CFUNC = numba.cfunc


def compile_pymc_model(model, **kwargs):
    """`nutpie.compile_pymc_model(model, backend="numba", **kwargs)`, its callbacks cached on disk."""
    import nutpie

    with _LOCK:
        numba.cfunc = _keyed_cfunc
        try:
            return nutpie.compile_pymc_model(model, backend="numba", **kwargs)
        finally:
            numba.cfunc = _NUMBA_CFUNC
