"""Models on the wire: named numpy arrays as ``.npz`` bytes (``allow_pickle=False``), base64 in JSON."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

Model = dict[str, np.ndarray]


class ModelFormatError(ValueError):
    pass


def encode_model(model: Model) -> str:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in model.items()})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_model(text: str) -> Model:
    try:
        raw = base64.b64decode(text, validate=True)
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, TypeError) as exc:
        raise ModelFormatError(f"not a model (.npz of named arrays): {exc}") from None


def model_from_config(value: Any, app_dir: Path) -> Model:
    """The initial model: inline ``{"name": nested lists}`` or the name of an ``.npz`` in the app."""
    if isinstance(value, str):
        path = (app_dir / value).resolve()
        if not path.is_relative_to(app_dir.resolve()) or not path.is_file():
            raise ModelFormatError(f"initial model file {value!r} is not a file inside the app")
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    if isinstance(value, dict) and value:
        try:
            return {str(name): np.asarray(array, dtype=np.float64) for name, array in value.items()}
        except (ValueError, TypeError) as exc:
            raise ModelFormatError(f"initial model: {exc}") from None
    raise ModelFormatError("initial_model must be an object of named arrays or an .npz file name")


def save_model(model: Model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        np.savez(out, **model)
