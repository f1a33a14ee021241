#!/usr/bin/env python3
"""Convert a LiteLLM proxy config.yaml into the llm-telemetry filter's JSON configuration.

    python envoy/litellm_config.py config.yaml > plugin.json

The filter speaks LiteLLM's vocabulary (filter/core/src/config/), so the conversion mostly
copies: `model_list`, `litellm_settings`, `general_settings` and `router_settings` are kept as
written (the filter reports what it cannot use), plus the filter's own `telemetry_settings`
when the file has one (LiteLLM ignores that section). What changes:

- Secrets are not copied. A credential-like `litellm_params` key (`api_key`,
  `aws_secret_access_key`, `vertex_credentials`, ...) keeps an `os.environ/NAME` reference as
  written but loses a literal value; the same holds for credential-like keys anywhere in the
  settings sections (`database_url`, `redis_password`, ...). `environment_variables` entries
  whose names look like credentials (`*KEY*`, `*SECRET*`, `*TOKEN*`, `*PASSWORD*`, ...) are
  dropped. The one exception is `general_settings.master_key`, which the filter needs (it keeps
  only its SHA-256): an `os.environ/` reference to it is resolved here when possible.
- `telemetry_settings.keys[].api_key` given literally (or as a reference resolvable here)
  becomes `hashed_api_key`, its SHA-256. `environment_variables` referenced from a credential
  key are dropped too, whatever their names.
- Other non-secret `os.environ/NAME` values of `model_list` (e.g. `api_base`) are resolved from
  the file's `environment_variables`, then `env`, because the filter's Wasm VM sees only the
  variables Envoy hands it. Unresolvable references are kept; the filter resolves them at load
  (and names the missing variable if it cannot).
- Other top-level sections (`guardrails`, `mcp_servers`, `credential_list`, `include`, ...)
  are emptied (kept as `null`, so the filter lists them once as ignored): nothing in them is
  observable from a proxy, and some hold credentials.

A file that is not YAML, or not a mapping, is one line on stderr naming the file, line and
column (`config.yaml:3:4: invalid YAML: ...`), exit status 1: no traceback.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
from typing import Any

import yaml

ENV_PREFIX = "os.environ/"

# Sections copied (settings sections are scrubbed of literal credentials).
SETTINGS_SECTIONS = ("litellm_settings", "general_settings", "router_settings")

# Keys that hold credentials, wherever they appear (compared lowercase).
SECRET_KEYS = {
    "api_key", "master_key", "password", "secret", "token", "client_secret", "database_url",
    "redis_url", "vertex_credentials", "aws_access_key_id", "aws_secret_access_key",
    "aws_session_token", "azure_ad_token", "azure_password", "azure_client_secret",
}
SECRET_SUFFIXES = (
    "_api_key", "_secret", "_secret_key", "_password", "_access_key", "_access_key_id",
    "_session_token", "_ad_token", "_auth_token", "_access_token", "_refresh_token",
    "_credentials", "_connection_string", "_private_key",
)
# Substrings of environment variable names that mark a credential (compared uppercase).
SECRET_ENV_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "CREDENTIAL", "DATABASE_URL", "REDIS_URL")


def is_secret_key(key: Any) -> bool:
    """Whether a config key names a credential (`api_key`, `aws_secret_access_key`, ...)."""
    k = str(key).lower()
    return k in SECRET_KEYS or any(k.endswith(s) or k == s[1:] for s in SECRET_SUFFIXES)


def is_secret_env_name(name: Any) -> bool:
    """Whether an environment variable name looks like a credential (`OPENAI_API_KEY`, ...)."""
    n = str(name).upper()
    return any(marker in n for marker in SECRET_ENV_MARKERS)


def is_env_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(ENV_PREFIX)


def sha256_hex(text: str) -> str:
    """LiteLLM's `hash_token`: the lowercase SHA-256 hex of the key."""
    return hashlib.sha256(text.encode()).hexdigest()


def _scrub(value: Any, keep: frozenset = frozenset()) -> Any:
    """A copy of `value` without literal credentials: a credential-like key keeps an
    `os.environ/` reference and loses anything else. `keep`: top-level keys left untouched."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in keep:
                out[k] = copy.deepcopy(v)
            elif is_secret_key(k) and v is not None and not is_env_ref(v):
                continue
            else:
                out[k] = _scrub(v)
        return out
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return copy.deepcopy(value)


class _Resolver:
    """`os.environ/NAME` lookups as LiteLLM does them: the file's environment_variables, then env."""

    def __init__(self, env_vars: dict, env: dict):
        self.env_vars = {str(k): v for k, v in (env_vars or {}).items() if v is not None}
        self.env = env or {}

    def get(self, name: str) -> str | None:
        if name in self.env_vars:
            v = self.env_vars[name]
            if isinstance(v, bool):  # LiteLLM sets os.environ[k] = str(v)
                return "True" if v else "False"
            return str(v)
        v = self.env.get(name)
        return None if v is None else str(v)

    def resolve(self, value: Any) -> Any:
        """The variable's value for a resolvable reference; anything else unchanged."""
        if is_env_ref(value):
            resolved = self.get(value[len(ENV_PREFIX):])
            if resolved is not None:
                return resolved
        return value


def _secret_env_refs(value: Any, secret: bool = False) -> set[str]:
    """Names of the variables that credential-like keys reference (`api_key: os.environ/X`)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found |= _secret_env_refs(v, secret or is_secret_key(k))
    elif isinstance(value, list):
        for v in value:
            found |= _secret_env_refs(v, secret)
    elif secret and is_env_ref(value):
        found.add(value[len(ENV_PREFIX):])
    return found


def _deployment(entry: Any, resolver: _Resolver) -> Any:
    if not isinstance(entry, dict):
        return copy.deepcopy(entry)  # the filter reports the wrong type with its path
    out = {}
    for key, value in entry.items():
        if key == "litellm_params" and isinstance(value, dict):
            params = {}
            for k, v in value.items():
                if is_secret_key(k):
                    if v is None or is_env_ref(v):
                        params[k] = v
                    continue
                params[k] = resolver.resolve(v)
            out[key] = params
        else:
            out[key] = _scrub(value)
    return out


def _telemetry_settings(section: Any, resolver: _Resolver) -> Any:
    if not isinstance(section, dict):
        return copy.deepcopy(section)
    out = copy.deepcopy(section)
    keys = out.get("keys")
    if isinstance(keys, list):
        for entry in keys:
            if not isinstance(entry, dict) or not isinstance(entry.get("api_key"), str):
                continue
            # A literal key, or a reference resolvable here, is stored hashed; an unresolvable
            # reference is left for the filter to resolve (and report) at load.
            raw = resolver.resolve(entry["api_key"])
            if not is_env_ref(raw):
                if "hashed_api_key" in entry:
                    raise ValueError("telemetry_settings.keys: an entry has both api_key and hashed_api_key")
                del entry["api_key"]
                hashed = sha256_hex(raw)
                rest = dict(entry)
                entry.clear()
                entry.update({"hashed_api_key": hashed, **rest})
    return out


class ConfigFileError(ValueError):
    """A config file that cannot be read as one: its message is one line, starting with the
    file's name (and line and column when known), fit to print as is."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_yaml(yaml_text: str, source: str = "<config>"):
    """yaml.safe_load, its errors as a ConfigFileError `source:line:column: invalid YAML: ...`
    (lines and columns from 1, as editors count them)."""
    try:
        return yaml.safe_load(yaml_text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = _one_line(e.problem or e.context or "")
        if e.context and e.problem and e.context_mark:
            what += f" ({_one_line(e.context)} at {e.context_mark.line + 1}:{e.context_mark.column + 1})"
        raise ConfigFileError(f"{where}: invalid YAML: {what}") from None
    except yaml.YAMLError as e:
        raise ConfigFileError(f"{source}: invalid YAML: {_one_line(e)}") from None


def convert(yaml_text: str, env: dict, source: str = "<config>") -> dict:
    """The filter's JSON configuration (a dict) for a LiteLLM proxy config.yaml text. `env` is
    the environment `os.environ/` references resolve from after the file's
    `environment_variables`. Raises ConfigFileError (a ValueError whose message starts with
    `source`) when the text is not YAML or not a mapping."""
    doc = load_yaml(yaml_text, source)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigFileError(f"{source}: a LiteLLM config must be a mapping, got {type(doc).__name__}")

    env_vars = doc.get("environment_variables")
    resolver = _Resolver(env_vars if isinstance(env_vars, dict) else {}, env)
    out: dict = {}

    if isinstance(env_vars, dict):
        secret_refs = _secret_env_refs({k: v for k, v in doc.items() if k != "environment_variables"})
        kept = {k: copy.deepcopy(v) for k, v in env_vars.items()
                if not is_secret_env_name(k) and str(k) not in secret_refs}
        if kept:
            out["environment_variables"] = kept
    elif env_vars is not None:
        out["environment_variables"] = copy.deepcopy(env_vars)  # the filter reports the type

    if "model_list" in doc:
        models = doc["model_list"]
        out["model_list"] = [_deployment(m, resolver) for m in models] if isinstance(models, list) else models

    for name in SETTINGS_SECTIONS:
        if name not in doc:
            continue
        section = doc[name]
        if name == "general_settings" and isinstance(section, dict):
            section = _scrub(section, keep=frozenset({"master_key"}))
            if "master_key" in section:
                section["master_key"] = resolver.resolve(section["master_key"])
        else:
            section = _scrub(section)
        out[name] = section

    if "telemetry_settings" in doc:
        out["telemetry_settings"] = _telemetry_settings(doc["telemetry_settings"], resolver)
    for name in doc:
        if name not in out and name not in ("environment_variables", "model_list"):
            out[str(name)] = None  # named, so that the filter says it is ignored; content dropped
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python envoy/litellm_config.py config.yaml > plugin.json", file=sys.stderr)
        return 2
    path = args[0]
    try:
        with (sys.stdin if path == "-" else open(path, encoding="utf-8")) as f:
            text = f.read()
        config = convert(text, dict(os.environ), "<stdin>" if path == "-" else path)
    except ConfigFileError as e:
        print(e, file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"{path}: {_one_line(e)}", file=sys.stderr)
        return 1
    json.dump(config, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
