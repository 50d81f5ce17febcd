"""Lazy package roots (PEP 562) must keep returning the exported object, whatever was
imported before: a submodule named like an export would replace it on the package once
something imports the submodule directly (CI saw ``'module' object is not callable``)."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

LAZY_PACKAGES = ("agent.signals", "agent.strategies", "agent.adapters.persistence")


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_exports_are_not_shadowed_by_submodules(name: str) -> None:
    package = importlib.import_module(name)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{name}.{info.name}")
    for export in package.__all__:
        value = getattr(package, export)
        assert not isinstance(value, types.ModuleType), f"{name}.{export} resolves to a module"
