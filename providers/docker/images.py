"""The image an endpoint's version containers run: the one it names, or one mlform
builds from the shipped ``Dockerfile`` (``FROM`` the provider's ``base_image``, the
model artifact copied in), tagged by the digest of its inputs so an unchanged
model and base image reuse the image already built."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable

from mlform.providers.docker.engine import StartError

MODEL_DIR = "/mlform/model"


def dockerfile() -> str:
    return files("mlform.providers.docker").joinpath("Dockerfile").read_text()


def ensure_named(client: Any, image: str, progress: Callable[[str], None]) -> str:
    """The id of ``image``, pulled when the engine lacks it; :class:`StartError` when it cannot be had."""
    import docker.errors

    try:
        return str(client.images.get(image).id)
    except docker.errors.ImageNotFound:
        pass
    progress(f"pulling {image}")
    try:
        return str(client.images.pull(image).id)
    except docker.errors.APIError as e:
        raise StartError(f"Image {image} not found", f"The engine has no image {image} and could not pull it "
                         f"({e.explanation or e}). Build or load it (`docker build -t {image} .`), or leave "
                         "image unset and set base_image on the provider so mlform builds one.") from None


def build_for_model(client: Any, base: str | None, model: dict[str, Any], progress: Callable[[str], None]
                    ) -> tuple[str, str]:
    """Build (or reuse) the endpoint image for ``model``: (image id, the model's path in it)."""
    import docker.errors

    if not base:
        raise StartError("No image to run", "The endpoint names no image and the docker provider has no "
                         "base_image to build one from. Set image on the endpoint, or base_image (an image "
                         "with Python and mlform) on the provider.")
    try:
        base_id = str(client.images.get(base).id)
    except docker.errors.ImageNotFound:
        raise StartError(f"Base image {base} not found", f"The engine has no image {base} to build the "
                         "endpoint's image FROM. Load or build it first (`docker images` lists what "
                         "the engine has), or set image on the endpoint.") from None
    src = Path(str(model["path"]))
    text = dockerfile()
    key = hashlib.sha256("\n".join([text, base_id, str(model.get("digest") or ""), src.name]).encode())
    tag = f"mlform-model:{key.hexdigest()[:16]}"
    in_image = f"{MODEL_DIR}/{src.name}"
    try:
        return str(client.images.get(tag).id), in_image
    except docker.errors.ImageNotFound:
        pass
    ctx = Path(tempfile.mkdtemp(prefix="mlform-build-"))
    try:
        (ctx / "Dockerfile").write_text(text)
        shutil.copyfile(src, ctx / src.name)
        progress(f"building {tag} FROM {base}")
        for chunk in client.api.build(path=str(ctx), tag=tag, rm=True, decode=True,
                                      buildargs={"BASE_IMAGE": base, "MODEL_FILE": src.name}):
            if "error" in chunk:
                raise StartError(f"Building the endpoint image FROM {base} failed", str(chunk["error"]).strip())
            line = str(chunk.get("stream") or "").strip()
            if line:
                progress(f"build: {line}")
        return str(client.images.get(tag).id), in_image
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
