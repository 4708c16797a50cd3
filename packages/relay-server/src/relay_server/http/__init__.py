"""The HTTP adapter: ``/healthz``, the JSON API under ``/api/v1``, ``/blobs`` and the ``/ui`` page.

One module per feature (:mod:`.sessions`, :mod:`.messages`, :mod:`.files`, :mod:`.peers`,
:mod:`.health`, the web view's :mod:`.ui`), each a table of module-level route handlers that
find the service in the app's state; :mod:`.api` assembles them, and :mod:`.errors` is where
every error becomes an answer.
"""
