"""``cosmic-ray exec`` without aiohttp's five-minute limit on an HTTP worker's answer.

cosmic-ray's HTTP distributor (``--workers``) waits for each worker's verdict with aiohttp's
default timeout, 300 s in all. A mutant whose tests ran longer (a test that hangs until its
pytest timeout, or a survivor of a server target, which runs whole files that start relays) came
back ABNORMAL, with no verdict. The mutant keeps its own limit: the worker stops its tests after
the config's ``timeout`` (run.py's ``TEST_TIMEOUT_S``) and answers "timeout". run.py runs this
with cosmic-ray's Python, which has aiohttp:

    python cosmic_ray_exec.py CONFIG SESSION
"""

from __future__ import annotations

import sys

from aiohttp import ClientTimeout, client
from cosmic_ray.cli import main

if not hasattr(client, "DEFAULT_TIMEOUT"):
    raise SystemExit("aiohttp has no client.DEFAULT_TIMEOUT any more: see cosmic_ray_exec.py")
client.DEFAULT_TIMEOUT = ClientTimeout(total=None, sock_connect=30)
sys.exit(main(["exec", *sys.argv[1:]]))
