"""The sessions of ``awsclients.make_session`` share one botocore data loader per process (and
per AWS_DATA_PATH), so a second session does not parse the endpoint rules and service models
again; a profile that does not exist is still the same one-line ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelgw.awsclients import make_session
from sentinelgw.errors import ConfigError


def _loader(sess: object) -> object:
    return sess._session.get_component("data_loader")  # type: ignore[attr-defined]


def test_two_sessions_share_one_loader_whose_search_paths_do_not_grow() -> None:
    first = make_session(None, "us-east-1")
    paths = list(_loader(first).search_paths)  # type: ignore[attr-defined]
    second = make_session(None, "eu-west-1")
    assert _loader(second) is _loader(first)
    assert _loader(second).search_paths == paths  # type: ignore[attr-defined]
    assert len(set(paths)) == len(paths)
    endpoints = _loader(first).load_data("endpoints")  # type: ignore[attr-defined]
    assert _loader(second).load_data("endpoints") is endpoints  # type: ignore[attr-defined]


def test_a_session_of_another_aws_data_path_gets_its_own_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = _loader(make_session(None, "us-east-1"))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    other = _loader(make_session(None, "us-east-1"))
    assert other is not default
    assert str(tmp_path) in other.search_paths  # type: ignore[attr-defined]


def test_an_unknown_profile_is_still_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError, match="AWS profile 'nope' was not found"):
        make_session("nope")
    assert make_session("dev").profile_name == "dev"


def test_after_share_loaders_process_wide_plain_boto3_sessions_share_it_too() -> None:
    # In a child: the switch is process-wide, and what this checks is a process's first use.
    code = """
import boto3, botocore.session
from sentinelgw.awsclients import new_session, share_loaders_process_wide
plain = [boto3.Session()._session.get_component("data_loader") for _ in range(2)]
assert plain[0] is not plain[1]                       # botocore's default: one per session
share_loaders_process_wide()
loaders = [boto3.Session(region_name="eu-west-1")._session.get_component("data_loader"),
           botocore.session.get_session().get_component("data_loader"),
           new_session()._session.get_component("data_loader")]
assert loaders[0] is loaders[1] is loaders[2], loaders
paths = list(loaders[0].search_paths)
for _ in range(5):
    boto3.Session().client("sts", region_name="us-east-1")
assert loaders[0].search_paths == paths and len(set(paths)) == len(paths), paths
print("shared")
"""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "shared", out.stderr[-2000:]


def test_making_a_client_lists_no_service_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore checks the service's name against every service folder (over 400) before it
    loads a model; the shared loader looks in that service's folder alone."""
    import botocore.loaders

    listed: list[str] = []
    full = botocore.loaders.Loader.list_available_services

    def counting(self: object, type_name: str) -> list[str]:
        listed.append(type_name)
        return full(self, type_name)  # type: ignore[no-any-return]

    monkeypatch.setattr(botocore.loaders.Loader, "list_available_services", counting)
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))  # a loader of its own, nothing cached
    sess = make_session(None, "us-east-1")
    assert sess.client("sts").meta.service_model.service_name == "sts"
    assert listed == []


def test_the_shared_loaders_service_list_answers_as_botocores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.exceptions
    import botocore.loaders

    model = tmp_path / "our-own" / "2020-01-01" / "service-2.json"
    model.parent.mkdir(parents=True)
    model.write_text('{"metadata": {}, "operations": {}, "shapes": {}}')
    (tmp_path / "no-model" / "2020-01-01").mkdir(parents=True)
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    loader = _loader(make_session(None, "us-east-1"))
    plain = botocore.loaders.Loader(extra_search_paths=[str(tmp_path)])
    names = loader.list_available_services("service-2")  # type: ignore[attr-defined]
    expected = plain.list_available_services("service-2")
    for name in ("our-own", "sts", "dynamodb", "no-model", "nosuch", "", "..", "sts/..", 7):
        assert (name in names) == (name in expected), name
    assert names == expected and list(names) == expected and len(names) == len(expected)
    with pytest.raises(botocore.exceptions.UnknownServiceError, match="Valid service names"):
        loader.load_service_model("nosuch", "service-2")  # type: ignore[attr-defined]
