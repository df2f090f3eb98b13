"""Run the FAKE Vertex AI (no emulator exists) with gcp-storage-emulator, for examples/vertex.

    python -m tests.fakes.vertex [--bucket NAME]

Prints the ``provider "vertex"`` block to use and the environment to export
(``STORAGE_EMULATOR_HOST``), then serves until Ctrl-C. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.fakes.vertex", description=__doc__.splitlines()[0])
    ap.add_argument("--bucket", default="mlform-staging")
    ap.add_argument("--project", default="mlform-demo")
    ap.add_argument("--location", default="us-central1")
    ap.add_argument("--port", type=int, default=8470, help="the Vertex AI API (gRPC); +1: predictions, +2: GCS")
    args = ap.parse_args()

    from gcp_storage_emulator.server import create_server  # type: ignore[import-untyped, unused-ignore]
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined, unused-ignore]

    from tests.fakes.vertex import FakeVertex

    gcs = create_server("127.0.0.1", args.port + 2, in_memory=True)
    gcs.start()
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{gcs._api._httpd.server_port}"
    anon = AnonymousCredentials()  # type: ignore[no-untyped-call, unused-ignore]
    storage.Client(project=args.project, credentials=anon).create_bucket(args.bucket)
    fake = FakeVertex(Path(tempfile.mkdtemp(prefix="vertex-fake-"))).start(args.port, args.port + 1)
    print(f'''Fake Vertex AI on {fake.grpc_target} (predictions on {fake.http_host}); GCS emulator on
{os.environ["STORAGE_EMULATOR_HOST"]}. In another shell:

  export STORAGE_EMULATOR_HOST={os.environ["STORAGE_EMULATOR_HOST"]}

and in the configuration:

provider "vertex" {{
  project        = "{args.project}"
  location       = "{args.location}"
  staging_bucket = "gs://{args.bucket}"
  api_endpoint   = "{fake.grpc_target}"
}}

Ctrl-C stops it (and every model server it started).''', flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        gcs.stop()


if __name__ == "__main__":
    main()
