"""ASGI middlewares in front of every route: the access log, authentication, the per-client rate
limit, the Host/Origin guard's JSON answers, the slow-client timeouts of the HTTP protocol, and
what authentication leaves in the request scope for the layers after it."""
