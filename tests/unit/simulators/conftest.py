"""Fixtures of the simulated-mainframe tests: a fresh simulated Db2 per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulators.sor import SystemOfRecord, install_shipping


@pytest.fixture
def sor_factory(tmp_path: Path) -> Iterator[Callable[..., SystemOfRecord]]:
    """Open simulated Db2 files under tmp_path (shipping tables installed unless told not)."""
    opened: list[SystemOfRecord] = []

    def make(name: str = "sor", shipping: bool = True) -> SystemOfRecord:
        sor = SystemOfRecord.open(tmp_path / f"{name}.sqlite")
        if shipping:
            install_shipping(sor)
        opened.append(sor)
        return sor

    yield make
    for sor in opened:
        sor.close()


@pytest.fixture
def sor(sor_factory: Callable[..., SystemOfRecord]) -> SystemOfRecord:
    """A fresh simulated Db2 with the SHIPPING tables, all captured."""
    return sor_factory()
