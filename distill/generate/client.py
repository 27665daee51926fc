"""HTTP to an OpenAI-compatible endpoint: retries with backoff, request and cost caps, key hygiene.

Why retries live here: a 300k-request run meets every failure a server has. 429 and 5xx, 408,
timeouts, dropped connections, truncated and malformed bodies are retried with exponential
backoff and jitter (waiting at least what `Retry-After` / `retry-after-ms` asks); every failed
attempt is one line of `{out}.errors.jsonl`. 401, 403 and 404 end the run (a bad key, model or
URL fails every request alike); other 4xx fail only their request. `Budget` stops new requests
once `--max-requests` is reached or the projected spend (spent + in flight x mean cost per
request) reaches `--max-cost`; until one response has shown what a request costs, a cost cap
lets one request run at a time.

The API key goes into the `Authorization` header and nowhere else: messages that could echo
it (error bodies, exception text) pass through `ErrorLog.redact` (`distill.generate.redact`: every
8-character run of the key removed, then the text cut) before they are written or raised.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import random
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from distill.generate import responses
from distill.generate.store import ErrorLog
from distill.generate.summary import Prices

FATAL_STATUS = (401, 403, 404)
RETRY_STATUS = (408, 409, 425, 429)
MAX_RETRY_AFTER_S = 600.0


class EndpointError(RuntimeError):
    """The endpoint refuses every request (bad key, model or URL): the run stops."""


class RequestFailedError(RuntimeError):
    """One request failed for good: retries exhausted, or a client error that retrying cannot fix."""


class NUnsupportedError(RequestFailedError):
    """The server refused `n` > 1."""


class CapReachedError(RuntimeError):
    """A --max-requests / --max-cost cap stops new requests."""


@dataclass(frozen=True)
class Retry:
    retries: int = 10
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (half fixed, half random), at least `retry_after`."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        return max(ceiling / 2 + random.uniform(0, ceiling / 2), min(retry_after or 0.0, MAX_RETRY_AFTER_S))


class Budget:
    """Counts requests and spend; `admit` refuses a request that would pass a cap."""

    def __init__(self, prices: Prices | None, max_cost: float | None, max_requests: int | None) -> None:
        self.prices, self.max_cost, self.max_requests = prices, max_cost, max_requests
        self.requests = self.in_flight = self.priced = 0
        self.spend = 0.0

    async def admit(self) -> None:
        if self.max_requests is not None and self.requests >= self.max_requests:
            raise CapReachedError(f"--max-requests {self.max_requests} reached")
        if self.max_cost is not None:
            while self.priced == 0 and self.in_flight > 0:  # the first response tells what a request costs
                await asyncio.sleep(0.01)
            mean = self.spend / self.priced if self.priced else 0.0
            if self.spend + (self.in_flight + 1) * mean > self.max_cost:
                raise CapReachedError(f"--max-cost ${self.max_cost:g} reached (${self.spend:.4f} spent)")
        self.requests += 1
        self.in_flight += 1

    def settle(self, usage: dict[str, int] | None) -> None:
        """A request ended; `usage` when it was answered (its cost is then counted)."""
        self.in_flight -= 1
        if usage is not None and self.prices is not None:
            self.spend += self.prices.cost(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
            self.priced += 1


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` (seconds or an HTTP date)."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("Retry-After")
        if value is None:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())
    except (ValueError, TypeError):
        return None


def _error_text(raw: bytes) -> tuple[str, str | None]:
    """(message, param) of an OpenAI error body, else the body: whole, as redaction comes before any cut."""
    try:
        error = json.loads(raw).get("error") or {}
        return str(error.get("message") or raw.decode("utf-8", "replace")), error.get("param")
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace"), None


class Client:
    """One endpoint (`base_url` + `/completions` or `/chat/completions`) over one aiohttp session."""

    def __init__(
        self,
        base_url: str,
        chat: bool,
        api_key: str | None,
        errors: ErrorLog,
        budget: Budget,
        retry: Retry = Retry(),
        timeout_s: float = 300.0,
        concurrency: int = 16,
    ) -> None:
        self.url = base_url.rstrip("/") + ("/chat/completions" if chat else "/completions")
        self.chat, self.errors, self.budget, self.retry = chat, errors, budget, retry
        self.retries = 0
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._connector_limit = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=self._connector_limit)
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout, connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def _attempt(self, data: bytes, n: int, top_logprobs: int | None) -> tuple[responses.Completion | None, dict]:
        """One POST: (the parsed completion, {}) or (None, what went wrong)."""
        try:
            async with self._session.post(self.url, data=data) as response:
                raw = await response.read()
                status, retry_after = response.status, _retry_after(response.headers)
        except TimeoutError:
            return None, {"kind": "timeout", "message": f"no complete response within {self._timeout.total:g} s"}
        except aiohttp.ClientError as error:
            return None, {"kind": "connection", "message": f"{type(error).__name__}: {error}"}
        if status != 200:
            message, param = _error_text(raw)
            return None, {"kind": "http", "status": status, "message": message, "param": param, "wait": retry_after}
        try:
            return responses.parse(orjson.loads(raw), self.chat, n, top_logprobs), {}
        except (ValueError, responses.MalformedResponseError) as error:  # JSONDecodeError is a ValueError
            return None, {"kind": "malformed", "message": str(error)}

    async def complete(
        self, body: dict[str, Any], top_logprobs: int | None, context: dict[str, Any]
    ) -> responses.Completion:
        """The response to `body`, retried until it parses.

        Raises RequestFailedError (this request), EndpointError (every request) or CapReachedError.
        """
        data = json.dumps(body).encode("utf-8")
        n = body.get("n", 1)
        for attempt in range(self.retry.retries + 1):
            await self.budget.admit()
            completion, failure = None, {}
            try:
                completion, failure = await self._attempt(data, n, top_logprobs)
            finally:
                self.budget.settle(completion.usage if completion else None)
            if completion is not None:
                if self.budget.max_cost is not None and not completion.usage:
                    raise EndpointError(f"{self.url} reports no token usage, so --max-cost cannot be enforced")
                return completion
            wait = failure.pop("wait", None)
            param = failure.pop("param", None)
            self.errors.write(**context, attempt=attempt, **failure)
            status = failure.get("status")
            message = self.errors.redact(failure["message"])
            if status in FATAL_STATUS:
                raise EndpointError(f"{self.url} answered HTTP {status}: {message}")
            if status is not None and status < 500 and status not in RETRY_STATUS:
                if n > 1 and (param == "n" or "'n'" in message or '"n"' in message):
                    raise NUnsupportedError(message)
                raise RequestFailedError(f"HTTP {status}: {message}")
            if attempt < self.retry.retries:
                self.retries += 1
                await asyncio.sleep(self.retry.delay(attempt, wait))
        raise RequestFailedError(f"{failure['kind']} after {self.retry.retries + 1} attempts: {message}")
