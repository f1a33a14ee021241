"""Unit tests of envoy/litellm_config.py (LiteLLM config.yaml -> the filter's JSON config).
Plain Python: no Envoy, no filter build needed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "envoy"))

import litellm_config  # noqa: E402
from litellm_config import convert  # noqa: E402

EXAMPLE_YAML = REPO / "examples" / "litellm-config.yaml"
EXAMPLE_JSON = REPO / "examples" / "config.json"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_example_converts_to_the_shipped_plugin_config():
    # examples/config.json is exactly the converted example (regenerate it with the CLI).
    assert convert(EXAMPLE_YAML.read_text(), {}) == json.loads(EXAMPLE_JSON.read_text())
    # The process environment does not leak in: api_key references stay references.
    env = {"OPENAI_API_KEY": "sk-from-env", "AZURE_API_KEY": "az-from-env"}
    assert convert(EXAMPLE_YAML.read_text(), env) == json.loads(EXAMPLE_JSON.read_text())


def test_example_content():
    out = convert(EXAMPLE_YAML.read_text(), {})
    models = {m["model_name"]: m for m in out["model_list"]}
    gpt = models["gpt-4o"]
    assert gpt["litellm_params"]["model"] == "openai/gpt-4o"
    assert gpt["litellm_params"]["api_base"] == "http://127.0.0.1:18080/v1"
    assert gpt["litellm_params"]["api_key"] == "os.environ/OPENAI_API_KEY"
    assert gpt["model_info"]["id"] == "gpt-4o-fake"
    assert any(m["litellm_params"]["model"].startswith("azure/") for m in out["model_list"])

    assert out["general_settings"]["master_key"] == "sk-1234"
    assert out["general_settings"]["alerting"] == ["slack"]
    assert "outage_alerts" in out["general_settings"]["alert_to_webhook_url"]
    ls = out["litellm_settings"]
    assert "prometheus" in ls["callbacks"]
    assert ls["custom_prometheus_metadata_labels"] == ["metadata.app"]
    assert ls["custom_prometheus_tags"] == ["prod", "team-a"]
    assert out["environment_variables"] == {"SLACK_WEBHOOK_URL": "http://127.0.0.1:18081/slack"}

    (key,) = out["telemetry_settings"]["keys"]
    assert key == {
        "hashed_api_key": sha256("sk-demo"),
        "key_alias": "demo-key",
        "team_id": "team-a",
        "team_alias": "Team A",
        "user_id": "alice",
        "user_email": "alice@example.com",
    }
    assert "sk-demo" not in json.dumps(out)


SECRETS_YAML = """
model_list:
  - model_name: m1
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-literal-secret
      api_base: os.environ/M1_BASE
      aws_secret_access_key: aws-literal-secret
      aws_region_name: os.environ/REGION
      input_cost_per_token: 0.000002
    model_info:
      id: m1
      access_token: info-literal-secret
  - model_name: m2
    litellm_params:
      model: azure/dep
      api_key: os.environ/AZURE_API_KEY
      api_base: os.environ/UNSET_BASE
litellm_settings:
  cache: true
  cache_params:
    type: redis
    password: redis-literal-secret
    host: os.environ/REDIS_HOST
  success_callback: ["prometheus"]
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  database_url: postgres://u:db-literal-secret@db/litellm
  alerting: ["slack", "webhook"]
router_settings:
  redis_password: router-literal-secret
  routing_strategy: usage-based-routing-v2
environment_variables:
  OPENAI_API_KEY: env-literal-secret
  SLACK_WEBHOOK_URL: https://hooks.example.com/services/T0/B0/x
  M1_BASE: http://127.0.0.1:18080/v1
  TIMEOUT: 30
guardrails:
  - guardrail_name: g
    litellm_params: {guardrail: aporia, api_key: guard-literal-secret}
credential_list:
  - credential_name: c
    credential_values: {api_key: cred-literal-secret}
telemetry_settings:
  keys:
    - api_key: sk-team-key
      team_id: t1
    - api_key: os.environ/SERVICE_KEY
      key_alias: svc
  max_series_per_metric: 100
"""


def test_no_literal_secret_is_copied_except_the_master_key():
    env = {"LITELLM_MASTER_KEY": "sk-master-from-env", "REGION": "us-east-1"}
    out = convert(SECRETS_YAML, env)
    text = json.dumps(out)
    for secret in ("sk-literal-secret", "aws-literal-secret", "info-literal-secret", "redis-literal-secret",
                   "db-literal-secret", "router-literal-secret", "env-literal-secret",
                   "guard-literal-secret", "cred-literal-secret", "sk-team-key"):
        assert secret not in text, secret

    m1, m2 = out["model_list"]
    assert m1["litellm_params"] == {
        "model": "openai/gpt-4o",
        "api_base": "http://127.0.0.1:18080/v1",   # resolved from environment_variables
        "aws_region_name": "us-east-1",            # resolved from env
        "input_cost_per_token": 0.000002,          # "_token" in a price is not a credential
    }
    assert m1["model_info"] == {"id": "m1"}
    # References are kept: api_key as written, an unresolvable api_base for the filter to resolve.
    assert m2["litellm_params"] == {"model": "azure/dep", "api_key": "os.environ/AZURE_API_KEY",
                                    "api_base": "os.environ/UNSET_BASE"}

    assert out["general_settings"] == {"master_key": "sk-master-from-env", "alerting": ["slack", "webhook"]}
    assert out["litellm_settings"]["cache_params"] == {"type": "redis", "host": "os.environ/REDIS_HOST"}
    assert out["router_settings"] == {"routing_strategy": "usage-based-routing-v2"}
    assert out["environment_variables"] == {
        "SLACK_WEBHOOK_URL": "https://hooks.example.com/services/T0/B0/x",
        "M1_BASE": "http://127.0.0.1:18080/v1",
        "TIMEOUT": 30,
    }
    # Emptied, named only (the filter lists them as ignored).
    assert out["guardrails"] is None and out["credential_list"] is None
    assert out["telemetry_settings"] == {
        "keys": [{"hashed_api_key": sha256("sk-team-key"), "team_id": "t1"},
                 {"api_key": "os.environ/SERVICE_KEY", "key_alias": "svc"}],
        "max_series_per_metric": 100,
    }


def test_telemetry_key_references_are_hashed_when_resolvable():
    yaml_text = ("telemetry_settings:\n  keys:\n    - {api_key: os.environ/SERVICE_KEY, key_alias: svc}\n"
                 "environment_variables:\n  SERVICE_KEY: sk-svc\n  APP_NAME: demo\n")
    out = convert(yaml_text, {})
    assert out["telemetry_settings"]["keys"] == [{"hashed_api_key": sha256("sk-svc"), "key_alias": "svc"}]
    # A variable referenced from a credential key is dropped, whatever its name (SVC below).
    assert out["environment_variables"] == {"APP_NAME": "demo"}
    out = convert(yaml_text.replace("SERVICE_KEY", "SVC"), {})
    assert out["environment_variables"] == {"APP_NAME": "demo"}
    assert "sk-svc" not in json.dumps(out)


def test_master_key_reference_resolution():
    yaml_text = "general_settings:\n  master_key: os.environ/MK\n"
    assert convert(yaml_text, {})["general_settings"]["master_key"] == "os.environ/MK"
    assert convert(yaml_text, {"MK": "sk-x"})["general_settings"]["master_key"] == "sk-x"
    with_vars = yaml_text + "environment_variables:\n  MK: sk-from-file\n"
    out = convert(with_vars, {"MK": "sk-from-env"})
    # As in LiteLLM, environment_variables win; the secret-looking variable itself is not copied.
    assert out["general_settings"]["master_key"] == "sk-from-file"
    assert "environment_variables" not in out


def test_degenerate_documents():
    assert convert("", {}) == {}
    assert convert("# only a comment\n", {}) == {}
    assert convert("model_list: []\n", {}) == {"model_list": []}
    with pytest.raises(ValueError, match="mapping"):
        convert("- a\n- b\n", {})
    with pytest.raises(ValueError, match="both api_key and hashed_api_key"):
        convert("telemetry_settings:\n  keys:\n    - {api_key: a, hashed_api_key: b}\n", {})
    # Wrong types pass through for the filter to report with their path.
    assert convert("model_list: 3\nlitellm_settings: x\n", {}) == {"model_list": 3, "litellm_settings": "x"}


def test_secret_key_names():
    for k in ("api_key", "API_KEY", "aws_secret_access_key", "vertex_credentials", "client_secret",
              "redis_password", "azure_ad_token", "database_url", "langfuse_secret_key"):
        assert litellm_config.is_secret_key(k), k
    for k in ("model", "api_base", "max_tokens", "input_cost_per_token", "tpm", "alert_to_webhook_url",
              "custom_prometheus_tags", "api_version"):
        assert not litellm_config.is_secret_key(k), k


def test_cli_prints_the_converted_json(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "envoy" / "litellm_config.py"), str(EXAMPLE_YAML)],
                         capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert json.loads(run.stdout) == json.loads(EXAMPLE_JSON.read_text())

    bad = tmp_path / "bad.yaml"
    bad.write_text("[1, 2]\n")
    run = subprocess.run([sys.executable, str(REPO / "envoy" / "litellm_config.py"), str(bad)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "mapping" in run.stderr
    run = subprocess.run([sys.executable, str(REPO / "envoy" / "litellm_config.py")], capture_output=True, text=True)
    assert run.returncode == 2 and "usage" in run.stderr
