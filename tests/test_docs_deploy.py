"""docs/deploy.md and docs/compose.yaml say what the server does: every flag and
``DATELINE_*`` variable they use is one ``dateline serve`` takes, the compose
file gives every replica the settings the page says must be shared, and the
metrics table lists exactly the metrics served."""

from __future__ import annotations

import re
from pathlib import Path

import typer
import yaml
from prometheus_client import Counter

from dateline import metrics
from dateline.cli import app
from dateline.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGE = (DOCS / "deploy.md").read_text()
COMPOSE = yaml.safe_load((DOCS / "compose.yaml").read_text())
#: The settings the page says every replica must share.
SHARED = ("database_url", "redis_url", "signing_key", "admin_token", "data_dir", "public_url", "openai_upstream")


def serve_flags() -> set[str]:
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    return {flag for param in command.params for flag in (*param.opts, *param.secondary_opts)}


def test_every_flag_on_the_page_is_one_serve_takes() -> None:
    commands = re.findall(r"dateline serve((?:[^\n]*\\\n)*[^\n]*)", PAGE)
    used = {flag for command in commands for flag in re.findall(r"(--[a-z][a-z-]*)", command)}
    assert {"--database-url", "--redis-url-file", "--signing-key-file", "--workers", "--log-format"} <= used
    assert used <= serve_flags(), used - serve_flags()
    mentioned = set(re.findall(r"`(--[a-z][a-z-]*)", PAGE))
    assert mentioned <= serve_flags(), mentioned - serve_flags()


def test_the_compose_file_gives_every_replica_the_shared_settings() -> None:
    service = COMPOSE["services"]["dateline"]
    env = service["environment"]
    fields = set(Settings.model_fields)
    for name in env:
        assert name.startswith("DATELINE_") and name.removeprefix("DATELINE_").lower() in fields, name
    for setting in SHARED:
        given = {f"DATELINE_{setting.upper()}", f"DATELINE_{setting.upper()}_FILE"} & set(env)
        assert given, f"{setting} is not set for the replicas"
        assert f"`--{setting.replace('_', '-')}" in PAGE, f"the page does not say why {setting} is shared"
    assert service["deploy"]["replicas"] > 1
    assert "/ready" in " ".join(service["healthcheck"]["test"])
    # Secrets come from files the page says how to make, and the token guards the scrape.
    assert set(service["secrets"]) == {"admin_token", "signing_key"}
    for secret in COMPOSE["secrets"].values():
        assert Path(secret["file"]).name in PAGE
    assert "admin_token" in COMPOSE["configs"]["prometheus"]["content"]
    # Files' bytes live under the data dir: one volume for every replica.
    assert any(volume.endswith(env["DATELINE_DATA_DIR"]) for volume in service["volumes"])


def test_the_metrics_table_lists_exactly_the_metrics_served() -> None:
    served = {"dateline_batch_requests"}  # counted from the store at scrape time
    for value in vars(metrics).values():
        name = getattr(value, "_name", None)
        if isinstance(name, str) and name.startswith("dateline_"):
            served.add(name + "_total" if isinstance(value, Counter) else name)
    listed = set(re.findall(r"^\| `(dateline_[a-z_]+)` \|", PAGE, re.MULTILINE))
    assert listed == served
