"""REST call control: accept, reject, refer and hang up a SIP call, idempotently.

Four POSTs under ``{base_url}/realtime/calls/{call_id}/``. Success is ``200`` with an
empty body; errors use OpenAI's ``{"error": {"message", "type", "param", "code"}}``.

A request that got no answer may still have taken effect (reference §2.6), so a timeout is
not a failure here. Each action retries, with jittered pauses, inside a time budget of its
own, and reads the answer to a retry for what happened before:

* ``accept``: retried after a timeout, a broken connection, a 5xx, 408, 409 or 429. A 400
  "Call is not ringing (state: accepted)" means the call is accepted: done.
* ``reject``: retried like accept. (404 raises ``CallNotFound``: the call is gone.)
* ``refer``: retried only when it certainly was not acted on (no connection, no free slot,
  or an answer of 5xx/408/409/429). Once a REFER may have reached OpenAI without an answer,
  it is never sent again: OpenAI answers a second refer 200 and relays it, so a retry could
  make two transfers. It then returns as a 200 does: a REFER whose outcome nobody reports,
  which the flow's transfer wait covers.
* ``hangup``: retried until the call is gone (bounded by its budget). 404 means done.

For every action a 404 (or a 400 naming the state ``ended``) means the call is gone:
``CallNotFound``, except for hangup, where that is success. An error that is raised after
an attempt that may have taken effect carries ``uncertain=True``.

Requests queue for one of ``max_in_flight`` slots (see ``engine.bounded_http``) instead of
failing under a burst, and are never cancelled inside httpx. A quarter of the slots are kept
for the calls already up (refer, hangup): a burst of new calls queues its accepts behind
each other, not in front of a transfer whose caller is waiting on hold.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from engine.bounded_http import BoundedHttp, NoSlot, Shards
from engine.openai.config import OpenAIConfig
from engine.openai.errors import CallControlError, CallControlTimeout, CallNotFound
from engine.openai.reachability import Reachability

__all__ = ["DEFAULT_BUDGETS", "CallControl", "RetryBudget"]

log = logging.getLogger(__name__)

# httpcore's own wait for a pooled connection. The slots keep the pool uncontended, so this
# is a backstop that should never fire.
POOL_WAIT_S = 5.0
# The least time worth giving one more attempt within an action's budget.
MIN_ATTEMPT_S = 0.2
_STATE = re.compile(r"\(state: ([a-z_]+)\)")


@dataclass(frozen=True)
class RetryBudget:
    """How long one action may keep trying (``total_s``, waiting for a slot included) and
    the pauses between attempts: doubling from ``first_pause_s`` up to ``max_pause_s``, each
    drawn between half and all of that ("equal jitter"), so a burst of failures does not
    come back as a burst of retries."""

    total_s: float
    first_pause_s: float = 0.1
    max_pause_s: float = 1.0

    def __post_init__(self) -> None:
        if self.total_s <= 0 or self.first_pause_s <= 0 or self.max_pause_s < self.first_pause_s:
            raise ValueError("a retry budget needs total_s > 0 and 0 < first <= max pause")

    def pause(self, attempt: int, rng: random.Random) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        doubling: int = 2 ** (attempt - 1)  # an int: `attempt` is 1 or more
        ceiling = min(self.max_pause_s, self.first_pause_s * doubling)
        return ceiling * (0.5 + rng.random() / 2)


DEFAULT_BUDGETS: Mapping[str, RetryBudget] = {
    # The webhook is answered after accept, and OpenAI wants that within "a few seconds"
    # (reference §1.5). When accept is slower (a burst: the API queues), OpenAI delivers the
    # webhook again and the new delivery joins the answer in progress, so accept may outlast
    # one delivery; what bounds it is the caller, who hears ringing meanwhile (about 30 s
    # before most give up; a caller who does makes accept answer 404, which ends it at once).
    "accept": RetryBudget(30.0),
    "reject": RetryBudget(10.0),
    # A caller waits on the line for it: under a burst, waiting for a slot beats giving up
    # (which tells the caller the transfer failed).
    "refer": RetryBudget(30.0),
    # "Retried until the call is gone": a call left up costs money and keeps a caller on.
    "hangup": RetryBudget(30.0, max_pause_s=3.0),
}


class _NoReply(Exception):
    """An attempt got no HTTP reply. ``maybe_sent``: the request may have reached OpenAI."""

    def __init__(self, detail: str, *, maybe_sent: bool, timeout_s: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.maybe_sent = maybe_sent
        self.timeout_s = timeout_s  # set when it timed out


class CallControl:
    """Call-control client bound to one OpenAI project.

    ``client``: the ``httpx.AsyncClient`` of call control alone, or several (``Shards``)
    (connection-pooled; opening one per call would pay a TLS handshake while the caller
    waits); give it pools of its own, apart from the flows' HTTP tools, and set
    ``max_in_flight`` to at most their ``max_connections`` together. ``timeout_s``: the deadline of one attempt. ``budgets``: per
    action, how long it may keep retrying (``DEFAULT_BUDGETS`` for those not given).
    ``on_event``: called with short names (``accept_retry``, ``refer_uncertain``, ...) for
    metrics. ``health``: what ``/readyz`` reads.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | Sequence[httpx.AsyncClient] | Shards,
        config: OpenAIConfig,
        timeout_s: float = 5.0,
        *,
        max_in_flight: int = 50,
        budgets: Mapping[str, RetryBudget] | None = None,
        on_event: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        shards = client if isinstance(client, Shards) else Shards(client)
        live = max_in_flight // 4
        self._answering = BoundedHttp(shards, max_in_flight - live if live else max_in_flight)
        self._live = BoundedHttp(shards, live) if live else self._answering
        self._config = config
        self._timeout_s = timeout_s
        self._base = config.base_url.rstrip("/")
        self._budgets = {**DEFAULT_BUDGETS, **(budgets or {})}
        self._on_event = on_event
        self._rng = rng or random.Random()
        self.health = Reachability()

    @property
    def http(self) -> BoundedHttp:
        """The slots of accept and reject (and the pool's connections, shared by all)."""
        return self._answering

    @property
    def in_flight(self) -> int:
        """Requests running now, in both lanes."""
        lanes = {id(self._answering): self._answering, id(self._live): self._live}
        return sum(lane.in_flight for lane in lanes.values())

    async def aclose(self) -> None:
        """Let running requests end (bounded), then close the clients."""
        if self._live is not self._answering:
            await self._live.aclose_requests()
        await self._answering.aclose()

    def _lane(self, action: str) -> BoundedHttp:
        return self._answering if action in ("accept", "reject") else self._live

    async def accept(self, call_id: str, session: Mapping[str, Any]) -> None:
        """Answer the call with this session config (``{"type": "realtime", ...}``).

        Leave ``audio.*.format`` out for SIP: the codec is negotiated on the SIP leg.
        """
        await self._act(call_id, "accept", dict(session))

    async def reject(self, call_id: str, status_code: int | None = None) -> None:
        """Decline the call with a SIP status (e.g. 486 Busy Here). Without one, OpenAI
        sends 603 Decline."""
        if status_code is not None:
            if isinstance(status_code, bool) or not isinstance(status_code, int):
                raise TypeError("status_code must be an int")
            if not 300 <= status_code <= 699:
                raise ValueError(f"SIP status for reject must be 300-699, got {status_code}")
        body: dict[str, Any] = {} if status_code is None else {"status_code": status_code}
        await self._act(call_id, "reject", body)

    async def refer(self, call_id: str, target_uri: str) -> None:
        """Ask the trunk to transfer the call (SIP REFER to ``target_uri``, verbatim).

        Success only means the REFER was handed to the SIP provider (or may have been,
        when no answer came: it is not sent twice), not that the transfer worked.
        """
        if not target_uri or not target_uri.strip():
            raise ValueError("target_uri must not be empty")
        await self._act(call_id, "refer", {"target_uri": target_uri})

    async def hangup(self, call_id: str) -> None:
        """End the call, retrying until it is gone. The sideband socket closes shortly after."""
        await self._act(call_id, "hangup", None)

    async def probe(self, timeout_s: float = 1.0) -> bool:
        """One cheap authenticated request (``GET {base}/models``) to learn whether OpenAI
        answers; records the outcome in ``health`` and returns ``health.reachable``."""
        url = f"{self._base}/models"
        timeout = httpx.Timeout(timeout_s, pool=POOL_WAIT_S)

        async def send(client: httpx.AsyncClient) -> httpx.Response:
            return await client.get(url, headers=self._headers(), timeout=timeout)

        try:
            response = await self._live.run(send, wait_s=0.1, deadline_s=timeout_s)
        except NoSlot:
            return self.health.reachable  # busy: the requests in flight will tell
        except (TimeoutError, httpx.HTTPError) as exc:
            self.health.no_reply(type(exc).__name__)
        else:
            self.health.replied(response.status_code)
        return self.health.reachable

    # -- one action, retried -----------------------------------------------------------------

    async def _act(self, call_id: str, action: str, body: dict[str, Any] | None) -> None:
        if not call_id:
            raise ValueError("call_id must not be empty")
        budget = self._budgets[action]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget.total_s
        url = f"{self._base}/realtime/calls/{quote(call_id, safe='')}/{action}"
        uncertain = False  # an earlier attempt may have taken effect
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - loop.time()
            try:
                response = await self._attempt(call_id, action, url, body, remaining, attempt)
            except _NoReply as exc:
                uncertain = uncertain or exc.maybe_sent
                log.warning("openai %s %s: attempt %d: %s", action, call_id, attempt, exc.detail)
                if action == "refer" and exc.maybe_sent:
                    # Sending it again could transfer the caller twice (module docstring).
                    log.warning(
                        "openai refer %s: the REFER may have gone out; not sent again, "
                        "treated as sent",
                        call_id,
                    )
                    self._event("refer_uncertain")
                    return
                error: CallControlError = (
                    CallControlTimeout(exc.timeout_s, call_id=call_id, action=action)
                    if exc.timeout_s is not None
                    else CallControlError(
                        None, f"network error: {exc.detail}", call_id=call_id, action=action
                    )
                )
                error.uncertain = uncertain
                pause = budget.pause(attempt, self._rng)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    if attempt > 1:
                        self._event(f"{action}_retried_ok")
                    return
                message, code = _error_details(response)
                state = _state(message)
                if status == 404 or (status == 400 and state == "ended"):
                    if action == "hangup":
                        self._event("hangup_gone")
                        return  # the call is gone: what hangup wanted
                    raise CallNotFound(message, code=code, call_id=call_id, action=action)
                if action == "accept" and status == 400 and state == "accepted":
                    # Our earlier accept took effect (or another delivery's did): the call is
                    # in the state accept asks for.
                    log.info("openai accept %s: already accepted; done", call_id)
                    self._event("accept_already_done")
                    return
                if status >= 500 and action != "refer":
                    uncertain = True  # a server error may come after the action was done
                error = CallControlError(
                    status, message, code=code, call_id=call_id, action=action, uncertain=uncertain
                )
                if not (status >= 500 or status in (408, 409, 429)):
                    raise error
                pause = max(budget.pause(attempt, self._rng), _retry_after(response))
            if deadline - loop.time() <= pause + MIN_ATTEMPT_S:
                # Too little would be left for another attempt to get an answer: the error
                # we have says more than a timeout of a hopeless last try would.
                self._event(f"{action}_gave_up")
                raise error
            self._event(f"{action}_retry")
            await asyncio.sleep(pause)

    async def _attempt(
        self,
        call_id: str,
        action: str,
        url: str,
        body: dict[str, Any] | None,
        remaining_s: float,
        number: int,
    ) -> httpx.Response:
        """POST number ``number``: waits for a slot (at most ``remaining_s``), then has
        ``timeout_s``, doubled for each attempt before it (within what is left), for an
        answer: an API that is slow, not gone, gets more patience rather than more load.
        Raises ``_NoReply`` when none comes."""
        if remaining_s <= 0:
            raise _NoReply("out of time", maybe_sent=False)
        loop = asyncio.get_running_loop()
        queued = loop.time()
        sent_at: list[float] = []
        headers = self._headers()

        def send_within(timeout_s: float) -> Callable[[httpx.AsyncClient], Any]:
            timeout = httpx.Timeout(timeout_s, pool=POOL_WAIT_S)

            async def send(client: httpx.AsyncClient) -> httpx.Response:
                sent_at.append(loop.time())
                if body is None:
                    return await client.post(url, headers=headers, timeout=timeout)
                return await client.post(url, headers=headers, json=body, timeout=timeout)

            return send

        # The deadline starts once a slot is ours; httpx's per-phase timeouts bound the
        # request even after we stop waiting for it (a server trickling bytes included).
        attempt_s = min(self._timeout_s * 2 ** (number - 1), remaining_s)
        try:
            response: httpx.Response = await self._lane(action).run(
                send_within(attempt_s), wait_s=remaining_s, deadline_s=attempt_s
            )
        except NoSlot:
            raise _NoReply("no free connection slot in time", maybe_sent=False) from None
        except TimeoutError:
            self.health.no_reply("timeout")
            raise _NoReply(
                f"no answer within {attempt_s:g}s", maybe_sent=True, timeout_s=attempt_s
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self.health.no_reply(type(exc).__name__)
            raise _NoReply(f"{type(exc).__name__}: {exc}", maybe_sent=False) from None
        except httpx.TimeoutException:
            self.health.no_reply("timeout")
            raise _NoReply(
                f"no answer within {attempt_s:g}s", maybe_sent=True, timeout_s=attempt_s
            ) from None
        except httpx.TransportError as exc:
            self.health.no_reply(type(exc).__name__)
            raise _NoReply(f"{type(exc).__name__}: {exc}", maybe_sent=True) from None
        self.health.replied(response.status_code)
        started = sent_at[0] if sent_at else queued
        elapsed_ms = (loop.time() - started) * 1000
        waited_ms = (started - queued) * 1000
        log.info(
            "openai %s %s -> %d (%.0f ms%s)",
            action,
            call_id,
            response.status_code,
            elapsed_ms,
            f", {waited_ms:.0f} ms queued" if waited_ms >= 1 else "",
        )
        return response

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._config.api_key}"}

    def _event(self, name: str) -> None:
        if self._on_event is not None:
            self._on_event(name)


def _state(message: str) -> str | None:
    """The call state an error message names ("Call is not ringing (state: accepted).")."""
    found = _STATE.search(message)
    return found.group(1) if found else None


def _retry_after(response: httpx.Response) -> float:
    """A 429's ``Retry-After`` in seconds (0 when absent or not a number)."""
    try:
        return min(max(float(response.headers.get("retry-after", "0")), 0.0), 30.0)
    except ValueError:
        return 0.0


def _error_details(response: httpx.Response) -> tuple[str, str | None]:
    """``(message, code)`` from an OpenAI error body, or a short fallback."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        message = error.get("message")
        code = error.get("code")
        return (
            str(message) if message else response.reason_phrase or "error",
            str(code) if code is not None else None,
        )
    text = response.text.strip()
    return (text[:200] if text else response.reason_phrase or "error"), None
