"""The HTTP face of the engine: OpenAI's webhook, health, readiness, flow status, metrics.

One call's path: a signed ``realtime.call.incoming`` webhook → verify → dedupe by call id →
route by the dialled number to a flow snapshot → accept (or reject) over REST → answer the
webhook 200 → attach to the sideband and let a ``CallDriver`` run the flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .bounded_http import Shards
from .call.answer import SIP_TEMPORARILY_UNAVAILABLE, Answer, Refusal, decide
from .call.driver import CallDriver
from .call.incoming import IncomingCall
from .call.machine import CallMachine
from .call.platform import Platform
from .call.session import SessionSpec
from .call.tools import HttpToolRunner
from .connections import reply_headers
from .flow.diagnostics import Diagnostic
from .flow.lint import is_flow_file
from .flow.model import DEFAULT_TRANSCRIPTION_MODEL
from .flow.registry import Registry
from .flow.rules.session import DEPRECATED_TRANSCRIPTION_MODELS
from .logs import current_call_id
from .metrics import CONTENT_TYPE, Metrics
from .openai import (
    CallControlError,
    CallNotFound,
    ConfigError,
    OpenAIConfig,
    ReplayGuard,
    WebhookRejected,
)
from .openai.platform import RealtimePlatform
from .openai.rest import RetryBudget
from .records.calls import CallRecords, RecordConsumer
from .records.memory import RecentRecords
from .records.recorder import CallRecorder
from .records.routes import call_routes
from .records.service import Records
from .records.sink import RecordSink

if TYPE_CHECKING:
    from .records.settings import RecordsSettings
    from .simulator import Simulator
    from .studio.settings import StudioSettings

__all__ = ["Engine", "EngineSettings", "create_app"]

log = logging.getLogger("engine.server")


# How long the drain waits for the hangups of the calls its deadline cuts.
DRAIN_HANGUP_WAIT_S = 5.0
# How long the records still waiting may take to be written on the way out.
RECORDS_DRAIN_S = 3.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EngineSettings:
    flows_dir: str
    openai: OpenAIConfig
    drain_timeout_s: float = 30.0
    max_body_bytes: int = 256 * 1024
    # A webhook body that has not all arrived by then is answered 408: a slow sender must
    # not hold a connection (and a file descriptor) for ever.
    body_timeout_s: float = 10.0
    reload_interval_s: float = 0.5
    # The first call-control attempt's deadline (doubled for each retry); CallControl
    # retries inside per-action budgets.
    rest_timeout_s: float = 5.0
    # Call-control requests in flight at once (the rest queue): call control's own pool.
    openai_concurrency: int = 100
    # Tool requests in flight at once: the tools' own pool, apart from call control's.
    tool_concurrency: int = 64
    # Per call-control action, how long it may retry (None: CallControl's DEFAULT_BUDGETS).
    rest_budgets: Mapping[str, RetryBudget] | None = None
    # /readyz probes OpenAI when nothing was learned about it for this long.
    readiness_probe_s: float = 10.0
    default_country_code: str | None = None
    # The caller's speech-to-text model for flows that name none (`transcription.model`).
    transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL
    # What time it is: decides opening hours. Tests pass a fixed clock.
    clock: Callable[[], datetime] = utc_now
    # Where call records go (None: nowhere, e.g. an engine a test builds without them).
    records: RecordsSettings | None = None
    # Who may open /studio (None: nobody, the studio is off).
    studio: StudioSettings | None = None

    @classmethod
    def from_env(cls, flows_dir: str, environ: Mapping[str, str] | None = None) -> EngineSettings:
        from .records.settings import RecordsSettings

        env = os.environ if environ is None else environ
        code = env.get("ENGINE_DEFAULT_COUNTRY_CODE", "").strip().lstrip("+") or None
        if code is not None and not (code.isdigit() and 1 <= len(code) <= 3):
            raise ConfigError("ENGINE_DEFAULT_COUNTRY_CODE must be 1 to 3 digits, e.g. 1 or 44")
        drain = env.get("ENGINE_DRAIN_TIMEOUT", "30")
        try:
            drain_s = float(drain)
        except ValueError:
            raise ConfigError("ENGINE_DRAIN_TIMEOUT must be a number of seconds") from None
        transcription = env.get("ENGINE_TRANSCRIPTION_MODEL", "").strip()
        if any(c.isspace() or not c.isprintable() for c in transcription):
            raise ConfigError(
                "ENGINE_TRANSCRIPTION_MODEL must be a model name such as gpt-transcribe"
            )
        if transcription in DEPRECATED_TRANSCRIPTION_MODELS:
            log.warning(
                "ENGINE_TRANSCRIPTION_MODEL=%s is deprecated: OpenAI will shut it down on "
                "2027-02-26; use gpt-transcribe",
                transcription,
            )
        return cls(
            flows_dir=flows_dir,
            openai=OpenAIConfig.from_env(env),
            drain_timeout_s=drain_s,
            default_country_code=code,
            transcription_model=transcription or DEFAULT_TRANSCRIPTION_MODEL,
            openai_concurrency=_count(env, "ENGINE_OPENAI_CONCURRENCY", 100),
            tool_concurrency=_count(env, "ENGINE_TOOL_CONCURRENCY", 64),
            records=RecordsSettings.from_env(env),
            studio=_studio_settings(env),
        )


def _studio_settings(env: Mapping[str, str]) -> StudioSettings | None:
    from .studio.settings import StudioSettings

    try:
        settings = StudioSettings.from_env(env)
        if settings.users_file is not None:
            from .studio.users import read_users

            read_users(settings.users_file)  # a mistake stops the start, naming file and line
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return settings if settings.enabled else None


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise ConfigError(f"{name} must be a whole number from 1 to 1000")
    return int(text)


@dataclass
class Engine:
    """Process-wide state: two HTTP clients (call control's and the tools', so a slow tool
    service cannot starve call control), one registry, the calls in progress, and where the
    record of each call goes when it is over (``record_sink``, then each of ``on_record``)."""

    settings: EngineSettings
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    metrics: Metrics = field(default_factory=Metrics)
    draining: bool = False
    record_sink: RecordSink = field(default_factory=RecentRecords)
    on_record: list[RecordConsumer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.registry = Registry(
            self.settings.flows_dir,
            env=self.environ,
            default_country_code=self.settings.default_country_code,
        )
        self.answered = ReplayGuard(ttl_s=3600)
        self._replying: dict[str, asyncio.Future[int]] = {}
        self.calls: dict[str, asyncio.Task[None]] = {}
        self.drivers: dict[str, CallDriver] = {}
        self.records = Records(self.settings.records)  # the database: sink, claims, /calls
        # Each finished record: kept in memory (record_sink), written to the database,
        # counted by flow and outcome, then whatever else asked for it.
        self.on_record[:0] = [self.records.sink.put, self.metrics.record_call]
        code = self.settings.default_country_code
        replica = self.settings.records.replica if self.settings.records else None
        self.recorder = CallRecords(
            self.record_sink, self.on_record, default_country_code=code, replica=replica
        )
        self._watcher: asyncio.Task[None] | None = None
        # `engine studio` only: the built-in simulator playing OpenAI, for the studio's test
        # calls (engine/studio/alone.py).
        self.simulator: Simulator | None = None
        self._probe: asyncio.Task[bool] | None = None
        self._started = False
        self.metrics.watch_live_calls(lambda: len(self.calls))
        writer = self.records.writer
        if writer is not None:
            self.metrics.watch_records_dropped(lambda: writer.dropped)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        settings = self.settings
        # Each pool as large as its slots: requests queue in front of the pool, never in it.
        self.realtime = RealtimePlatform(
            settings.openai,
            _client(settings.openai_concurrency),
            rest_timeout_s=settings.rest_timeout_s,
            max_in_flight=settings.openai_concurrency,
            budgets=settings.rest_budgets,
            on_event=self.metrics.openai_rest,
        )
        self.platform: Platform = self.realtime
        self.tools = HttpToolRunner(
            _client(settings.tool_concurrency), max_in_flight=settings.tool_concurrency
        )
        self._started = True
        self.metrics.start()  # the event loop's lag
        baseline = self._scan()  # before loading, so a file written meanwhile is seen
        self._reload()
        self._watcher = asyncio.create_task(self._watch(baseline))
        await self.records.start()

    async def stop(self) -> None:
        if self._watcher:
            self._watcher.cancel()
        await self.drain(self.settings.drain_timeout_s)
        await self.records.stop(RECORDS_DRAIN_S)  # the ended calls' records, written
        if self._started:
            await self.realtime.control.aclose()
            await self.tools.http.aclose()
        await self.metrics.stop()

    def openai_reachable(self) -> bool:
        """Whether call control reached OpenAI lately, from the outcomes of its requests; when
        nothing was learned for ``readiness_probe_s``, a probe starts in the background (so
        this never waits on the network) and later calls see its outcome."""
        if not self._started:
            return False
        control = self.realtime.control
        stale = control.health.stale(self.settings.readiness_probe_s)
        if stale and (self._probe is None or self._probe.done()):
            self._probe = asyncio.create_task(control.probe())
        return control.health.reachable

    async def drain(self, timeout_s: float) -> None:
        """Stop taking calls; let the live ones finish for up to ``timeout_s``."""
        self.draining = True
        live = dict(self.calls)
        if live:
            log.info("draining: waiting for %d live call(s)", len(live))
            _, pending = await asyncio.wait(live.values(), timeout=timeout_s)
            # The calls the deadline cuts are hung up, not left up at OpenAI with nobody
            # steering them (and billed) once this process is gone.
            cut = [self.drivers[c] for c, t in live.items() if t in pending and c in self.drivers]
            if cut:
                log.warning("drain deadline: hanging up %d call(s)", len(cut))
                hangups = [
                    asyncio.create_task(d.hang_up("the engine is shutting down")) for d in cut
                ]
                # Bounded: an unreachable OpenAI must not hold the process past its stop
                # timeout (call control keeps retrying within its own budget meanwhile).
                _, late = await asyncio.wait(hangups, timeout=DRAIN_HANGUP_WAIT_S)
                if late:
                    log.error("drain: %d hangup(s) not confirmed; exiting anyway", len(late))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def _reload(self, *, settle: bool = False) -> bool:
        """Reload the folder and log what changed; True: a changed file waits for a second
        look (it may still be being written)."""
        report = self.registry.reload(settle=settle)
        answering = self.registry.snapshot.flows

        def problem(level: int, lead: str, d: Diagnostic) -> None:
            # One line per problem (a log line is one record), its place and rule also as
            # fields of their own in JSON logs.
            hint = f" (hint: {d.hint})" if d.hint else ""
            log.log(
                level,
                "%s: %s:%d:%d: %s [%s]%s",
                *(lead, d.file, d.line, d.col, d.message, d.rule, hint),
                extra={"file": d.file, "line": d.line, "col": d.col, "rule": d.rule},
            )

        for path in report.loaded:
            log.info("flow loaded: %s", path, extra={"file": path})
            self.metrics.flow_loaded(path, answering[path].flow.tools)
            # Its text, kept in the records (in the background) for the calls that run it.
            self.records.version_loaded(
                self.registry.folder, path, answering[path].version, report.texts[path]
            )
            for d in report.warnings.get(path, []):
                problem(logging.WARNING, "flow loaded with a warning", d)
        for path in report.removed:
            log.info("flow removed: %s", path, extra={"file": path})
        for path, diagnostics in report.rejected.items():
            if path in answering:
                lead = "flow not loaded, its last good version keeps answering"
            else:  # a new file, or any file at start-up: nothing of it answers
                lead = "flow not loaded (no earlier version is answering)"
            for d in diagnostics:
                problem(logging.ERROR, lead, d)
        if not settle and not answering:
            log.warning(
                "no flow loaded from %s: every call is rejected until one loads",
                self.registry.folder,
            )
        return bool(report.pending)

    def reload_flows(self) -> None:
        """Reload the flows folder now (the studio, after it saved a file), as the watcher
        would at its next look."""
        self._reload()

    def _scan(self) -> dict[str, tuple[int, int]] | None:
        try:
            found = {}
            for path in self.registry.folder.rglob("*"):
                if is_flow_file(path):
                    stat = path.stat()
                    found[str(path)] = (stat.st_mtime_ns, stat.st_size)
            return found
        except OSError:
            return None

    async def _watch(self, last: dict[str, tuple[int, int]] | None = None) -> None:
        """Poll the folder: cheap (a stat per file), portable, and needs no extra package.

        A changed file is taken once two looks in a row find it the same, so a flow being
        rewritten in place is not taken half written (docs/flows.md: save by renaming).
        """
        waiting = False
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            current = self._scan()
            if current is None:
                continue
            if last is None or current != last or waiting:
                waiting = self._reload(settle=True)
            last = current

    # -- the webhook -----------------------------------------------------------------------
    async def webhook(self, request: Request) -> Response:
        received = time.perf_counter()
        if self.draining:
            self.metrics.webhook("draining")
            return _problem(503, "the engine is shutting down; deliver again")
        try:
            body = await _read_limited(
                request, self.settings.max_body_bytes, self.settings.body_timeout_s
            )
        except TimeoutError:
            self.metrics.webhook("body_timeout")
            return _problem(408, "the body did not arrive in time")
        if body is None:
            self.metrics.webhook("too_large")
            return _problem(413, "body too large")
        try:
            call = self.platform.incoming_call(body, request.headers)
        except WebhookRejected as exc:
            self.metrics.webhook("unverified")
            log.warning("webhook rejected: %s", exc.reason)
            return _problem(400, "invalid webhook")
        except ValueError as exc:
            self.metrics.webhook("malformed")
            log.warning("webhook malformed: %s", exc)
            return _problem(400, "malformed realtime.call.incoming event")
        if call is None:
            self.metrics.webhook("ignored")
            return Response(status_code=200)
        answering = len(self._replying) + 1
        status = await self._reply_once(call, received)
        # A burst seen when the delivery came or when its reply went.
        answering = max(answering, len(self._replying) + 1)
        return Response(status_code=status, headers=reply_headers(answering))

    async def _reply_once(self, call: IncomingCall, received: float) -> int:
        """Concurrent and repeated deliveries of one call share one reply."""
        running = self._replying.get(call.call_id)
        if running is not None:
            self.metrics.webhook("duplicate")
            return await asyncio.shield(running)
        if self.answered.seen_before(call.call_id):
            self.metrics.webhook("duplicate")
            return 200
        # Reply inline: a task would wait for a pass of the event loop before its first
        # step, and under load that wait was most of the time from webhook to accept.
        reply: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._replying[call.call_id] = reply
        status = 502
        try:
            # Several replicas: the one that claims the call answers it (records/claims.py).
            elsewhere = await self.records.claims.claim(call.call_id)
            status = (
                await self._decide_and_reply(call, received) if elsewhere is None else elsewhere
            )
        finally:
            self._replying.pop(call.call_id, None)
            if status >= 500:
                self.answered.forget(call.call_id)  # let OpenAI's retry try again
            reply.set_result(status)
            await self.records.claims.settle(call.call_id, status)
        return status

    async def _decide_and_reply(self, call: IncomingCall, received: float) -> int:
        current_call_id.set(call.call_id)  # this request and the call task it starts
        log_ = logging.LoggerAdapter(log, {"call_id": call.call_id})
        decision = decide(
            call_id=call.call_id,
            sip_headers=call.sip_headers,
            snapshot=self.registry.snapshot,
            env=self.environ,
            now=self.settings.clock(),
            transcription_model=self.settings.transcription_model,
        )
        record = self.recorder.decided(call, decision, received)
        if isinstance(decision, Refusal):
            level = logging.INFO if decision.expected else logging.ERROR
            log_.log(level, "%s: rejecting with SIP %d", decision.reason, decision.sip_status)
            self.metrics.webhook("rejected")
            return await self._reject(record, decision.sip_status, received)
        snapshot = decision.flow
        if decision.handoffs:
            log_.info("handed off: %s → %s", " → ".join(decision.handoffs), snapshot.path)
        self.metrics.webhook_to_accept(time.perf_counter() - received)
        outcome = await self._accept(call, decision.session, record)
        if outcome is not None:
            return outcome
        self.metrics.webhook("accepted")
        if decision.opening is None:
            log_.info("accepted with flow %s (version %s)", snapshot.path, snapshot.version)
        else:
            ends = "transfer" if decision.opening.transfer is not None else "say"
            log_.info(
                "accepted with flow %s (version %s) to %s only: %s",
                snapshot.path,
                snapshot.version,
                "say a line and transfer" if ends == "transfer" else "say a line and hang up",
                decision.why,
            )
        task = asyncio.create_task(self._run_call(call.call_id, decision, record))
        self.calls[call.call_id] = task
        task.add_done_callback(lambda _task: self.calls.pop(call.call_id, None))
        return 200

    async def _accept(
        self, call: IncomingCall, session: SessionSpec, record: CallRecorder
    ) -> int | None:
        """Accept (``CallControl`` retries inside its budget). None: accepted; otherwise the
        webhook's answer.

        A call whose accept may have taken effect (an attempt timed out, broke after it was
        sent, or got a 5xx) is never rejected, whatever came after: the webhook gets 502,
        OpenAI delivers it again, and that delivery's accept meets the accepted call
        ("not ringing (state: accepted)", which counts as done) or a call that is gone (404).
        """
        try:
            await self.platform.accept(call.call_id, session)
            return None
        except CallNotFound:
            self.recorder.finish(record, "caller_hung_up", "accept: the call is gone (404)")
            self.metrics.webhook("gone_before_accept")
            return 200
        except CallControlError as exc:
            if exc.uncertain:
                self.recorder.finish(record, "failure", f"accept may have taken effect ({exc})")
                self.metrics.webhook("accept_uncertain")
                return 502
            status = exc.status
            if status is not None and 400 <= status < 500 and status not in (408, 409, 429):
                # OpenAI refused our session (a flow the API does not take), and no attempt
                # could have accepted it: retrying cannot help, and the caller must not be
                # left ringing.
                log.warning("accept refused: %s", exc, extra={"call_id": call.call_id})
                self.metrics.webhook("accept_refused")
                record.refused_session(SIP_TEMPORARILY_UNAVAILABLE, f"accept refused: {exc}")
                return await self._reject(record, SIP_TEMPORARILY_UNAVAILABLE, None)
            self.recorder.finish(record, "failure", f"accept failed: {exc}")
            self.metrics.webhook("accept_failed")
            return 502  # OpenAI delivers the webhook again; the call id is free for that retry

    async def _reject(self, record: CallRecorder, status: int, received: float | None) -> int:
        """Reject the call ``record`` is of, with SIP ``status``; the record is over then."""
        if received is not None:
            self.metrics.webhook_to_accept(time.perf_counter() - received)
        try:
            await self.platform.reject(record.call_id, status)
        except CallNotFound:
            return 200
        except CallControlError as exc:
            log.warning("reject failed: %s", exc, extra={"call_id": record.call_id})
            return 502
        finally:
            self.recorder.finish(record)
        return 200

    async def _run_call(self, call_id: str, answer: Answer, record: CallRecorder) -> None:
        machine = CallMachine(answer.flow.flow, answer.context, opening=answer.opening)
        driver = CallDriver(
            call_id, machine, self.platform, self.tools, on_latency=self.metrics.event_to_action
        )
        driver.observer = record.watch(machine)
        self.drivers[call_id] = driver
        try:
            await driver.run()
        except Exception as exc:  # logged with the call's summary line
            record.failed(exc)
        finally:
            self.drivers.pop(call_id, None)
            self.recorder.finish(record)

    # -- status routes ---------------------------------------------------------------------
    def flows_status(self) -> list[dict[str, Any]]:
        snapshot = self.registry.snapshot
        paths = sorted(set(snapshot.flows) | set(self.registry.problems))
        out = []
        for path in paths:
            good = snapshot.flows.get(path)
            problems = self.registry.problems.get(path, [])
            out.append(
                {
                    "file": path,
                    "name": good.flow.name if good else None,
                    "numbers": list(good.flow.numbers) if good else [],
                    "version": good.version if good else None,
                    # ISO 8601 in UTC, as people and log tools read times.
                    "loaded_at": (
                        datetime.fromtimestamp(good.loaded_at, UTC)
                        .isoformat(timespec="milliseconds")
                        .replace("+00:00", "Z")
                        if good
                        else None
                    ),
                    "problems": [
                        {
                            "line": d.line,
                            "col": d.col,
                            "rule": d.rule,
                            "severity": str(d.severity),
                            "message": d.message,
                            "hint": d.hint,
                        }
                        for d in problems
                    ],
                }
            )
        return out


def _client(max_connections: int) -> Shards:
    return Shards.create(max_connections, follow_redirects=False)


async def _read_limited(request: Request, limit: int, timeout_s: float) -> bytes | None:
    """The body, or None when it is over ``limit`` bytes; ``TimeoutError`` when it has not
    all arrived within ``timeout_s``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(timeout_s):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(engine: Engine) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        reachable = engine.openai_reachable()
        ready = not engine.draining and bool(engine.registry.snapshot.flows) and reachable
        body = {
            "ready": ready,
            "draining": engine.draining,
            "flows": len(engine.registry.snapshot.flows),
            "live_calls": len(engine.calls),
            "openai_reachable": reachable,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def flows(request: Request) -> Response:
        return JSONResponse(engine.flows_status())

    async def metrics(request: Request) -> Response:
        return Response(engine.metrics.render(), media_type=CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route("/webhooks/openai", engine.webhook, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/flows", flows),
        Route("/metrics", metrics),
        *call_routes(engine.records),
    ]
    if engine.settings.studio is not None:  # imported only when on: a plain engine stays light
        from .studio import studio_app

        routes.append(Mount("/studio", app=studio_app(engine, engine.settings.studio)))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.engine = engine
    return app
