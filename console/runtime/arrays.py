"""Models as files: named numpy arrays in a raw container that is never unpickled, plus the initial model.

Models never travel inside JSON or a text line: a job process writes a model file in its
workspace, the daemon streams that file's bytes in chunks (1 MiB frames) to the other side,
and the receiving job process reads it from its own workspace.

Model file layout (little-endian)::

    b"FCMODEL1" | u64 header_len | header JSON | zero padding to 64 | array bytes, each at a 64-aligned offset

The header is ``{"arrays": [{"name", "dtype", "shape", "offset", "nbytes"}, ...]}`` with
``offset`` counted from the first array byte. Only plain numeric dtypes (bool, int, uint,
float, complex) are accepted, so reading a file never runs code (unlike unpickling) and never
allocates more than the file holds. Writing and reading run at disk/page-cache speed: no
compression and no checksum (TLS guards the bytes in transit).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from console import safe_json

Model = dict[str, np.ndarray]

MAGIC = b"FCMODEL1"
_PREFIX = struct.Struct("<8sQ")
_ALIGN = 64
#: A model file's header (names, dtypes, shapes) may not exceed this; 16 MiB is ~100k arrays.
MAX_MODEL_HEADER_BYTES = 16 << 20
_NUMERIC_KINDS = "biufc"
_IO_BLOCK = 64 << 20


class ModelFormatError(ValueError):
    pass


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _numeric(array: Any, name: str) -> np.ndarray:
    array = np.asarray(array)
    if not array.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d array into 1-d)
        array = array.copy(order="C")
    if array.dtype.kind not in _NUMERIC_KINDS or array.dtype.fields is not None:
        raise ModelFormatError(f"array {name!r} has dtype {array.dtype}; a model holds numeric arrays only")
    return array


def model_nbytes(model: Model) -> int:
    """Bytes the arrays of ``model`` take (what its file holds, less a small header)."""
    return sum(int(np.asarray(a).nbytes) for a in model.values())


def write_model(model: Model, path: Path) -> int:
    """Write ``model`` to ``path`` (atomically: a temporary file renamed); returns the file size.

    Raises ModelFormatError for a non-string name or a non-numeric array."""
    arrays = []
    entries = []
    offset = 0
    for name, value in model.items():
        if not isinstance(name, str):
            raise ModelFormatError(f"array names must be strings, not {name!r}")
        array = _numeric(value, name)
        offset = _aligned(offset)
        entries.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "offset": offset,
                        "nbytes": int(array.nbytes)})
        arrays.append(array)
        offset += array.nbytes
    header = json.dumps({"arrays": entries}, separators=(",", ":")).encode()
    data_start = _aligned(_PREFIX.size + len(header))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "wb") as out:
        out.write(_PREFIX.pack(MAGIC, len(header)) + header)
        out.write(b"\0" * (data_start - _PREFIX.size - len(header)))
        position = 0
        for entry, array in zip(entries, arrays, strict=True):
            out.write(b"\0" * (entry["offset"] - position))
            flat = array.reshape(-1).view(np.uint8)
            for start in range(0, flat.size, _IO_BLOCK):
                out.write(flat[start:start + _IO_BLOCK].data)
            position = entry["offset"] + entry["nbytes"]
    os.replace(tmp, path)
    return data_start + position


def _entries(header: Any, data_size: int) -> list[tuple[str, np.dtype, tuple[int, ...], int, int]]:
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise ModelFormatError("model header must be an object with an 'arrays' list")
    checked = []
    for entry in header["arrays"]:
        try:
            name, dtype = entry["name"], np.dtype(entry["dtype"])
            shape = tuple(int(n) for n in entry["shape"])
            offset, nbytes = int(entry["offset"]), int(entry["nbytes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"bad array entry in the model header: {exc}") from None
        if not isinstance(name, str) or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
            raise ModelFormatError(f"array {name!r}: dtype {dtype} is not a plain numeric dtype")
        if any(n < 0 for n in shape) or nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ModelFormatError(f"array {name!r}: shape {shape} does not match its {nbytes} bytes")
        if offset < 0 or offset + nbytes > data_size:
            raise ModelFormatError(f"array {name!r} lies past the end of the file (truncated?)")
        checked.append((name, dtype, shape, offset, nbytes))
    return checked


def _read_exactly(src: Any, target: memoryview) -> None:
    filled = 0
    while filled < len(target):
        got = src.readinto(target[filled:filled + _IO_BLOCK])
        if not got:
            raise ModelFormatError("model file ends early (truncated)")
        filled += got


def read_model(path: Path) -> Model:
    """The named arrays in the model file at ``path``; ModelFormatError if it is not one."""
    try:
        with open(path, "rb", buffering=0) as src:
            size = os.fstat(src.fileno()).st_size
            magic, header_len = _PREFIX.unpack(src.read(_PREFIX.size).ljust(_PREFIX.size, b"\0"))
            if magic != MAGIC:
                raise ModelFormatError(f"{path.name} is not a model file (bad magic)")
            if header_len > MAX_MODEL_HEADER_BYTES:
                raise ModelFormatError(f"model header of {header_len} bytes exceeds {MAX_MODEL_HEADER_BYTES}")
            try:
                header = safe_json.loads(src.read(header_len))
            except ValueError as exc:
                raise ModelFormatError(f"model header is not JSON: {exc}") from None
            data_start = _aligned(_PREFIX.size + header_len)
            model: Model = {}
            for name, dtype, shape, offset, _nbytes in _entries(header, size - data_start):
                array = np.empty(shape, dtype=dtype)
                src.seek(data_start + offset)
                _read_exactly(src, memoryview(array.reshape(-1).view(np.uint8)))
                model[name] = array
            return model
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {path.name}: {exc}") from None


def model_from_config(value: Any, app_dir: Path) -> Model:
    """The initial model: inline ``{"name": nested lists}``, or an ``.npz``/``.npy`` (``allow_pickle=False``)
    or model file inside the app."""
    if isinstance(value, str):
        path = (app_dir / value).resolve()
        if not path.is_relative_to(app_dir.resolve()) or not path.is_file():
            raise ModelFormatError(f"initial model file {value!r} is not a file inside the app")
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        if path.suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        return read_model(path)
    if isinstance(value, dict) and value:
        try:
            return {str(name): np.asarray(array, dtype=np.float64) for name, array in value.items()}
        except (ValueError, TypeError) as exc:
            raise ModelFormatError(f"initial model: {exc}") from None
    raise ModelFormatError("initial_model must be an object of named arrays or the name of an .npz in the app")


def save_model(model: Model, path: Path) -> None:
    """Save as ``.npz`` (what users open with ``numpy.load``), uncompressed: weights barely shrink."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "wb") as out:
        np.savez(out, **model)
    os.replace(tmp, path)
