"""``awsclients.aws_config``: the AWS config as botocore's ``Session().full_config`` reads it,
kept between look-ups only while the files are unchanged."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest

from sentinelgw.awsclients import aws_config, user_sets_retries
from sentinelgw.credentials.profiles import load_profile
from sentinelgw.errors import ConfigError

CONFIG = """\
[default]
region = eu-west-1

[profile dev]
role_arn = arn:aws:iam::123456789012:role/dev
source_profile = base

[sso-session corp]
sso_start_url = https://example.invalid/start
sso_region = us-east-1
"""

CREDENTIALS = """\
[base]
aws_access_key_id = AKIAEXAMPLEEXAMPLE00
aws_secret_access_key = not-a-secret

[dev]
region = us-west-2
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    config, creds = tmp_path / "config", tmp_path / "credentials"
    config.write_text(CONFIG)
    creds.write_text(CREDENTIALS)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    return config, creds


def test_same_result_as_a_botocore_session(files: tuple[Path, Path]) -> None:
    assert aws_config() == botocore.session.Session().full_config
    assert set(aws_config()["profiles"]) == {"default", "dev", "base"}
    assert aws_config()["sso_sessions"]["corp"]["sso_region"] == "us-east-1"


def test_an_edit_of_the_same_size_applies_at_once(files: tuple[Path, Path]) -> None:
    config, _ = files
    assert load_profile("dev").region == "us-west-2"
    config.write_text(CONFIG.replace("eu-west-1", "eu-west-2"))  # same length, same second
    assert aws_config()["profiles"]["default"]["region"] == "eu-west-2"
    config.write_text(CONFIG.replace("[profile dev]", "[profile qa_]"))
    assert "qa_" in aws_config()["profiles"]
    assert load_profile("dev").role_arn is None  # now only the credentials file's [dev]


def test_a_caller_changing_its_copy_changes_no_other(files: tuple[Path, Path]) -> None:
    first = aws_config()
    first["profiles"]["dev"]["role_arn"] = "arn:aws:iam::999999999999:role/attacker"
    first["profiles"].pop("base")
    assert load_profile("dev").role_arn == "arn:aws:iam::123456789012:role/dev"
    assert "base" in aws_config()["profiles"]


def test_retry_settings_of_a_profile_count_after_an_edit(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    config, _ = files
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    session = boto3.Session(profile_name="dev")
    assert not user_sets_retries(session)
    config.write_text(
        CONFIG.replace("source_profile = base", "max_attempts = 1\nsource_profile = base")
    )
    assert user_sets_retries(session)


def test_missing_files_are_an_empty_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none either"))
    assert aws_config() == {"profiles": {}}


def test_a_broken_file_is_a_one_line_config_error(files: tuple[Path, Path]) -> None:
    config, _ = files
    config.write_text("[profile dev\nregion = x\n")
    with pytest.raises(ConfigError, match="cannot parse the AWS config"):
        load_profile("dev")


def test_a_data_path_in_the_profile_gets_a_loader_of_its_own(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    from sentinelgw.awsclients import make_session

    config, _ = files
    config.write_text(CONFIG + f"\n[profile custom]\ndata_path = {tmp_path}\n")
    plain = make_session("dev")._session.get_component("data_loader")
    custom = make_session("custom")._session.get_component("data_loader")
    assert custom is not plain and str(tmp_path) in custom.search_paths
