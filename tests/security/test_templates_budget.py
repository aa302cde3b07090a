"""Templates with a budget: the attacks of issue #12 (items 3, 6 and 7) run for real.

A template that would compute without end, or build a huge value, fails like any other
failed render instead of freezing the engine; lint refuses it before it loads (and does not
hang on it); sandbox-escape attempts and reading `env` whole are lint errors, and at run
time `env` holds only the variables the flow names.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from engine.call.context import FlowEnv, build_context
from engine.flow.lint import lint_text
from engine.flow.sandbox import MAX_OUTPUT_CHARS, MAX_VALUE_CHARS
from engine.flow.source import load_source
from engine.flow.templates import TemplateError, render
from engine.flow.validate import validate_document
from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import Simulator

from helpers import wait_for

CONTEXT = {
    "caller": {"number": "+14155550100", "name": "Ann"},
    "saved": {"orders": {"list": [{"id": n} for n in range(2_000)]}},
    "env": FlowEnv({"ACME_TOKEN": "t"}),
}

# Each of these froze the event loop (or filled memory) before the budget.
ATTACKS = {
    "power": "{{ 9 ** (9 ** 9) > 1 }}",
    "nested ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "nested ranges under the range cap": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    ),
    "repeat the caller's number": "{{ caller.number * 100000000 }}",
    "nested loops over saved data": (
        "{% for a in saved.orders.list %}{% for b in saved.orders.list %}{{ b.id }}"
        "{% endfor %}{% endfor %}"
    ),
    "doubling text in a loop": (
        "{% set ns = namespace(v='ab') %}{% for i in range(60) %}"
        "{% set ns.v = ns.v ~ ns.v %}{% endfor %}{{ ns.v }}"
    ),
    "a block that collects a huge text": (
        "{% set x %}{% for i in range(10000) %}{{ 'y' * 99000 }}{% endfor %}{% endset %}{{ x }}"
    ),
    "a macro that calls itself twice": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    ),
    "chained replace": "{{ 'a'" + "|replace('a', 'aaaaaaaaaa')" * 9 + " }}",
    "huge filter width": "{{ 'x'|center(999999999) }}",
    "huge method width": "{{ 'x'.ljust(999999999) }}",
    "huge %-format width": "{{ '%0999999999d' % 1 }}",
    "huge .format width": "{{ '{:>999999999}'.format(1) }}",
    "width taken from a value": "{{ '%*d' % (999999999, 1) }}",
    "lipsum": "{{ lipsum(1000000) }}",
    "join with a long separator": "{{ range(10000)|map('string')|join('x' * 90000) }}",
}

ESCAPES = {
    "mro": "{{ ''.__class__.__mro__ }}",
    "cycler globals": "{{ cycler.__init__.__globals__ }}",
    "attr filter": "{{ caller|attr('__class__') }}",
    "format field": "{{ '{0.__class__}'.format(caller.name) }}",
    "subscript": "{{ caller['__class__'] }}",
    "self": "{{ self._TemplateReference__context.cycler.__init__.__globals__ }}",
}


@pytest.mark.parametrize("template", ATTACKS.values(), ids=ATTACKS.keys())
def test_a_runaway_template_fails_as_a_render(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, CONTEXT)


@pytest.mark.parametrize("template", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_sandbox_escape_fails_as_a_render(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, CONTEXT)


def test_ordinary_templates_still_render() -> None:
    assert render("{{ 2 ** 10 }} {{ caller.number * 2 }}", CONTEXT) == (
        "1024 +14155550100+14155550100"
    )
    listed = "{% for o in saved.orders.list[:3] %}{{ o.id }},{% endfor %}"
    assert render(listed, CONTEXT) == "0,1,2,"
    assert render("{{ '%05d'|format(42) }} {{ 'x'|center(5) }}|", CONTEXT) == "00042   x  |"
    assert render("{{ env.ACME_TOKEN }} {{ env['ACME_TOKEN'] }}", CONTEXT) == "t t"
    # The limits are on what a template computes, not on a flow's own long text.
    long_text = "word " * (MAX_VALUE_CHARS // 2) + "{{ caller.name }}"
    assert render(long_text, CONTEXT).endswith("Ann")
    assert len(render("{{ 'ab' * 50000 }}", CONTEXT)) == MAX_VALUE_CHARS
    assert MAX_OUTPUT_CHARS >= MAX_VALUE_CHARS


def _flow(body: str) -> str:
    head = 'name: Attack\nnumbers: ["+18005551212"]\n'
    return head + textwrap.dedent(body)


def _rules(text: str) -> set[str]:
    return {d.rule for d in lint_text("attack.yaml", text, {"ACME_TOKEN": "t"}).diagnostics}


@pytest.mark.parametrize(
    "template",
    [
        ATTACKS["power"],
        ATTACKS["nested ranges"],
        ATTACKS["nested ranges under the range cap"],
        ATTACKS["repeat the caller's number"],
        ATTACKS["huge filter width"],
        ATTACKS["huge %-format width"],
        "{{ 2 ** caller.number|int }}",
        "{% for i in range(caller.number|int) %}x{% endfor %}",
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    ],
)
def test_lint_refuses_what_cannot_be_bounded_and_does_not_hang(template: str) -> None:
    assert "template-budget" in _rules(_flow(f"instructions: '{_q(template)}'\n"))


def _q(template: str) -> str:
    return template.replace("'", "''")  # a YAML single-quoted scalar


@pytest.mark.parametrize("template", ESCAPES.values(), ids=ESCAPES.keys())
def test_lint_refuses_sandbox_escapes(template: str) -> None:
    assert "template-escape" in _rules(_flow(f"instructions: '{_q(template)}'\n"))


@pytest.mark.parametrize(
    "template",
    [
        "{{ env }}",
        "{{ env.items() }}",
        "{% for k in env %}{{ k }}{% endfor %}",
        "{{ env[caller.name] }}",
        "{{ env|list }}",
    ],
)
def test_lint_refuses_env_read_whole(template: str) -> None:
    assert "env-whole" in _rules(_flow(f"instructions: '{_q(template)}'\n"))


def test_env_holds_only_the_variables_the_flow_names() -> None:
    text = _flow(
        """\
        instructions: "Token {{ env.ACME_TOKEN }}, {{ env['ACME_REGION'] }}."
        """
    )
    flow, problems = validate_document(load_source("f.yaml", text))
    assert flow is not None, problems
    environ = {
        "ACME_TOKEN": "tok",
        "ACME_REGION": "eu",
        "DATABASE_PASSWORD": "hunter2",
        "OPENAI_API_KEY": "sk-secret",
    }
    context = build_context(
        call_id="rtc_1",
        flow=flow,
        caller="+14155550100",
        dialled="+18005551212",
        headers=[],
        contact=None,
        env=environ,
        now=datetime(2026, 3, 3, tzinfo=UTC),
    )
    assert render(flow.instructions, context) == "Token tok, eu."
    for whole in (
        "{{ env }}",
        "{{ env.items() }}",
        "{% for k in env %}{{ k }}{% endfor %}",
        "{{ env.DATABASE_PASSWORD }}",
        "{{ env['DATABASE_PASSWORD'] }}",
        "{{ env[caller.name] }}",
        "{{ env.OPENAI_API_KEY }}",
        "{{ env|list }}",
    ):
        with pytest.raises(TemplateError) as failed:
            render(whole, context)
        assert "hunter2" not in str(failed.value) and "sk-secret" not in str(failed.value)
    assert "hunter2" not in repr(context["env"])


FLOWS = {
    # Passes lint (the repeat count is small), but a caller whose display name is long makes
    # the instructions too big to build: the call is refused (480), the engine carries on.
    "attack.yaml": """\
        name: Attack
        numbers: ["+18005550001"]
        instructions: "Greet {{ caller.name * 900 }}."
        """,
    "normal.yaml": """\
        name: Normal
        numbers: ["+18005550002"]
        instructions: You are a helpful agent.
        """,
}


def test_a_runaway_render_refuses_its_call_and_others_go_on(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    for name, text in FLOWS.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    assert _rules((folder / "attack.yaml").read_text()) == set()

    async def main() -> None:
        async with Simulator() as sim:
            engine = Engine(EngineSettings(flows_dir=str(folder), openai=sim.config()), environ={})
            async with running_engine(engine) as url, httpx.AsyncClient() as http:
                hook = url + "/webhooks/openai"
                attack = [
                    sim.place_call(hook, to="+18005550001", caller_name="A" * 200) for _ in range(5)
                ]
                normal = sim.place_call(hook, to="+18005550002")
                health = http.get(url + "/healthz", timeout=5)
                *refused, accepted, healthy = await asyncio.gather(*attack, normal, health)
                for placed in refused:
                    assert placed.status == 200
                    assert placed.call.reject_status == 480
                assert accepted.status == 200 and accepted.call.reject_status is None
                await accepted.call.wait_connected()
                assert healthy.status_code == 200
                await accepted.call.hang_up()
                await wait_for(lambda: not engine.calls, 5, "the call to end")

    asyncio.run(asyncio.wait_for(main(), 30))


def test_renders_inside_a_shared_budget_spend_it_together() -> None:
    # `engine lint` renders a transfer target once per enum value, on hot reload too: all
    # those renders share one render's budget instead of each having its own.
    from engine.flow.sandbox import shared_budget

    loop = "{% for i in range(60) %}{{ i }}{% endfor %}"
    with shared_budget(seconds=10, steps=100):
        render(loop, CONTEXT)
        with pytest.raises(TemplateError, match="steps"):
            render(loop, CONTEXT)
    render(loop, CONTEXT)  # outside, each render has its own budget again


def test_a_service_field_starting_with_an_underscore_is_data() -> None:
    # `_id` in a service's JSON answer is a field, not a way into the engine.
    text = _flow("instructions: 'Order {{ saved.order._id }}.'\n")
    text += "tools:\n  get:\n    description: Get.\n"
    text += "    http: {url: 'https://api.example.com/o', save_as: order}\n"
    assert not {"template-escape"} & _rules(text)
    assert render("{{ saved.order._id }}", {"saved": {"order": {"_id": 7}}}) == "7"


def test_lint_renders_of_a_slow_transfer_target_stay_within_one_budget() -> None:
    # Lint renders a transfer target once per enum value. This one passes the static checks
    # (90,000 rounds) yet is slow; rendered 20 times it would hold up a hot reload, so its
    # renders share one render's budget and lint finishes (the test's own timeout is the
    # bound), still reporting the URL's runaway constructs.
    values = ", ".join(f'"{n}"' for n in range(1, 21))
    slow = "{% for i in range(10000) %}{% for j in range(9) %}{% endfor %}{% endfor %}"
    text = _flow(
        f"""\
        instructions: Hi.
        tools:
          move:
            description: Transfer.
            parameters:
              ext: {{type: string, enum: [{values}], description: The extension}}
            transfer: "sip:{slow}{{{{ args.ext }}}}@pbx.example.com"
          look:
            description: Look.
            http:
              url: "https://api.example.com/{{{{ 9 ** (9 ** 9) }}}}"
        """
    )
    diagnostics = lint_text("attack.yaml", text, {}).diagnostics
    assert [d.rule for d in diagnostics if d.rule == "template-budget"] == ["template-budget"]
