"""A cosmic-ray HTTP worker that listens on 127.0.0.1 only.

cosmic-ray's own ``http-worker`` command binds every interface; this serves the same handler on
the loopback address. run.py starts one per copy of the checkout, with cosmic-ray's Python and
the copy as its working directory (the worker mutates and tests the files it finds there):

    python http_worker.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web
from cosmic_ray.distribution.http import handle_mutate_and_test


def main() -> None:
    app = web.Application()
    app.add_routes([web.post("/", handle_mutate_and_test)])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)


if __name__ == "__main__":
    main()
