"""The HTTP protocol ``featurestream serve`` runs: uvicorn's httptools protocol, stamping arrival.

Each request's ASGI scope gets :data:`~featurestream.api.admission.ARRIVAL_KEY` (``time.perf_counter()``)
when its first bytes are parsed, in the event loop's I/O callback, before its task is created. Time
the request then spends waiting for a saturated event loop counts against its deadline
(:mod:`featurestream.api.admission`), which is what lets a worker shed a request that can no longer
be answered in time instead of answering it late.
"""

from __future__ import annotations

import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from featurestream.api.admission import ARRIVAL_KEY

__all__ = ["HTTP_PROTOCOL", "ArrivalStampingProtocol"]

HTTP_PROTOCOL = "featurestream.api.server:ArrivalStampingProtocol"  # uvicorn's ``http=`` import string


class ArrivalStampingProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[ARRIVAL_KEY] = time.perf_counter()  # type: ignore[literal-required]
