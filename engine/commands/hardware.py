"""``mlform hardware [PROVIDER] [--json]``: each installed provider's hardware with its prices
and their date (``list_hardware``), and ``mlform hardware refresh``: how the shipped price
tables are regenerated from the clouds' price APIs (printed; nothing is downloaded).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer

from mlform.engine.cli import common as C
from mlform.engine.cli.diagnostics import render
from mlform.engine.diagnostics import Diagnostics, did_you_mean, error
from mlform.engine.providers.protocol import ConfigureRequest, HardwareOption, ProviderContext
from mlform.engine.providers.registry import available, get_provider_class

FORMAT_VERSION = "1.0"
PROVIDER = typer.Argument(None, metavar="PROVIDER", show_default=False,
                          help="Only this provider's hardware; `refresh`: how the price tables are regenerated.")
JSON = typer.Option(False, "--json", help="Print the lists as JSON.")

REFRESH = """\
mlform's hardware price tables are shipped with each provider, each with the date it was
taken (as_of); `mlform hardware` prints them and plans read them. Nothing is downloaded
when you plan. To regenerate a table where there is network, by hand:

  1. Query the cloud's price API for on-demand prices in the table's region:
     - sagemaker: the AWS Price List API, e.g.
         aws pricing get-products --region us-east-1 --service-code AmazonSageMaker \\
           --filters Type=TERM_MATCH,Field=regionCode,Value=us-east-1 \\
                     Type=TERM_MATCH,Field=component,Value=Hosting
       one product per instance type (ml.*), price per hour in USD.
     - vertex: the Cloud Billing Catalog API's SKUs of the Vertex AI service, e.g.
         gcloud billing ... or GET .../v1/services/SERVICE_ID/skus (prediction nodes,
       per machine type and accelerator, in the region).
  2. Write the provider's table file (its name, accelerator, vcpus, memory_gib,
     price_per_hour) with as_of set to today's date and the source it came from.
  3. Run `mlform hardware PROVIDER` to check it, and the provider's tests.

`local` (and `docker`) list this machine at no cost. See docs/constraints.md.
"""


def hardware(provider: Optional[str] = PROVIDER, json_out: bool = JSON) -> None:
    """Print each provider's hardware with prices and their date (`hardware refresh`: how tables are regenerated)."""
    from mlform.engine.cli.main import session

    raise C.Exit(run_hardware(session(), provider, json_out))


def _listing(name: str, s: C.Session) -> tuple[list[HardwareOption], Diagnostics]:
    cls = get_provider_class(name)
    d = Diagnostics()
    if cls is None:
        return [], d
    prov = cls()
    try:
        prov.configure(ConfigureRequest({}, ProviderContext(s.directory, s.directory / ".mlform", name)))
        resp = prov.list_hardware()
    except Exception as e:  # noqa: BLE001 - one provider's failure is a line, not the end of the listing
        d.append(error(f"The {name} provider cannot list its hardware", f"{type(e).__name__}: {e}"))
        return [], d
    finally:
        prov.close()
    d.extend(resp.diagnostics)
    return list(resp.options), d


def run_hardware(s: C.Session, provider: str | None, json_out: bool) -> int:
    if provider == "refresh":
        sys.stdout.write(REFRESH)
        return 0
    names = available()
    if provider is not None and provider not in names:
        render([error(f'Provider "{provider}" is not available',
                      f'No installed provider is called "{provider}".' + did_you_mean(provider, names)
                      + f" Available: {', '.join(names)}.")], s.sources, s.color)
        return 1
    doc: dict[str, Any] = {}
    failed = False
    for name in [provider] if provider else names:
        opts, d = _listing(name, s)
        failed = failed or d.has_errors
        doc[name] = {"options": [_option(o) for o in opts], "diagnostics": [x.to_json() for x in d]}
        if not json_out:
            _print(name, opts)
            if d:
                render(list(d), s.sources, s.color)
    if json_out:
        sys.stdout.write(json.dumps({"format_version": FORMAT_VERSION, "providers": doc}, indent=2) + "\n")
    return 1 if failed else 0


def _option(o: HardwareOption) -> dict[str, Any]:
    return {"name": o.name, "accelerator": o.accelerator, "vcpus": o.vcpus, "memory_gib": o.memory_gib,
            "price_per_hour": o.price_per_hour, "as_of": o.as_of, "speed_factor": o.speed_factor,
            "max_replicas": o.max_replicas}


def _print(name: str, opts: list[HardwareOption]) -> None:
    out = [f"{name}:"]
    if not opts:
        out.append("  (no hardware listed: this provider's endpoints are not chosen by constraints)")
    else:
        rows = [("NAME", "ACCELERATOR", "VCPUS", "MEMORY", "PRICE/H", "AS OF")]
        rows += [(o.name, o.accelerator, str(o.vcpus), f"{o.memory_gib:g} GiB", f"${o.price_per_hour:.4f}", o.as_of)
                 for o in sorted(opts, key=lambda o: (o.price_per_hour, o.name))]
        w = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            out.append("  " + "  ".join(c.rjust(w[i]) if i in (2, 4) else c.ljust(w[i]) for i, c in enumerate(r))
                       .rstrip())
    sys.stdout.write("\n".join(out) + "\n\n")


__all__ = ["hardware", "run_hardware"]
