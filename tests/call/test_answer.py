"""decide(): the number, then caller rules, then hours, then the normal answer."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from types import MappingProxyType

import pytest
import yaml

from engine.call.answer import MAX_HANDOFFS, Answer, Refusal, decide
from engine.flow.model import Flow, Step, Tool
from engine.flow.registry import FlowSnapshot, Snapshot

FOLDER = "/flows"
# Monday 2 March 2026; London is on GMT (UTC+0) that day.
OPEN = datetime(2026, 3, 2, 17, 29, tzinfo=UTC)
CLOSED = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
SATURDAY = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)

SUPPORT = """\
name: Support
numbers: ["+18005551212"]
instructions: You are Acme support. The caller is {{ caller.number }}.
greeting: Thanks for calling Acme.
timezone: Europe/London
vars:
  desk: "+15551230000"
start: main
states:
  main:
    instructions: Help with orders.
    tools: [bye]
tools:
  bye:
    description: End the call.
    hangup: true
callers:
  - numbers: ["+19005550123", "+1888*"]
    reject: 603
  - numbers: ["+14155550199"]
    flow: vip
  - anonymous: true
    say: We do not take calls from withheld numbers. Goodbye.
hours:
  open:
    mon-fri: "09:00-17:30"
  closed_dates: ["12-25"]
  when_closed:
    reject: 486
"""

VIP = """\
name: VIP
numbers: ["+18005550002"]
model: gpt-realtime-mini
voice: cedar
instructions: You are the VIP desk.
tools:
  to_desk:
    description: Transfer to the desk.
    transfer: "+15551239999"
"""

JANE = '"Jane" <sip:+14155550100@carrier.example>;tag=1'


def flow_of(text: str) -> Flow:
    return Flow.model_validate(yaml.safe_load(textwrap.dedent(text)))


def snapshot(**files: str) -> Snapshot:
    """A snapshot of flows by file stem, without the linter (so broken ones can be tested)."""
    flows = {
        f"{FOLDER}/{stem.replace('_', '-')}.yaml": FlowSnapshot(
            f"{FOLDER}/{stem.replace('_', '-')}.yaml", flow_of(text), "v1", 0.0
        )
        for stem, text in files.items()
    }
    by_number = {}
    catch_all = None
    for snap in flows.values():
        for number in snap.flow.numbers:
            if number == "*":
                catch_all = catch_all or snap
            else:
                by_number.setdefault(number, snap)
    return Snapshot(MappingProxyType(flows), MappingProxyType(by_number), catch_all)


def with_hours(when_closed: str, extra: str = "") -> str:
    """SUPPORT with other callers rules and another when_closed."""
    head = SUPPORT.split("callers:")[0]
    return (
        head
        + extra
        + 'hours:\n  open:\n    mon-fri: "09:00-17:30"\n  when_closed:\n'
        + textwrap.indent(textwrap.dedent(when_closed).rstrip("\n") + "\n", "    ")
    )


def call(
    snap: Snapshot,
    *,
    now: datetime = OPEN,
    to: str = "+18005551212",
    from_: str = JANE,
    pai: str | None = None,
    privacy: str | None = None,
) -> Answer | Refusal:
    headers = [("From", from_), ("To", f"<sip:{to}@sip.api.openai.com>")]
    if pai is not None:
        headers.append(("P-Asserted-Identity", pai))
    if privacy is not None:
        headers.append(("Privacy", privacy))
    return decide(call_id="rtc_1", sip_headers=headers, snapshot=snap, env={}, now=now)


def answer(decision: Answer | Refusal) -> Answer:
    assert isinstance(decision, Answer), decision
    return decision


def refusal(decision: Answer | Refusal) -> Refusal:
    assert isinstance(decision, Refusal), decision
    return decision


# --- the normal answer -------------------------------------------------------------------


def test_open_hours_answer_normally() -> None:
    got = answer(call(snapshot(support=SUPPORT, vip=VIP), now=OPEN))
    assert got.opening is None and got.why is None and got.handoffs == ()
    assert got.flow.path == f"{FOLDER}/support.yaml"
    assert [t.name for t in got.session.tools] == ["bye"]
    assert "Help with orders." in got.session.instructions
    assert got.context["now"].tzinfo is not None and got.context["now"].hour == 17


def test_no_flow_for_the_number() -> None:
    got = refusal(call(snapshot(support=SUPPORT), to="+18005550000"))
    assert (got.sip_status, got.kind, got.expected) == (404, "unknown_number", True)


def test_a_flow_without_hours_or_rules_is_always_open() -> None:
    got = answer(call(snapshot(vip=VIP), to="+18005550002", now=SATURDAY))
    assert got.opening is None


# --- hours -------------------------------------------------------------------------------


def test_closed_reject() -> None:
    got = refusal(call(snapshot(support=SUPPORT, vip=VIP), now=CLOSED))
    assert (got.sip_status, got.kind, got.expected) == (486, "closed", True)
    assert got.flow is not None and got.flow.path.endswith("support.yaml")
    assert "closed (Mon 2026-03-02 17:30 Europe/London)" in got.reason


def test_closed_dates_every_year() -> None:
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)  # a Friday
    assert refusal(call(snapshot(support=SUPPORT, vip=VIP), now=christmas)).kind == "closed"


def test_hours_are_the_flows_time_zone() -> None:
    # 08:30 UTC on 1 June is 09:30 in London (BST): open. 16:30 UTC is 17:30 there: closed.
    snap = snapshot(support=SUPPORT, vip=VIP)
    assert answer(call(snap, now=datetime(2026, 6, 1, 8, 30, tzinfo=UTC))).opening is None
    assert refusal(call(snap, now=datetime(2026, 6, 1, 16, 30, tzinfo=UTC))).sip_status == 486


def test_closed_say_answers_with_no_tools_and_an_opening() -> None:
    text = with_hours(
        "say: We're closed, {{ caller.name }}. Our hours are nine to half past five. Goodbye."
    )
    got = answer(call(snapshot(support=text), now=CLOSED))
    assert got.session.tools == ()
    assert got.session.model == "gpt-realtime-2.1" and got.session.voice == "marin"
    # The flow's instructions only: the start state's are about a conversation not held.
    assert got.session.instructions == "You are Acme support. The caller is +14155550100."
    assert got.session.idle is None
    assert got.opening == Tool(
        description=got.opening.description,
        say="We're closed, {{ caller.name }}. Our hours are nine to half past five. Goodbye.",
        hangup=True,
    )
    assert got.why is not None and got.why.startswith("closed")


def test_closed_transfer_with_a_line() -> None:
    text = with_hours(
        'say: Let me put you through to our answering service.\ntransfer: "{{ vars.desk }}"'
    )
    got = answer(call(snapshot(support=text), now=CLOSED))
    assert got.session.tools == ()
    assert got.opening is not None
    assert got.opening.say == "Let me put you through to our answering service."
    assert got.opening.transfer == "{{ vars.desk }}"  # rendered by the call machine
    assert got.opening.hangup is False
    assert got.opening.fallback == Step(say=got.flow.flow.lines.tools_failing, hangup=True)


def test_closed_transfer_without_a_line() -> None:
    got = answer(call(snapshot(support=with_hours('transfer: "+15551230000"')), now=CLOSED))
    assert got.opening is not None and got.opening.say is None
    assert got.opening.transfer == "+15551230000"


def test_flow_lines_speak_the_fallback() -> None:
    text = with_hours('transfer: "+15551230000"') + (
        "lines:\n  tools_failing: Lo siento, no podemos atenderle. Adiós.\n"
    )
    got = answer(call(snapshot(support=text), now=CLOSED))
    assert got.opening is not None and got.opening.fallback is not None
    assert got.opening.fallback.say == "Lo siento, no podemos atenderle. Adiós."


@pytest.mark.parametrize(
    "when_closed",
    [
        "say: Closed, {{ vars.missing }}.",
        'say: Closed.\ntransfer: "{{ vars.missing }}"',
        "say: Closed {% if %}",
    ],
)
def test_a_line_that_does_not_render_refuses_480(when_closed: str) -> None:
    got = refusal(call(snapshot(support=with_hours(when_closed)), now=CLOSED))
    assert (got.sip_status, got.kind, got.expected) == (480, "template", False)
    assert "closed" in got.reason and "failed" in got.reason


def test_hours_the_engine_cannot_read_refuse_480() -> None:
    text = SUPPORT.replace('mon-fri: "09:00-17:30"', 'mon-fri: "17:30-09:00"')
    got = refusal(call(snapshot(support=text, vip=VIP), now=OPEN))
    assert (got.sip_status, got.kind) == (480, "flow_error")
    assert "ends before it starts" in got.reason


def test_an_outcome_with_nothing_to_do_refuses_480() -> None:
    got = refusal(call(snapshot(support=with_hours("{}")), now=CLOSED))
    assert (got.sip_status, got.kind) == (480, "flow_error")


# --- caller rules ------------------------------------------------------------------------


def test_a_blocked_caller_is_rejected_even_when_open() -> None:
    got = refusal(call(snapshot(support=SUPPORT, vip=VIP), from_="<sip:+19005550123@c>"))
    assert (got.sip_status, got.kind, got.expected) == (603, "caller_rule", True)
    assert "caller rule 1" in got.reason
    assert "+19005550123" in got.reason  # the rule's own numbers, not the headers


def test_a_prefix_rule() -> None:
    got = refusal(call(snapshot(support=SUPPORT, vip=VIP), from_="<sip:+18885550000@c>"))
    assert got.sip_status == 603


def test_caller_rules_come_before_hours() -> None:
    got = refusal(
        call(snapshot(support=SUPPORT, vip=VIP), from_="<sip:+19005550123@c>", now=CLOSED)
    )
    assert (got.sip_status, got.kind) == (603, "caller_rule")


def test_the_asserted_identity_is_the_caller() -> None:
    got = refusal(
        call(
            snapshot(support=SUPPORT, vip=VIP),
            from_="<sip:+14155550100@c>",
            pai="<sip:+19005550123@198.51.100.21>",
        )
    )
    assert got.sip_status == 603


def test_a_vip_goes_to_the_vip_flow_even_when_closed() -> None:
    got = answer(call(snapshot(support=SUPPORT, vip=VIP), from_="<sip:+14155550199@c>", now=CLOSED))
    assert got.flow.path == f"{FOLDER}/vip.yaml"
    assert got.handoffs == (f"{FOLDER}/support.yaml",)
    assert got.opening is None
    assert got.session.model == "gpt-realtime-mini" and got.session.voice == "cedar"
    assert got.session.instructions == "You are the VIP desk."
    assert [t.name for t in got.session.tools] == ["to_desk"]
    assert got.context["call"]["state"] == ""  # the VIP flow has no states
    assert got.context["caller"]["number"] == "+14155550199"


@pytest.mark.parametrize(
    ("from_", "pai", "privacy"),
    [
        ('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1', None, None),
        ("<sip:restricted@carrier.example>", None, None),
        ('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1', "<sip:+14155550100@x>", "id"),
        (JANE, "<sip:+14155550100@x>", "id"),
    ],
)
def test_anonymous_callers(from_: str, pai: str | None, privacy: str | None) -> None:
    got = answer(call(snapshot(support=SUPPORT, vip=VIP), from_=from_, pai=pai, privacy=privacy))
    assert got.opening is not None and got.opening.hangup
    assert got.opening.say == "We do not take calls from withheld numbers. Goodbye."
    assert got.why is not None and got.why.startswith("caller rule 3 (anonymous)")
    assert got.session.tools == ()


def test_a_caller_rule_with_a_bad_number_refuses_480() -> None:
    text = SUPPORT.replace('"+1888*"', '"1888*"')
    got = refusal(call(snapshot(support=text, vip=VIP), from_="<sip:+14155550100@c>"))
    assert (got.sip_status, got.kind) == (480, "flow_error")
    assert '"1888*" is not a number prefix' in got.reason


# --- hand-offs ---------------------------------------------------------------------------

AFTER_HOURS = """\
name: After hours
numbers: ["+18005550003"]
instructions: You take messages after hours.
tools:
  bye:
    description: End the call.
    hangup: true
"""


def test_closed_hands_off_to_another_flow() -> None:
    snap = snapshot(support=with_hours("flow: after-hours"), after_hours=AFTER_HOURS)
    got = answer(call(snap, now=CLOSED))
    assert got.flow.path == f"{FOLDER}/after-hours.yaml"
    assert got.session.instructions == "You take messages after hours."
    assert [t.name for t in got.session.tools] == ["bye"]
    assert got.opening is None
    assert got.context["called"]["number"] == "+18005551212"  # still the number dialled
    # Open: the support flow itself.
    assert answer(call(snap, now=OPEN)).flow.path == f"{FOLDER}/support.yaml"


def test_the_handed_to_flow_applies_its_own_rules_and_hours() -> None:
    night = AFTER_HOURS + textwrap.dedent(
        """\
        timezone: America/New_York
        hours:
          open:
            mon-sun: "00:00-24:00"
          closed_dates: ["2026-03-02"]
          when_closed:
            reject: 480
        """
    )
    snap = snapshot(support=with_hours("flow: after-hours"), after_hours=night)
    got = refusal(call(snap, now=CLOSED))  # 12:30 on 2 March in New York
    assert (got.sip_status, got.kind) == (480, "closed")
    assert got.flow is not None and got.flow.path.endswith("after-hours.yaml")
    # The next day in New York the after-hours flow answers.
    later = answer(call(snap, now=datetime(2026, 3, 3, 17, 30, tzinfo=UTC)))
    assert later.flow.path.endswith("after-hours.yaml")
    assert later.context["now"].utcoffset().total_seconds() == -5 * 3600


def test_the_stem_may_carry_its_suffix() -> None:
    snap = snapshot(support=with_hours("flow: after-hours.yaml"), after_hours=AFTER_HOURS)
    assert answer(call(snap, now=CLOSED)).flow.path.endswith("after-hours.yaml")


def test_an_unknown_hand_off_refuses_480() -> None:
    got = refusal(call(snapshot(support=with_hours("flow: after-hour")), now=CLOSED))
    assert (got.sip_status, got.kind, got.expected) == (480, "handoff", False)
    assert "'after-hour'" in got.reason and "not loaded" in got.reason


def test_a_hand_off_loop_refuses_480() -> None:
    ping = with_hours("flow: pong")
    pong = AFTER_HOURS + "hours:\n  open: {}\n  when_closed:\n    flow: support\n"
    got = refusal(call(snapshot(support=ping, pong=pong), now=CLOSED))
    assert (got.sip_status, got.kind) == (480, "handoff")
    assert "loop" in got.reason
    assert got.reason.count("→") == MAX_HANDOFFS + 1


def test_four_hand_offs_are_allowed() -> None:
    chain = {
        f"f{i}": AFTER_HOURS.replace("+18005550003", f"+1800555010{i}")
        + f"hours:\n  open: {{}}\n  when_closed:\n    flow: f{i + 1}\n"
        for i in range(1, 4)
    }
    first = with_hours("flow: f1")
    last = AFTER_HOURS.replace("+18005550003", "+18005550104").replace("after hours", "the end")
    got = answer(call(snapshot(support=first, f4=last, **chain), now=CLOSED))
    assert got.flow.path == f"{FOLDER}/f4.yaml"
    assert len(got.handoffs) == MAX_HANDOFFS
    assert "the end" in got.session.instructions


def test_a_hand_off_stays_in_its_folder() -> None:
    snap = snapshot(support=with_hours("flow: after-hours"))
    other = FlowSnapshot("/elsewhere/after-hours.yaml", flow_of(AFTER_HOURS), "v1", 0.0)
    snap = Snapshot(
        MappingProxyType({**snap.flows, other.path: other}), snap.by_number, snap.catch_all
    )
    assert snap.by_stem("after-hours") is other
    assert snap.by_stem("after-hours", beside=f"{FOLDER}/support.yaml") is None
    assert refusal(call(snap, now=CLOSED)).kind == "handoff"


def test_instructions_that_do_not_render_still_refuse() -> None:
    text = VIP.replace("You are the VIP desk.", "Hi {{ vars.nope }}")
    got = refusal(call(snapshot(vip=text), to="+18005550002"))
    assert (got.sip_status, got.kind) == (480, "template")
    assert "instructions failed" in got.reason
