import base64

import pytest

from engine.openai import ConfigError, OpenAIConfig, sideband_url

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
KEY = "sk-proj-abcdefghijklmnop"


def env(**overrides):
    base = {"OPENAI_API_KEY": KEY, "OPENAI_WEBHOOK_SECRET": SECRET}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_reads_environment_with_default_base_url():
    config = OpenAIConfig.from_env(env())
    assert config.api_key == KEY
    assert config.webhook_secret == SECRET
    assert config.base_url == "https://api.openai.com/v1"


def test_custom_base_url_loses_trailing_slash():
    config = OpenAIConfig.from_env(env(OPENAI_BASE_URL="http://127.0.0.1:9000/v1/"))
    assert config.base_url == "http://127.0.0.1:9000/v1"


def test_repr_hides_secrets():
    text = repr(OpenAIConfig.from_env(env()))
    assert KEY not in text
    assert SECRET not in text


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"OPENAI_API_KEY": None}, "OPENAI_API_KEY is not set"),
        ({"OPENAI_API_KEY": "  "}, "OPENAI_API_KEY is set but empty"),
        ({"OPENAI_API_KEY": "sk-abc def"}, "OPENAI_API_KEY contains whitespace"),
        ({"OPENAI_API_KEY": SECRET}, "OPENAI_API_KEY looks like a webhook signing secret"),
        ({"OPENAI_WEBHOOK_SECRET": None}, "OPENAI_WEBHOOK_SECRET is not set"),
        ({"OPENAI_WEBHOOK_SECRET": ""}, "OPENAI_WEBHOOK_SECRET is set but empty"),
        ({"OPENAI_WEBHOOK_SECRET": "abc"}, "OPENAI_WEBHOOK_SECRET must start with 'whsec_'"),
        ({"OPENAI_WEBHOOK_SECRET": "whsec_"}, "has nothing after 'whsec_'"),
        ({"OPENAI_WEBHOOK_SECRET": "whsec_not*base64!"}, "is not valid base64"),
        ({"OPENAI_WEBHOOK_SECRET": "v1,abcd"}, "belongs to signatures"),
        ({"OPENAI_WEBHOOK_SECRET": KEY}, "looks like an API key"),
        ({"OPENAI_BASE_URL": "ftp://example.com"}, "OPENAI_BASE_URL must be an http(s) URL"),
        ({"OPENAI_BASE_URL": "api.openai.com/v1"}, "OPENAI_BASE_URL must be an http(s) URL"),
        ({"OPENAI_BASE_URL": "https://x.test/v1?a=b"}, "OPENAI_BASE_URL must not have a query"),
    ],
)
def test_bad_environment_names_the_variable_without_echoing_it(overrides, expected):
    with pytest.raises(ConfigError) as info:
        OpenAIConfig.from_env(env(**overrides))
    message = str(info.value)
    assert expected in message
    for name, value in overrides.items():
        if name != "OPENAI_BASE_URL" and value and len(value) > len("whsec_"):
            assert value not in message


def test_unpadded_secret_is_accepted():
    unpadded = SECRET.rstrip("=")
    assert OpenAIConfig.from_env(env(OPENAI_WEBHOOK_SECRET=unpadded)).webhook_secret == unpadded


@pytest.mark.parametrize(
    ("base", "call_id", "expected"),
    [
        (
            "https://api.openai.com/v1",
            "rtc_123",
            "wss://api.openai.com/v1/realtime?call_id=rtc_123",
        ),
        (
            "http://127.0.0.1:8123/v1/",
            "rtc_u1_9c65",
            "ws://127.0.0.1:8123/v1/realtime?call_id=rtc_u1_9c65",
        ),
        (
            "HTTPS://eu.example.test/openai/v1",
            "a/b c&d=e",
            "wss://eu.example.test/openai/v1/realtime?call_id=a%2Fb%20c%26d%3De",
        ),
    ],
)
def test_sideband_url(base, call_id, expected):
    assert sideband_url(base, call_id) == expected


def test_sideband_url_rejects_other_schemes():
    with pytest.raises(ValueError):
        sideband_url("ftp://x/v1", "rtc_1")
