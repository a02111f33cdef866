"""The second baseline: ``plain_ingest.py`` unchanged but for the cause of its memory growth.

httpx 0.28 ties every response to its stream in a reference cycle, so a page's response (body
included) is freed only by a full run of Python's cyclic garbage collector, which rarely comes:
the plain script's peak grows with the day's volume just as the flow's did. Here each response's
stream is detached as soon as httpx has read the body (``flowlib.http.release_on_last_reference``
does the same in the flow), so a page is freed when the script drops it. Same arguments, same
output as ``plain_ingest.py``.
"""

import runpy
from pathlib import Path

import httpx

_send = httpx.Client.send


def send_and_release(
    self: httpx.Client, request: httpx.Request, **kwargs: object
) -> httpx.Response:
    """``Client.send``, then break the response <-> stream cycle once the body is read."""
    response = _send(self, request, **kwargs)  # type: ignore[arg-type]
    if not kwargs.get("stream"):
        response.stream = httpx.ByteStream(b"")  # the body stays in response.content
    return response


httpx.Client.send = send_and_release  # type: ignore[method-assign]

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).with_name("plain_ingest.py")), run_name="__main__")
