"""Templates are parsed and analysed once per shape (``engine.flow.templates.template_shape``):
what lint finds in a template must not depend on the text between its `{{ … }}`, and where
the shape is not safe to use the template is read as it is."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.flow.lint import lint_text
from engine.flow.rules.template_safety import _findings, findings
from engine.flow.templates import _analyzed, analyze, template_shape

# Expressions flows write, and mistakes they make: unknown names and filters, a call on
# `env`, a power, a repeat, an unclosed `{{`, a lone `}`, line breaks inside.
EXPRESSIONS = [
    "{{ caller.number }}",
    "{{ args.record_id }}",
    "{{ env.ACME_TOKEN }}",
    "{{ env.OPENAI_API_KEY }}",
    "{{ caler.number }}",
    "{{ caller.nubmer }}",
    "{{ saved.order.status }}",
    "{{ vars.desk | upper }}",
    "{{ vars.desk | uper }}",
    "{{ caller.number is odd }}",
    "{{ caller.number is oddd }}",
    "{{ env.items() }}",
    "{{ env }}",
    "{{ 9 ** 99999 }}",
    "{{ caller.number * 100000 }}",
    "{{ range(100000) | list }}",
    "{{ self }}",
    "{{ now.hour < 12 }}",
    "{{ caller.__class__ }}",
    "{{\n  caller.number\n}}",
    "{{ caller.number\n + args.x }}",
    "{{ }}",
    "{{ caller.number",
    "{{ caller.number }",
    "{{- caller.number -}}",
    "{{ 'quoted }}' }}",
    '{{ "x" ~ caller.number }}',
    "{{ {'a': 1} }}",
    "{% if caller.number %}yes{% endif %}",
    "{% if caller.number %}",
    "{% for x in range(10) %}{% for y in saved.items %}{% endfor %}{% endfor %}",
    "{# a comment #}",
]
TEXT = st.text(alphabet="ab %#-'\"{}\n\r\t.é", max_size=12)


@st.composite
def templates(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.sampled_from(EXPRESSIONS), min_size=1, max_size=4))
    out = [draw(TEXT)]
    for piece in pieces:
        out += [piece, draw(TEXT)]
    return "".join(out)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates())
def test_a_template_is_analysed_as_its_own_text_would_be(source: str) -> None:
    # `_analyzed` and `_findings` read the text they are given as it is: the reference.
    assert analyze(source) == _analyzed(source)
    assert findings(source) == _findings(source)


def test_urls_that_differ_only_in_their_text_share_one_shape() -> None:
    one = "https://api1.example.com/records/{{ args.record_id }}"
    other = "https://api2.example.com/orders/{{ args.record_id }}"
    assert template_shape(one) == template_shape(other) == "x{{ args.record_id }}"
    # Line breaks are kept, so what is found is still on the right line.
    assert template_shape("Hello\nthere {{ caller.nubmer }}.\n") == "x\n{{ caller.nubmer }}x\n"
    # Anything Jinja could read differently is left as it is.
    for source in ["{{ 'a' }}", "{% if x %}{% endif %}", "a{b{{ x }}", "{{- x }}", "a\r\n{{ x }}"]:
        assert template_shape(source) == source


def test_a_misspelt_name_is_found_on_its_own_line_whatever_the_text() -> None:
    flow = (
        'name: A\nnumbers: ["+18005550100"]\ninstructions: |\n'
        "  {text}\n  Greet {{{{ caler.number }}}}.\n"
    )
    short = lint_text("a.yaml", flow.format(text="Hi."), env={}).diagnostics
    long = lint_text("a.yaml", flow.format(text="Hello, this is a longer line."), env={})
    assert [(d.line, d.col, d.rule, d.message) for d in short] == [
        (d.line, d.col, d.rule, d.message) for d in long.diagnostics
    ]
    assert [(d.line, d.rule) for d in short] == [(5, "template-name")]
