"""Turn an evaluated ``eval_suite`` configuration into a run of the eval library.

Used by the builtin provider (plan and apply of an eval_suite), by ``mlform
eval`` and by rollout gates (the same suite pointed at a staged endpoint
version).

A suite's target is a model (run in-process), an endpoint (over HTTP), or a
prompt together with ``endpoint = endpoint.NAME``: each record's variables are
rendered into the template and sent to that endpoint. An endpoint that serves
a prompt itself (``prompt = prompt.X`` on the endpoint) renders it server-side:
records' ``input`` is then an object of the prompt's variables, sent as named
BYTES inputs (:class:`ServedPromptGenerator`); a rollout gate on such an
endpoint's staged version does the same. ``llm_judge``
assertions are graded by the endpoint named by ``judge`` (on the assertion,
or once on the suite).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error
from mlform.engine import eval as E
from mlform.engine.eval.prompt import bind_variables
from mlform.engine.providers.protocol import ProgressEvent, v2_model_name
from mlform.engine.values import UNKNOWN, contains_unknown


def _kind(ref: Any) -> str:
    return str(ref.get("address", "")).split(".", 1)[0] if isinstance(ref, dict) else ""


def judge_ref(cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The endpoint that grades the suite's ``llm_judge`` assertions (``None``: none named).

    An assertion's ``judge`` wins over the suite's. Raises ``ValueError`` when
    the assertions name different judges (one judge per suite).
    """
    found: dict[str, dict[str, Any]] = {}
    suite_judge = cfg.get("judge")
    for a in cfg.get("assert") or []:
        if isinstance(a, dict) and a.get("kind") == "llm_judge":
            j = a.get("judge") if a.get("judge") is not None else suite_judge
            if isinstance(j, dict):
                found[str(j.get("address"))] = j
    if len(found) > 1:
        raise ValueError("llm_judge assertions name different judges (" + ", ".join(sorted(found))
                         + "); a suite has one judge: set judge = endpoint.NAME on the suite")
    return next(iter(found.values()), None)


def suite_digests(cfg: dict[str, Any], dataset_digest: str, target_digest: Any = None) -> E.Digests | Any:
    """What the suite's result depends on, or ``UNKNOWN`` while some of it is unknown.

    ``target``: the model's digest, or the endpoint's active model digest (for a
    prompt, the endpoint it is rendered against); ``prompt``: the prompt's
    version; ``judge``: the judge endpoint's active model digest.
    ``target_digest`` overrides the target (a gate on a staged version).
    """
    target = cfg.get("target")
    kind = _kind(target)
    if target is UNKNOWN or not isinstance(target, dict):
        return UNKNOWN
    if target_digest is None:
        if kind == "model":
            target_digest = target.get("digest")
        elif kind == "endpoint":
            target_digest = target.get("active_model_digest")
        else:
            ep = cfg.get("endpoint")
            target_digest = ep.get("active_model_digest") if isinstance(ep, dict) else UNKNOWN
    prompt = target.get("version") if kind == "prompt" else None
    if kind == "endpoint" and isinstance(target.get("prompt"), dict):  # an endpoint serving a prompt
        prompt = target["prompt"].get("version", UNKNOWN)
    try:
        j = judge_ref(cfg)
    except ValueError:
        return UNKNOWN
    judge = j.get("active_model_digest", UNKNOWN) if j is not None else None
    if any(v is UNKNOWN or contains_unknown(v) for v in (target_digest, prompt, judge)) or target_digest is None:
        return UNKNOWN
    return E.Digests(target=str(target_digest), dataset=dataset_digest, prompt=prompt, judge=judge)


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def spec_from_config(address: str, cfg: dict[str, Any], project_dir: Path) -> E.SuiteSpec:
    metrics = tuple(E.MetricSpec(m["name"], E.Threshold(_num(m.get("min")), _num(m.get("max"))))
                    for m in cfg.get("metric") or [])
    asserts = [assertion_from_config(a) for a in cfg.get("assert") or []]
    prompt = None
    target = cfg.get("target") or {}
    if _kind(target) == "endpoint" and isinstance(target.get("prompt"), dict):
        target = target["prompt"]  # the endpoint renders its prompt: records carry its variables
    if _kind(target) == "prompt":
        variables = target.get("variables")
        prompt = E.PromptSpec(target.get("template") or "", tuple(variables) if variables is not None else None,
                              target.get("model_params") or {})
    labels = tuple(str(x) for x in cfg["labels"]) if cfg.get("labels") else None
    return E.SuiteSpec(name=address, dataset=(project_dir / str(cfg["dataset"])).resolve(), metrics=metrics,
                       assertions=tuple(asserts), labels=labels, prompt=prompt)


def assertion_from_config(a: dict[str, Any]) -> E.AssertionSpec:
    """One ``assert "KIND" { ... }`` block; raises ``ValueError`` for an unknown kind or verdict."""
    try:
        kind = E.AssertionKind(a["kind"])
    except ValueError:
        raise ValueError(f'Unknown assertion "{a["kind"]}": use one of '
                         + ", ".join(k.value for k in E.AssertionKind)) from None
    try:
        verdict = E.Verdict(a.get("verdict") or "pass_fail")
    except ValueError:
        raise ValueError(f'verdict = "{a.get("verdict")}": use "pass_fail" or "score"') from None
    value = a.get("value") if kind is not E.AssertionKind.REGEX else (a.get("pattern") or a.get("value"))
    return E.AssertionSpec(
        kind=kind, value=None if value is None else str(value), schema=a.get("schema"),
        threshold=_num(a.get("threshold") if a.get("threshold") is not None else a.get("min_score")),
        rubric=a.get("rubric"), verdict=verdict, ignore_case=bool(a.get("ignore_case") or False),
        min_pass_rate=float(a.get("min_pass_rate", 1.0)), name=a.get("name"))


def run_config(address: str, cfg: dict[str, Any], project_dir: Path, *, url: str | None = None,
               model_name: str | None = None, version: str | None = None, target_digest: str | None = None,
               served_prompt: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
               progress: Callable[[str], None] | None = None) -> tuple[E.SuiteResult | None, Diagnostics]:
    """Run the suite ``cfg``; ``url`` points it at an endpoint (a staged version with ``version``).

    ``headers`` go with every request to ``url`` (a rollout gate's target may need them).

    ``served_prompt``: the endpoint at ``url`` serves this prompt itself (a gate on a
    staged (model, prompt) version), so each record's variables are sent, not a rendered text.
    """
    d = Diagnostics()
    try:
        spec = spec_from_config(address, cfg, project_dir)
    except (KeyError, ValueError) as exc:
        d.append(error(f"Invalid eval suite {address}", str(exc)))
        return None, d
    vd = spec.validate()
    d.extend(vd)
    if vd.has_errors:
        return None, d
    judge: E.V2Judge | None = None
    try:
        jref = judge_ref(cfg)
    except ValueError as e:
        d.append(error(f"Invalid eval suite {address}", str(e)))
        return None, d
    if jref is not None:
        if not jref.get("url") or contains_unknown(jref.get("url")):
            d.append(error(f"The judge of {address} has no URL", f"{jref.get('address')} is not serving yet: "
                           "apply it first (the suite depends on it, so a plain apply does that)."))
            return None, d
    target = cfg.get("target") or {}
    endpoint = cfg.get("endpoint") or {}
    t_addr = str(target.get("address", ""))
    if url is None and t_addr.startswith("endpoint."):
        url = target.get("url")
        if served_prompt is None and isinstance(target.get("prompt"), dict):
            served_prompt = target["prompt"]
    if url is None and t_addr.startswith("prompt.") and endpoint:
        url = endpoint.get("url")
    http = None
    if headers and url:
        import httpx  # only a gate whose target asks for headers pays for the import here

        http = httpx.Client(headers=dict(headers), timeout=60.0)
    try:
        predictor = _predictor(spec, t_addr, target, endpoint, url, model_name, version, served_prompt, http)
    except DiagnosticsError as e:  # a model that will not load is the user's to fix
        d.extend(e.diagnostics)
        if http is not None:
            http.close()
        return None, d
    if predictor is None:
        d.append(error(f"Cannot evaluate {address}", "The target has no URL yet (apply the endpoint first), "
                       "and is not a model that can run in-process."))
        return None, d
    digests = suite_digests(cfg, E.dataset_digest(spec.dataset), target_digest)
    if digests is UNKNOWN:
        digests = E.Digests(target=str(target_digest or t_addr), dataset=E.dataset_digest(spec.dataset),
                            prompt=target.get("version") if t_addr.startswith("prompt.") else None)

    def prog(done: int, total: int) -> None:
        if progress:
            text = f"evaluating {address}: " + (f"{done}/{total} records" if done else f"{total} records")
            progress(ProgressEvent(text, phase="eval", done=done, total=total))

    if jref is not None:  # opened last: every return before this point leaves nothing to close
        judge = E.v2_judge(str(jref["url"]), v2_model_name(str(jref["address"])))
    try:
        result = E.run_suite(spec, predictor, digests=digests, judge=judge, progress=prog if progress else None)
    except DiagnosticsError as e:
        d.extend(e.diagnostics)
        return None, d
    finally:
        for held in (predictor, judge, http):  # each holds an HTTP connection (or a model session)
            close = getattr(held, "close", None)
            if close:
                close()
    d.extend(x for x in result.diagnostics)
    if progress:
        progress(ProgressEvent(result_line(address, result), phase="evaluated", done=result.records,
                               total=result.records))
    return result, d


def result_line(address: str, result: E.SuiteResult) -> str:
    """The one line that ends a suite's progress: records, time, verdict and the metrics' values."""
    if result.passed:
        values = ", ".join(f"{m.name} {m.value:.3g}" for m in result.metrics[:4])
        verdict = "passed" + (f" ({values})" if values else "")
    else:
        verdict = f"{result.status.value}: {summary(result)}"
    took = f"{result.duration_s * 1000:.0f}ms" if result.duration_s < 1 else f"{result.duration_s:.1f}s"
    return f"evaluated {address}: {result.records} records in {took}, {verdict}"


def _predictor(spec: E.SuiteSpec, t_addr: str, target: dict[str, Any], endpoint: dict[str, Any], url: str | None,
               model_name: str | None, version: str | None, served_prompt: Mapping[str, Any] | None = None,
               http: Any = None) -> Any:
    if url:
        # The V2 model name: the one given (a staged version), else the serving endpoint's
        # (the target itself, or the endpoint a prompt is rendered against).
        ep_addr = t_addr if t_addr.startswith("endpoint.") else str(endpoint.get("address", ""))
        name = model_name or v2_model_name(ep_addr)
        if served_prompt is not None:
            return ServedPromptGenerator(url, name, version, spec.prompt or _prompt_spec(served_prompt), client=http)
        return E.V2TextGenerator(url, name, version, prompt=spec.prompt, client=http) if spec.is_text else \
            E.V2Predictor(url, name, version, client=http)
    if t_addr.startswith("model.") and isinstance(target.get("path"), str):
        path = str(target["path"])
        fmt = target.get("format") or "onnx"
        return E.OnnxPredictor(path) if fmt == "onnx" else E.TorchScriptPredictor(path)
    return None


def _prompt_spec(p: Mapping[str, Any]) -> E.PromptSpec:
    variables = p.get("variables")
    return E.PromptSpec(str(p.get("template") or ""), tuple(variables) if variables is not None else None,
                        p.get("model_params") or {})


class ServedPromptGenerator:
    """A text endpoint that serves a prompt itself: each record's variables go as named
    BYTES inputs (one per variable, shape ``[n]``) and the server renders the template.

    ``prompt`` (the suite's view of the prompt) checks each record's variables
    before anything is sent, with the same messages as a client-side render.
    """

    def __init__(self, url: str, model: str, version: str | None, prompt: E.PromptSpec,
                 timeout: float = 60.0, client: Any = None) -> None:
        from mlform.engine.eval.v2 import V2Client  # httpx: only when a suite runs

        self.client = V2Client(url, model, version, timeout=timeout, client=client)
        self.prompt = prompt

    def close(self) -> None:
        self.client.close()

    def predict(self, inputs: Sequence[Any]) -> E.Predictions:
        """One infer request for the batch; outputs are the generated strings."""
        rows: list[dict[str, str]] = []
        for value in inputs:
            if not isinstance(value, (str, Mapping)):
                raise E.PredictorError("Tensor input for a text generator", "Give an object of prompt variables.")
            try:
                rows.append(bind_variables(self.prompt, value))
            except E.PromptError as e:
                raise E.PredictorError("The record does not fit the prompt", f"{e}.") from None
        names = list(self.prompt.names)
        body = {"inputs": [{"name": n, "shape": [len(rows)], "datatype": "BYTES", "data": [r[n] for r in rows]}
                           for n in names]}
        outputs, elapsed = self.client.infer(body)
        name = "text_output" if "text_output" in outputs else next(
            (k for k, v in outputs.items() if v.dtype == object), None)
        if name is None:
            raise E.PredictorError("The model server returned no text", f"Outputs: {', '.join(outputs)}.")
        flat = outputs[name].reshape(-1)
        if flat.size != len(rows):
            raise E.PredictorError("The model server returned the wrong number of texts",
                                   f"{flat.size} for {len(rows)} records.")
        texts: list[E.RecordOutput] = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
        return E.Predictions(texts, [elapsed] * len(rows))


def summary(result: E.SuiteResult) -> str:
    return "; ".join(result.failures()) or "passed"


def history_entry(address: str, before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any] | None:
    """What an apply of ``address`` adds to state history's ``eval_results`` (``None``: nothing ran).

    The recorded result with what it was computed for: the target's address
    (and, for prompt suites, the prompt's address and version) beside the
    result's digests, so ``state show prompt.X`` can list each version's results.
    """
    results = after.get("results")
    if not isinstance(results, dict) or results == (before or {}).get("results"):
        return None
    target = after.get("target")
    t_addr = str(target.get("address", "")) if isinstance(target, dict) else ""
    entry: dict[str, Any] = {**results, "suite": address, "target": t_addr}
    if _kind(target) == "prompt":
        entry.update(prompt=t_addr, prompt_version=(results.get("digests") or {}).get("prompt"))
    return entry
