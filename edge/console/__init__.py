"""The station console: a local web app served by the station process (DESIGN.md, Console).

One module per concern, as Frigate splits `frigate/api/`: `app.py` assembles the Starlette app,
`auth.py` (login, roles, CSRF, signed session cookie), `live.py` (live view), `panel.py` (station panel),
`rois.py` (ROI editor), `gallery.py` (NG gallery), `i18n.py` (Korean and English). `server.py` runs it
on uvicorn in a named thread inside the station process; `history.py` is the verdict sink behind the
NG-rate chart. The console is a reader: it takes `Station.view()` and never a lock the inference
threads hold; a JPEG is encoded only when a browser asks, on the console's own thread.

This package imports none of its modules: `hooks.py` and `history.py` are what a station without a
console still builds, and importing them must not load the web stack (Starlette, uvicorn, argon2), which
a replay would otherwise pay for in start-up time and memory (issue 22).
"""
