"""Serving one model version in containers, and the router's view of versions: shared by
the CRUD side (``provider.py``) and the rollout driver (``rollout.py``)."""

from __future__ import annotations

from typing import Any, Callable

from mlform.engine.providers.protocol import ProgressEvent
from mlform.providers.docker import engine as E
from mlform.providers.docker.images import build_for_model, ensure_named
from mlform.providers.server import client as C


def version_id(digest: str | None, prompt_version: str | None = None) -> str:
    """As on ``local``: ``v-`` and the model digest's first 12 hex digits (``-p<prompt>``)."""
    vid = "v-" + (digest or "unknown").split(":")[-1][:12]
    return f"{vid}-p{prompt_version}" if prompt_version else vid


def state_version(state: dict[str, Any]) -> str:
    model = state.get("model") or {}
    prompt = state.get("prompt")
    return version_id(model.get("digest") if isinstance(model, dict) else state.get("active_model_digest"),
                      prompt.get("version") if isinstance(prompt, dict) else None)


def served_prompt(state: dict[str, Any]) -> dict[str, Any] | None:
    p = state.get("prompt")
    if not isinstance(p, dict) or not isinstance(p.get("template"), str):
        return None
    return {"template": p["template"], "variables": p.get("variables"),
            "model_params": p.get("model_params") or {}, "version": p.get("version")}


def serve_version(client: Any, spec: E.EndpointSpec, state: dict[str, Any], base_image: str | None,
                  progress: Callable[..., None]) -> tuple[str, list[Any], str]:
    """Start the containers of ``state``'s version (its image named or built): (version id,
    containers, image id). Leftover containers of the same version (a killed apply's) go first."""
    say = lambda m: progress(ProgressEvent(m, phase="start"))  # noqa: E731
    vid = state_version(state)
    model = dict(state.get("model") or {})
    if spec.image:
        image_id = ensure_named(client, spec.image, say)
    else:
        image_id, in_image = build_for_model(client, base_image, model, say)
        model.update(path=in_image, in_image=True)
        spec.image = image_id
    stale = [c.id for c in E.find_labelled(client, address=spec.address, project=spec.project, version=vid)]
    E.remove_containers(client, stale, timeout=2)
    try:
        containers = E.start_version(client, spec, vid, model, served_prompt(state), say)
    except Exception:
        E.remove_containers(client, [c.id for c in E.find_labelled(
            client, address=spec.address, project=spec.project, version=vid)], timeout=2)
        raise
    return vid, containers, image_id


def router_handle(private: dict[str, Any]) -> tuple[str, str]:
    """The router's URL (published) and admin token (from its 0600 config file, never state)."""
    from pathlib import Path

    return str(private.get("url", "")), E.router_token(Path(str(private.get("dir", ""))))


def retire(client: Any, spec: E.EndpointSpec, url: str, token: str, vid: str) -> None:
    """Take ``vid`` out of the router (which waits for its requests in flight: a drain),
    then stop and remove its containers."""
    try:
        C.remove_version(url, token, vid, timeout=40)
    except C.AdminError as e:
        if e.status != 404:
            raise
    E.remove_containers(client, [c.id for c in E.find_labelled(
        client, address=spec.address, project=spec.project, version=vid)])


def keep_only(client: Any, spec: E.EndpointSpec, private: dict[str, Any], keep: str) -> list[str]:
    """All traffic on ``keep``, every other version retired, the router's config file saying so
    (what a restarted router serves); the names of the endpoint's containers left."""
    url, token = router_handle(private)
    C.set_traffic(url, token, {keep: 100})
    for v in C.info(url, token).get("versions", []):
        if v["id"] != keep:
            retire(client, spec, url, token, v["id"])
    for c in E.find_labelled(client, address=spec.address, project=spec.project, role="version"):
        if c.labels.get("mlform.version") != keep:  # a version staged but never routed (a killed stage)
            E.remove_containers(client, [c.id], timeout=2)
    E.write_router_config(spec, {keep: E.backend_urls(spec, keep)}, {keep: 100.0}, token)
    return sorted([spec.router_name] + [spec.version_name(keep, i) for i in range(spec.replicas)])
