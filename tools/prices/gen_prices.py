#!/usr/bin/env python3
"""Generate the filter's built-in price table from LiteLLM's own price list.

LiteLLM ships `model_prices_and_context_window_backup.json` inside its PyPI wheel. This script
reads it (from `--json`, or by running `pip download litellm==<version> --no-deps` into a
temporary directory and unzipping the file), keeps the models and fields the filter can price
(chat, responses, completion and embedding models of OpenAI, Anthropic, Google, Mistral and
Meta on their own APIs and on Azure, Bedrock, Vertex AI, Groq and Together AI; per-token rates
for input, output, cached input, cache creation, reasoning and audio, their `priority`/`flex`
service-tier variants and the `_above_<N>_tokens` long-context variants) and writes
`filter/core/src/spend/price_table.rs`: integers and one front-coded string table, so the table
costs the .wasm a few tens of kilobytes rather than the JSON's megabytes.

Prices are stored in pico-dollars (1e-12 USD) per token: every kept price is an exact integer in
that unit (the script refuses to write a table where one is not), so costs computed from the
table are exact integers too.

Usage:
    tools/prices/gen_prices.py                      # download litellm 1.106.2, write the table
    tools/prices/gen_prices.py --json path/to/model_prices_and_context_window_backup.json
    tools/prices/gen_prices.py --check              # exit 1 if the committed table is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path

DEFAULT_VERSION = "1.106.2"
JSON_IN_WHEEL = "litellm/model_prices_and_context_window_backup.json"
OUT = Path(__file__).resolve().parents[2] / "filter/core/src/spend/price_table.rs"

# API shapes the filter reads (chat/completions, completions, embeddings, responses).
MODES = {"chat", "responses", "completion", "embedding"}

# LiteLLM `litellm_provider` values kept: the vendors' own APIs and the clouds that resell them.
PROVIDERS = [
    "anthropic",
    "azure",
    "azure_ai",
    "bedrock",
    "bedrock_converse",
    "codestral",
    "gemini",
    "groq",
    "meta_llama",
    "mistral",
    "openai",
    "text-completion-codestral",
    "text-completion-openai",
    "together_ai",
    "vertex_ai",
    "vertex_ai-anthropic_models",
    "vertex_ai-language-models",
    "vertex_ai-llama_models",
    "vertex_ai-mistral_models",
]

# Model families of OpenAI, Anthropic, Google, Mistral and Meta (resellers list other vendors
# too: Azure AI's DeepSeek or Bedrock's Nova stay out).
FAMILY = re.compile(
    r"(gpt|o1|o3|o4|text-embedding|davinci|babbage|chatgpt|claude|anthropic|gemini|gemma|"
    r"mistral|mixtral|codestral|ministral|magistral|pixtral|devstral|llama|meta)",
    re.IGNORECASE,
)

# Rate fields, in the order of the `Base` enum in prices.rs.
BASES = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "input_cost_per_audio_token",
    "output_cost_per_audio_token",
]
# Service tiers, in the order of the `Tier` enum ("" is the standard rate).
TIERS = ["", "_flex", "_priority"]
FIELD = re.compile(
    r"^(?P<base>" + "|".join(BASES) + r")(?:_above_(?P<th>\d+k?)_tokens)?(?P<tier>_flex|_priority)?$"
)
# Service-tier rates LiteLLM's cost calculator reads: `get_model_info` returns the fields its
# `ModelInfoBase` declares plus every untiered `_above_<N>_tokens` rate, so a tier rate outside
# this list (e.g. `input_cost_per_audio_token_priority`) is in the JSON but never billed. From
# LiteLLM 1.106.2's litellm/types/utils.py; prices.rs applies the same list to deployment prices.
TIERED_KEYS = sorted(
    [f"{b}{t}" for b in BASES[:5] for t in ("_flex", "_priority")]
    + [f"{b}_above_200k_tokens_priority" for b in BASES[:3]]
    + [f"{b}_above_272k_tokens{t}" for b in BASES[:4] for t in ("_flex", "_priority")]
)
# Long-context variants exist for these bases only (the cost calculator reads no others).
ABOVE_BASES = BASES[:4]
# Key of the long-context threshold (tokens) inside a rate set: after the 42 rate keys.
THRESHOLD_KEY = 42
# A rate is packed as `value index << 6 | key`; an entry as `rate set << 5 | provider`.
KEY_BITS, PROVIDER_BITS = 6, 5

PICO = Decimal(10) ** 12
BLOCK = 32  # names per front-coding block: binary search over blocks, then a short scan


def rate_key(base: int, tier: int, above: bool) -> int:
    """Must match `RateKey::code` in prices.rs."""
    return base * 6 + tier * 2 + int(above)


def pico(value: float, where: str) -> int:
    # repr() is the shortest decimal that reads back as the same double: the number the JSON holds.
    d = Decimal(repr(float(value))) * PICO
    if d != d.to_integral_value() or d < 0:
        sys.exit(f"{where}: {value!r} USD is not a whole number of pico-dollars; choose a finer unit")
    return int(d)


def threshold_tokens(text: str) -> int:
    return int(text[:-1]) * 1000 if text.endswith("k") else int(text)


def rate_set(name: str, entry: dict) -> tuple[tuple[int, int], ...]:
    """The (key, value) pairs of one model, sorted by key; the threshold under THRESHOLD_KEY."""
    pairs: dict[int, int] = {}
    thresholds: set[int] = set()
    for field, value in entry.items():
        m = FIELD.match(field)
        if not m or value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            sys.exit(f"{name}.{field}: expected a number, got {value!r}")
        above = m.group("th") is not None
        if m.group("tier") and field not in TIERED_KEYS:
            continue
        if above and m.group("base") not in ABOVE_BASES:
            continue
        if above:
            thresholds.add(threshold_tokens(m.group("th")))
        key = rate_key(BASES.index(m.group("base")), TIERS.index(m.group("tier") or ""), above)
        pairs[key] = pico(value, f"{name}.{field}")
    if len(thresholds) > 1:
        sys.exit(f"{name}: more than one long-context threshold {sorted(thresholds)}; prices.rs keeps one")
    if thresholds:
        pairs[THRESHOLD_KEY] = thresholds.pop()
    return tuple(sorted(pairs.items()))


def select(prices: dict) -> dict[str, tuple[str, tuple]]:
    """Lowercased model name -> (provider, rate set). LiteLLM matches names case-insensitively."""
    out: dict[str, tuple[str, tuple]] = {}
    for name, entry in prices.items():
        if not isinstance(entry, dict) or entry.get("mode") not in MODES:
            continue
        provider = entry.get("litellm_provider")
        if provider not in PROVIDERS or entry.get("input_cost_per_token") is None:
            continue
        if not FAMILY.search(name):
            continue
        key = name.lower()
        if len(key.encode()) > 255:
            sys.exit(f"{name}: name longer than 255 bytes")
        value = (provider, rate_set(name, entry))
        if key in out and out[key] != value:
            sys.exit(f"{name}: differs only in case from another model with other prices")
        out[key] = value
    return out


def front_code(names: list[str]) -> tuple[bytes, list[int]]:
    """Blocks of BLOCK names: the first as [len][bytes], the others as [shared][len][suffix]."""
    data = bytearray()
    starts = []
    for i, name in enumerate(names):
        raw = name.encode()
        if i % BLOCK == 0:
            starts.append(len(data))
            data += bytes([len(raw)]) + raw
            continue
        prev = names[i - 1].encode()
        shared = 0
        while shared < min(len(prev), len(raw)) and prev[shared] == raw[shared]:
            shared += 1
        suffix = raw[shared:]
        data += bytes([shared, len(suffix)]) + suffix
    if len(data) > 0xFFFF:
        sys.exit("name table over 64 KiB: BLOCK_STARTS would need u32")
    return bytes(data), starts


def rust_bytes(data: bytes) -> str:
    out = []
    for b in data:
        c = chr(b)
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif 0x21 <= b < 0x7F:
            # Spaces are escaped too: a `\` line continuation would swallow a leading one.
            out.append(c)
        else:
            out.append(f"\\x{b:02x}")
    text = "".join(out)
    # One line per ~96 characters of literal, breaking only between whole escapes.
    lines, line = [], ""
    for piece in re.findall(r"\\x[0-9a-f]{2}|\\.|.", text):
        line += piece
        if len(line) >= 96:
            lines.append(line)
            line = ""
    if line:
        lines.append(line)
    return "b\"\\\n" + "\\\n".join(lines) + "\""


def rust_list(ty: str, values: list[int]) -> str:
    rows = []
    for i in range(0, len(values), 16):
        rows.append("    " + ", ".join(str(v) for v in values[i : i + 16]) + ",")
    return f"&[\n" + "\n".join(rows) + "\n]" if rows else "&[]"


def render(prices: dict, version: str, digest: str) -> str:
    models = select(prices)
    names = sorted(models)
    sets = sorted({rs for _, rs in models.values()})
    set_index = {rs: i for i, rs in enumerate(sets)}
    values = sorted({v for rs in sets for _, v in rs})
    value_index = {v: i for i, v in enumerate(values)}
    if len(values) >= 1 << (16 - KEY_BITS) or len(sets) >= 1 << (16 - PROVIDER_BITS):
        sys.exit("too many distinct prices or rate sets for the u16 packing")
    if THRESHOLD_KEY >= 1 << KEY_BITS or len(PROVIDERS) > 1 << PROVIDER_BITS:
        sys.exit("rate keys or providers do not fit their bits")
    set_start, rates = [0], []
    for rs in sets:
        rates += [value_index[v] << KEY_BITS | k for k, v in rs]
        set_start.append(len(rates))
    data, starts = front_code(names)
    entries = [set_index[models[n][1]] << PROVIDER_BITS | PROVIDERS.index(models[n][0]) for n in names]
    return f"""\
// @generated by tools/prices/gen_prices.py from LiteLLM {version}'s
// model_prices_and_context_window_backup.json (sha256 {digest}).
// Do not edit: run `tools/prices/gen_prices.py` (see the README, "Prices").
// {len(names)} models, {len(sets)} distinct rate sets, {len(values)} distinct values.

/// The LiteLLM release the table was read from.
pub(super) const LITELLM_VERSION: &str = "{version}";

/// LiteLLM `litellm_provider` values; `ENTRY_PROVIDER` indexes this list.
pub(super) const PROVIDERS: &[&str] = &[
{chr(10).join(f'    "{p}",' for p in PROVIDERS)}
];

/// Service-tier rates LiteLLM's cost calculator reads (others are in its JSON but never billed).
pub(super) const TIERED_KEYS: &[&str] = &[
{chr(10).join(f'    "{k}",' for k in TIERED_KEYS)}
];

/// Lowercased model names in byte order, front-coded in blocks of {BLOCK}: a block's first name is
/// `[len][bytes]`, each next one `[bytes shared with the previous name][len][rest]`.
pub(super) static NAMES: &[u8] = {rust_bytes(data)};

/// Where each block of `NAMES` starts.
pub(super) static BLOCK_STARTS: &[u16] = {rust_list("u16", starts)};

/// Names per block.
pub(super) const BLOCK: usize = {BLOCK};

/// The n-th name's rate set (`>> {PROVIDER_BITS}`) and provider (low {PROVIDER_BITS} bits, index into `PROVIDERS`).
pub(super) static ENTRIES: &[u16] = {rust_list("u16", entries)};

/// Bits of an `ENTRIES` item holding the provider.
pub(super) const PROVIDER_BITS: u32 = {PROVIDER_BITS};

/// Rate set `i` is `RATES[SET_START[i]..SET_START[i + 1]]`.
pub(super) static SET_START: &[u16] = {rust_list("u16", set_start)};

/// One rate: an index into `VALUES` (`>> {KEY_BITS}`) and, in the low {KEY_BITS} bits, its
/// `RateKey::code()`, or {THRESHOLD_KEY} for the long-context threshold (tokens).
pub(super) static RATES: &[u16] = {rust_list("u16", rates)};

/// Bits of a `RATES` item holding the key.
pub(super) const KEY_BITS: u32 = {KEY_BITS};

/// The key code of a long-context threshold in `RATES`.
pub(super) const THRESHOLD_CODE: u8 = {THRESHOLD_KEY};

/// Distinct values: pico-dollars (1e-12 USD) per token, or a threshold in tokens.
pub(super) static VALUES: &[u64] = {rust_list("u64", values)};
"""


def fetch(version: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"litellm=={version}", "--no-deps",
             "--only-binary=:all:", "--dest", tmp, "--quiet"],
            check=True,
        )
        wheels = sorted(Path(tmp).glob("litellm-*.whl"))
        if not wheels:
            sys.exit(f"pip download produced no litellm wheel in {tmp}")
        with zipfile.ZipFile(wheels[0]) as z:
            return z.read(JSON_IN_WHEEL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--litellm-version", default=DEFAULT_VERSION)
    ap.add_argument("--json", type=Path, help="a model_prices_and_context_window JSON (skips the download)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if --out differs from what would be written")
    args = ap.parse_args()
    raw = args.json.read_bytes() if args.json else fetch(args.litellm_version)
    text = render(json.loads(raw), args.litellm_version, hashlib.sha256(raw).hexdigest())
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            sys.exit(f"{args.out} is stale: run {Path(__file__).name}")
        return
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
