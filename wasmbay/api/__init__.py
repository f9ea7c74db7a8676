"""The local engine API: HTTP/1.1 + JSON over a Unix socket (``wasmbay serve``, the window).

``routes`` is the route table and the OpenAPI document; ``lock`` keeps one host per data
folder and names the socket; ``server`` runs the aiohttp application on its own thread.
core never imports this package.
"""
