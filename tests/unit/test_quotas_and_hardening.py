"""Quota arithmetic and messages, production secret checks, the per-user API rate limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from dockyard.auth.service import AuthService
from dockyard.kit.errors import DockyardError, ValidationFailedError
from dockyard.quotas.service import Usage, check_quota, definition_usage, human_bytes
from dockyard.services.compose import parse_definition
from dockyard.services.compose.policy import QuotaLimits
from dockyard.settings import Settings

GIB = 1024**3
MIB = 1024**2


def two_services(**app: Any) -> Any:
    return parse_definition(
        {"services": {"a": {"image": "x", **app}, "b": {"image": "x", "gpus": 1}}}
    )


def test_definition_usage_counts_unlimited_containers_at_the_default() -> None:
    limits = QuotaLimits(default_cpus=0.5, default_memory=256 * MIB)
    usage = definition_usage(two_services(cpus=2, mem_limit="1g"), limits)
    assert usage == Usage(services=1, containers=2, cpus=2.5, memory_bytes=GIB + 256 * MIB, gpus=1)


def test_every_total_over_the_quota_is_named() -> None:
    limits = QuotaLimits(
        max_services=1, max_containers=3, max_cpus=2, max_memory_bytes=2 * GIB, max_gpus=0
    )
    used = Usage(services=1, containers=2, cpus=1, memory_bytes=GIB + GIB // 2)
    with pytest.raises(ValidationFailedError) as caught:
        check_quota(limits, used, two_services(cpus=1, mem_limit="3g"), new_service=True)
    error = caught.value
    assert error.code == "quota_exceeded"
    assert error.status_code == 422
    messages = [e["message"] for e in error.details["errors"]]
    assert messages == [
        "services: 1 requested, quota 1, 1 in use",
        "containers: 2 requested, quota 3, 2 in use",
        "cpus: 2 requested, quota 2, 1 in use",
        "memory: 3.5 GiB requested, quota 2 GiB, 1.5 GiB in use",
        "gpus: 1 requested, quota 0, 0 in use",
    ]


def test_an_edit_does_not_count_as_another_service_and_none_means_no_limit() -> None:
    limits = QuotaLimits(
        max_services=1,
        max_containers=None,
        max_cpus=None,
        max_memory_bytes=None,
        max_gpus=None,
    )
    check_quota(limits, Usage(services=1), two_services(), new_service=False)


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0 B"), (512 * MIB, "512 MiB"), (3 * GIB // 2, "1.5 GiB")]
)
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path, env="production", **values)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("q7-Zx", "too short"),
        ("changeme" * 5, "default or guessable"),
        ("x" * 64, "default or guessable"),
        ("my-Dockyard-key-0123456789-ABCDEFGHIJKLMNOP", "default or guessable"),
    ],
)
def test_production_refuses_weak_keys(tmp_path: Path, key: str, problem: str) -> None:
    problems = settings(tmp_path, secret_key=key).production_problems()
    assert len(problems) == 1
    assert problem in problems[0]
    assert key not in problems[0]  # never echo the secret


def test_production_needs_a_key_and_accepts_a_strong_or_existing_one(tmp_path: Path) -> None:
    assert "is not set" in settings(tmp_path).production_problems()[0]
    (tmp_path / "secret_key").write_text("k3Jx9_Qw2Zr7-Lm5Vt8Yp1Bn4Hc6Gd0Fs3Ae9Ui2Oj5Wq7Er1Ty4\n")
    assert settings(tmp_path).production_problems() == []
    strong = "Zr7-Lm5Vt8Yp1Bn4Hc6Gd0Fs3Ae9Ui2Oj5Wq7Er1Ty4k3Jx9_Qw2"
    assert settings(tmp_path, secret_key=strong).production_problems() == []
    assert Settings(data_dir=tmp_path, secret_key="short").production_problems() == []


def test_allowed_bind_roots_must_be_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_ALLOWED_BIND_ROOTS", "/srv/a, /srv/b")
    assert Settings().allowed_bind_roots == ["/srv/a", "/srv/b"]
    monkeypatch.setenv("DOCKYARD_ALLOWED_BIND_ROOTS", "srv/a")
    with pytest.raises(ValueError, match="absolute"):
        Settings()


async def test_api_rate_limit_is_per_user_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_rate_per_minute=2)
    auth = AuthService(cast(Any, None), settings, "secret")  # the limit needs no database
    for _ in range(2):
        await auth.check_api_rate(1)
    with pytest.raises(DockyardError) as caught:
        await auth.check_api_rate(1)
    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limited"
    assert caught.value.headers is not None
    assert int(caught.value.headers["Retry-After"]) >= 1
    await auth.check_api_rate(2)  # another user is not limited
