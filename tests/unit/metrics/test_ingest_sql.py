"""The metrics writer's driver-level INSERT statements."""

from __future__ import annotations

from typing import cast

import pytest
from sqlalchemy import Table

from dockyard.metrics.models import HostPoint
from dockyard.metrics.service import _insert_sql

HOST = cast(Table, HostPoint.__table__)


@pytest.mark.parametrize(
    ("paramstyle", "values"),
    [("qmark", "?, ?, ?"), ("numeric_dollar", "$1, $2, $3"), ("format", "%s, %s, %s")],
)
def test_one_placeholder_per_column_in_the_driver_style(paramstyle: str, values: str) -> None:
    sql = _insert_sql(HOST, ("node_id", "res", "ts"), paramstyle)
    assert sql == f"INSERT INTO metric_host_points (node_id, res, ts) VALUES ({values})"


def test_a_name_that_is_not_a_column_is_refused() -> None:
    with pytest.raises(ValueError, match="not columns of metric_host_points"):
        _insert_sql(HOST, ("node_id", "ts); DROP TABLE nodes; --"), "qmark")
