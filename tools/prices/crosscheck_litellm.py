#!/usr/bin/env python3
"""Write test cases computed by LiteLLM itself, for the filter's ignored cross-check test.

Needs LiteLLM installed (not a project dependency): e.g.
    python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install litellm==1.106.2
    /tmp/litellm-venv/bin/python tools/prices/crosscheck_litellm.py --out /tmp/litellm-cases
    LITELLM_CASES=/tmp/litellm-cases cargo test -p llm-telemetry-core -- --ignored litellm

Two files: `cost.tsv` (random token usages of every model in the built-in table, priced by
LiteLLM's `generic_cost_per_token`) and `lookup.tsv` (name/provider spellings resolved by
LiteLLM's `get_model_info`). Run it after refreshing the table with gen_prices.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_prices  # noqa: E402

logging.disable(logging.CRITICAL)
import litellm  # noqa: E402
from litellm.litellm_core_utils.llm_cost_calc.utils import generic_cost_per_token  # noqa: E402
from litellm.types.utils import Usage  # noqa: E402

# The provider a deployment names (`litellm_params.model` prefix) for each table provider.
ROUTING = {
    "vertex_ai-language-models": "vertex_ai",
    "vertex_ai-anthropic_models": "vertex_ai",
    "vertex_ai-mistral_models": "vertex_ai",
    "vertex_ai-llama_models": "vertex_ai",
    "bedrock_converse": "bedrock",
}


def cost_cases(models: dict, original: dict, rng: random.Random) -> list[str]:
    out = []
    for key, (provider, _) in sorted(models.items()):
        for _ in range(6):
            p = rng.choice([0, 10, 1000, 150000, 200001, 300000])
            cached = rng.choice([0, 0, rng.randint(0, p)])
            creation = rng.choice([0, 0, rng.randint(0, max(p - cached, 0))])
            audio = rng.choice([0, 0, rng.randint(0, max(p - cached - creation, 0))])
            o = rng.choice([0, 5, 1000])
            reasoning = rng.choice([0, rng.randint(0, o)])
            audio_out = rng.choice([0, 0, rng.randint(0, o - reasoning)])
            tier = rng.choice([None, None, "flex", "priority"])
            prompt_details = {k: v for k, v in (("cached_tokens", cached), ("audio_tokens", audio)) if v}
            completion_details = {
                k: v for k, v in (("reasoning_tokens", reasoning), ("audio_tokens", audio_out)) if v
            }
            extra = {"cache_creation_input_tokens": creation} if creation else {}
            usage = Usage(
                prompt_tokens=p,
                completion_tokens=o,
                total_tokens=p + o,
                prompt_tokens_details=prompt_details or None,
                completion_tokens_details=completion_details or None,
                **extra,
            )
            prompt_cost, completion_cost = generic_cost_per_token(
                model=original[key], usage=usage, custom_llm_provider=provider, service_tier=tier
            )
            out.append(
                "\t".join(
                    str(v)
                    for v in (key, provider, p, cached, creation, audio, o, reasoning, audio_out,
                              tier or "standard", repr(prompt_cost), repr(completion_cost))
                )
            )
    return out


def lookup_cases(models: dict, original: dict) -> list[str]:
    queries = []
    for key, (provider, _) in sorted(models.items()):
        name = original[key]
        routing = ROUTING.get(provider, provider)
        short = name.split("/", 1)[1] if name.startswith(routing + "/") else name
        queries += [(name, routing), (short, routing), (name, None), (name.upper(), routing),
                    (short + "-2031-01-01", routing), (short + "-002", routing), (short, "azure_ai")]
        if routing == "bedrock":
            queries += [("bedrock/us-west-2/" + short, "bedrock"), ("us." + short, "bedrock"),
                        (short + ":51k", "bedrock")]
    out = []
    for model, provider in queries:
        try:
            key = litellm.get_model_info(model, custom_llm_provider=provider).get("key")
        except Exception:  # LiteLLM raises a bare Exception for an unmapped model
            key = None
        if key is not None and key.lower() not in models:
            continue  # resolved to a model the built-in table does not keep
        out.append(f"{model}\t{provider or ''}\t{(key or '').lower()}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    path = Path(litellm.__file__).parent / "model_prices_and_context_window_backup.json"
    prices = json.loads(path.read_bytes())
    models = gen_prices.select(prices)
    original = {k.lower(): k for k in prices}
    args.out.mkdir(parents=True, exist_ok=True)
    cost = cost_cases(models, original, random.Random(11))
    (args.out / "cost.tsv").write_text("\n".join(cost) + "\n")
    lookup = lookup_cases(models, original)
    (args.out / "lookup.tsv").write_text("\n".join(lookup) + "\n")
    print(f"{len(cost)} cost cases, {len(lookup)} lookup cases in {args.out}")


if __name__ == "__main__":
    main()
