"""A local Prometheus (and Alertmanager) next to Envoy: for `make envoy-up` (envoy/demo.py) and
the e2e tests (tests/e2e/conftest.py). Both run the Debian binaries that `make deps` installs, with
the rule files of envoy/prometheus/.

    prometheus_config(...)    the prometheus.yml scraping Envoy's admin /stats/prometheus
    rule_files(...)           the shipped rule files, or copies with a shorter group `interval`
    alertmanager_config(...)  envoy/prometheus/alertmanager.yml with its Slack URLs pointed elsewhere
    Prometheus                one Prometheus process on a free port, started and stopped by the tests
    query(...)                the HTTP query API
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "envoy" / "prometheus"
RULE_FILES = tuple(PROMETHEUS_DIR / name for name in ("recording-rules.yaml", "spend-rules.yaml", "alerting-rules.yaml"))
ALERTMANAGER_CONFIG = PROMETHEUS_DIR / "alertmanager.yml"


def binary(name: str) -> str | None:
    """`prometheus` / `alertmanager` from PATH, or None. Debian names the Alertmanager server
    `prometheus-alertmanager` (its CLI stays `amtool`)."""
    for candidate in (name, f"prometheus-{name}"):
        found = shutil.which(candidate) or (f"/usr/bin/{candidate}" if os.access(f"/usr/bin/{candidate}", os.X_OK) else None)
        if found:
            return found
    return None


def rule_files(dest: Path | None = None, interval: str | None = None) -> list[Path]:
    """The shipped rule files; with `interval`, copies under `dest` whose groups all evaluate at
    that interval (the tests use 1s so that rate() over recorded series has samples at once)."""
    if interval is None:
        return list(RULE_FILES)
    assert dest is not None
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for src in RULE_FILES:
        doc = yaml.safe_load(src.read_text())
        for group in doc["groups"]:
            group["interval"] = interval
        path = dest / src.name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(path)
    return out


def prometheus_config(envoy_admin_targets: list[str], rules: list[Path], scrape_interval: str = "5s",
                      alertmanager: str | None = None, job: str = "envoy") -> dict:
    """A prometheus.yml scraping the Envoys' admin /stats/prometheus (what the filter exports)."""
    cfg: dict = {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                   "evaluation_interval": scrape_interval},
        "rule_files": [str(p) for p in rules],
        "scrape_configs": [{
            "job_name": job,
            "metrics_path": "/stats/prometheus",
            "static_configs": [{"targets": envoy_admin_targets}],
        }],
    }
    if alertmanager:
        cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return cfg


def prometheus_command(config: Path, data_dir: Path, port: int, log_level: str = "warn") -> list[str]:
    exe = binary("prometheus")
    if exe is None:
        raise FileNotFoundError("prometheus not found: `make deps` installs the Debian package")
    return [exe, f"--config.file={config}", f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}", f"--log.level={log_level}"]


def alertmanager_config(slack_url: str, group_wait: str = "5s") -> dict:
    """envoy/prometheus/alertmanager.yml (routes, inhibitions, LiteLLM-style texts) with every Slack
    destination posting to `slack_url` instead of a secret file, and a short group_wait."""
    cfg = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    cfg["global"].pop("slack_api_url_file", None)
    cfg["global"]["slack_api_url"] = slack_url
    for receiver in cfg["receivers"]:
        for slack in receiver.get("slack_configs", []):
            if slack.pop("api_url_file", None):
                slack["api_url"] = slack_url.rstrip("/") + "/" + receiver["name"]
    cfg["route"]["group_wait"] = group_wait
    cfg["route"]["group_interval"] = "30s"
    cfg.pop("templates", None)
    return cfg


def alertmanager_command(config: Path, data_dir: Path, port: int) -> list[str]:
    exe = binary("alertmanager")
    if exe is None:
        raise FileNotFoundError("alertmanager not found: `make deps` installs prometheus-alertmanager")
    # --cluster.listen-address= turns gossip off: one local instance, no port 9094.
    return [exe, f"--config.file={config}", f"--storage.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]


def query(port: int, promql: str, at: float | None = None) -> list[dict]:
    """An instant query (at `at`, Unix seconds, else now): the result list."""
    params = {"query": promql}
    if at is not None:
        params["time"] = f"{at:.3f}"
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError(f"query {promql!r} failed: {doc}")
    return doc["data"]["result"]


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """One Prometheus scraping the given Envoy admin ports, on a free port; `stop()` always."""

    def __init__(self, workdir: Path, envoy_admin_ports: list[int], scrape_interval: str = "1s",
                 rule_interval: str | None = "1s"):
        self.workdir = workdir
        self.log_path = workdir / "prometheus.log"
        self.rules = rule_files(workdir / "rules", rule_interval)
        self.config = prometheus_config([f"127.0.0.1:{p}" for p in envoy_admin_ports], self.rules,
                                        scrape_interval)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 30.0, attempts: int = 3) -> "Prometheus":
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config))
        for attempt in range(attempts):  # the free port may be taken between probe and bind
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    prometheus_command(config_path, self.workdir / f"data{attempt}", self.port),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None and not ready(self.port):
                time.sleep(0.1)
            if self.proc.poll() is None and ready(self.port):
                return self
            self.stop()
        raise RuntimeError(f"Prometheus did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, promql: str, at: float | None = None) -> list[dict]:
        return query(self.port, promql, at)

    def targets_up(self) -> bool:
        return bool(self.query("up == 1"))
