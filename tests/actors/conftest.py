"""The Ray tests share one local Ray instance per session (see raykit)."""

from tests.actors.raykit import ray_local  # noqa: F401  (fixture)
