"""``sentinel dev`` as a subprocess: export lines, eval in a new shell, Ctrl-C exits 0.

A sandbox start costs seconds of CPU, so the default-mode ``sentinel dev`` is one process for
this module: the tests that read from it run first, and the Ctrl-C test stops it last. The
``--no-service`` start under load has its own process, which ``kill`` (SIGTERM) stops.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sentinelgw.cli.dev_cmd import export_lines
from sentinelgw.sandbox import EXTRA_MESSAGE, missing_extra

EXPORTED = (
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "SENTINEL_CONFIG",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "SENTINEL_BACKEND",
    "SENTINEL_FILE_DIR",
    "SENTINEL_FILE_PASSPHRASE",
    "SENTINEL_FEDERATION_ENDPOINT",
    "SENTINEL_REMOTE",
)


def _python(program: str, env: dict[str, str], *, timeout: float) -> subprocess.CompletedProcess:
    """``python -c program`` in a fresh interpreter (text output, no check)."""
    return subprocess.run(
        [sys.executable, "-c", program],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _sentinel() -> list[str]:
    script = Path(sys.executable).parent / "sentinel"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sentinelgw.cli.main"]


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    """One running ``sentinel dev --dir`` for the module; yields (process, export lines, env,
    its folder). The Ctrl-C test stops it, so it comes after the tests that read from it."""
    tmp_path = tmp_path_factory.mktemp("dev")
    env = _base_env(tmp_path / "home")
    proc = subprocess.Popen(
        [*_sentinel(), "dev", "--dir", str(tmp_path / "sb")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline().rstrip("\n") for _ in EXPORTED]
        yield proc, lines, env, tmp_path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_dev_prints_exports_and_serves_a_new_shell(dev_server, tmp_path):
    proc, lines, env, folder = dev_server
    assert proc.poll() is None, "the shared sentinel dev has stopped"
    assert [line.split("=", 1)[0] for line in lines] == [f"export {n}" for n in EXPORTED]
    assert lines[0].startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:")
    exports = "\n".join(lines)
    assert str(folder / "sb") in exports
    home = Path.home().resolve()
    assert str(home / ".aws") not in exports
    env_file = tmp_path / "sb.env"
    env_file.write_text(exports + "\n")
    script = textwrap.dedent(f"""\
        eval "$(cat {env_file})"
        aws sts get-caller-identity --output json
        sentinel exec --local --profile prod -- aws sts get-caller-identity
        echo "denied-exit=$?" >&2
        sentinel exec --profile prod -- aws sts get-caller-identity --output json
        """)
    shell = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert shell.returncode == 0, shell.stderr
    first, second = [json.loads("{" + part) for part in shell.stdout.split("{")[1:]]
    assert first["Arn"].endswith(":user/alice")
    assert "assumed-role/sentinel-prod/" in second["Arn"]
    assert "denied-exit=1" in shell.stderr and "--server" in shell.stderr


def test_dev_exits_zero_on_sigint(dev_server):
    """Ctrl-C: exit 0, no traceback. Stops the module's shared sentinel dev (tests last)."""
    proc, _lines, _env, _folder = dev_server
    assert proc.poll() is None, "sentinel dev stopped before Ctrl-C"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    err = proc.stderr.read()
    assert "NOT FOR PRODUCTION" in err
    assert "Traceback" not in err
    # the banner names the profiles of the default mode, the security team's included
    for profile in ("dev", "prod", "security"):
        assert f"\n  {profile} " in err, err
    assert "sso-admin " not in err  # the Identity Center profiles are --no-service only


def test_dev_refuses_a_folder_inside_aws_home(tmp_path):
    home = tmp_path / "home"
    env = _base_env(home)
    proc = subprocess.run(
        [*_sentinel(), "dev", "--dir", str(home / ".aws" / "sb")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "refusing" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (home / ".aws").exists()


def test_a_refused_folder_and_the_help_answer_before_moto_is_imported(tmp_path):
    """moto and werkzeug take about 0.7 s to import: the dev and demo commands import them
    only to start a sandbox."""
    home = tmp_path / "home"
    probe = textwrap.dedent(
        f"""
        import sys
        from sentinelgw.cli.main import main
        rc = main(["dev", "--dir", {str(home / ".aws" / "sb")!r}])
        try:
            main(["demo", "--help"])
        except SystemExit:
            pass
        print(rc, "moto" in sys.modules, "werkzeug" in sys.modules)
        """
    )
    out = _python(probe, _base_env(home), timeout=60)
    assert "--no-service" in out.stdout  # demo's help
    assert out.stdout.splitlines()[-1] == "2 False False", out.stdout + out.stderr
    assert "refusing" in out.stderr and not (home / ".aws").exists()


def test_export_lines_are_shell_quoted():
    lines = export_lines({"A": "x y", "B": "it's"})
    out = subprocess.run(
        ["bash", "-c", "\n".join(lines) + '\nprintf "%s|%s" "$A" "$B"'],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    assert out == "x y|it's"


def test_missing_extra_message_names_the_install_command():
    assert missing_extra(("sentinelgw_no_such_module_xyz",)) == EXTRA_MESSAGE
    assert EXTRA_MESSAGE == "sentinel dev needs the sandbox extra: pip install 'sentinelgw[dev]'"
    assert missing_extra() is None


def test_second_sandbox_in_one_process_starts_from_a_reset_moto(tmp_path):
    """Moto state is process-global: a second Sandbox resets it (own process, so the shared
    session sandbox of this test run is not wiped)."""
    program = textwrap.dedent(f"""
        import boto3, pathlib
        from sentinelgw.sandbox import Sandbox
        def users(sb):
            iam = boto3.client("iam", endpoint_url=sb.endpoint_url, region_name="us-east-1",
                               aws_access_key_id="AKIATEST", aws_secret_access_key="x")
            return [u["UserName"] for u in iam.list_users()["Users"]]
        one = Sandbox(pathlib.Path({str(tmp_path / "one")!r})).start()
        one.stop()
        two = Sandbox(pathlib.Path({str(tmp_path / "two")!r})).start()
        print(users(two))
        two.stop()
        """)
    proc = _python(program, _base_env(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['alice']"


def _burn_cpu(seconds: float) -> subprocess.Popen[bytes]:
    """A busy process for the length of a sandbox start: the load the race showed under."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
    return subprocess.Popen([sys.executable, "-c", code])


@pytest.mark.slow  # a whole sandbox start, on purpose under a CPU-bound neighbour
def test_env_file_under_load_is_absent_or_complete_never_partial(tmp_path):
    """Also ``kill`` (SIGTERM) of a background ``sentinel dev``: exit 0, env file removed."""
    env = _base_env(tmp_path / "home")
    env_file = tmp_path / "sb.env"
    env_file.write_text("export AWS_ENDPOINT_URL=http://stale.invalid\n")  # an earlier run
    burner = _burn_cpu(20)
    proc = subprocess.Popen(
        [
            *_sentinel(),
            "dev",
            "--no-service",
            "--dir",
            str(tmp_path / "sb"),
            "--env-file",
            str(env_file),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                text = env_file.read_text()
            except FileNotFoundError:
                time.sleep(0.01)
                continue
            seen.append(text)
            if "stale.invalid" not in text:
                break
            time.sleep(0.01)
        burner.kill()  # the race is in the start; the rest need not be slowed down
        final = seen[-1]
        assert "stale.invalid" not in final, "the stale file was not removed at start"
        assert all(t == final for t in seen if "stale.invalid" not in t)
        assert final.endswith("unset SENTINEL_REMOTE\n"), final
        assert final.startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:")
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        shell = subprocess.run(
            [
                "sh",
                "-c",
                f"SENTINEL_REMOTE=http://old.invalid; . {env_file}; "
                'echo "${SENTINEL_REMOTE-unset}"; aws sts get-caller-identity --output json',
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shell.returncode == 0, shell.stderr
        first, doc = shell.stdout.split("\n", 1)
        assert first == "unset"  # the stale variable of a previous default-mode sandbox
        assert json.loads(doc)["Arn"].endswith(":user/alice")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not env_file.exists()
        err = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in err and "sandbox stopped" in err
        assert "sso-admin" in err  # --no-service keeps the Identity Center profiles
    finally:
        burner.kill()
        burner.wait()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_no_service_exports_unset_the_service_variable():
    lines = export_lines({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert lines[-1] == "unset SENTINEL_REMOTE"
    assert "unset SENTINEL_REMOTE" not in export_lines({"SENTINEL_REMOTE": "http://x"})
