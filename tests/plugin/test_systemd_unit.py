"""The relay's systemd unit: hardened, pointing at the installed server, accepted by systemd."""

import configparser
import shutil
import subprocess

import pytest
import skilldocs
from click.testing import CliRunner

from relay_server.cli import main
from relay_server.systemd import MANAGED_PYTHON_INSTALL, interpreter_of, render_unit

INSTALLED = "/usr/local/bin/agent-relay-server"
"""Where the skill installs the server (not on this machine, so its interpreter is not checked)."""


def service_section(unit: str) -> dict[str, list[str]]:
    """Each [Service] key with all its values (systemd keys may repeat)."""
    values: dict[str, list[str]] = {}
    section = None
    for line in unit.splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_unit_runs_serve_with_the_data_dir_and_config():
    unit = render_unit(executable="/opt/relay/bin/agent-relay-server")
    assert service_section(unit)["ExecStart"] == [
        "/opt/relay/bin/agent-relay-server serve --data-dir /var/lib/agent-relay "
        "--config /var/lib/agent-relay/config.toml"
    ]


def test_the_unit_runs_as_its_own_user_with_a_state_directory():
    service = service_section(render_unit())
    assert service["User"] == ["agent-relay"]
    assert service["Group"] == ["agent-relay"]
    assert service["StateDirectory"] == ["agent-relay"]
    assert "DynamicUser" not in service


def test_without_a_user_the_unit_uses_a_dynamic_user():
    service = service_section(render_unit(user=None))
    assert service["DynamicUser"] == ["yes"]
    assert "User" not in service


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("Restart", "on-failure"),
        ("CapabilityBoundingSet", ""),
        ("RestrictSUIDSGID", "yes"),
        ("PrivateDevices", "yes"),
    ],
)
def test_the_unit_is_hardened(key, value):
    assert value in service_section(render_unit())[key]


def test_a_data_dir_outside_var_lib_is_made_writable_instead_of_a_state_directory():
    service = service_section(render_unit(data_dir="/srv/relay"))
    assert service["ReadWritePaths"] == ["/srv/relay"]
    assert "StateDirectory" not in service


def test_a_nested_state_directory_keeps_its_path_below_var_lib():
    service = service_section(render_unit(data_dir="/var/lib/relays/lan"))
    assert service["StateDirectory"] == ["relays/lan"]


def test_paths_with_spaces_are_quoted_in_exec_start():
    unit = render_unit(config="/etc/agent relay/config.toml")
    assert "--config '/etc/agent relay/config.toml'" in service_section(unit)["ExecStart"][0]


@pytest.mark.parametrize("field", ["executable", "data_dir", "config"])
def test_relative_paths_are_refused(field):
    with pytest.raises(ValueError, match=field):
        render_unit(**{field: "relative/path"})


@pytest.mark.parametrize("home", ["/home/alice/.local/bin/relay", "/root/.local/bin/relay"])
def test_an_executable_under_a_home_directory_is_refused(home):
    with pytest.raises(ValueError, match="ProtectHome"):
        render_unit(executable=home)


def test_the_unit_parses_as_an_ini_file_with_unit_service_and_install_sections():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(render_unit())
    assert parser.sections() == ["Unit", "Service", "Install"]
    assert parser["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("user", ["agent-relay", None])
def test_systemd_accepts_every_line_of_the_unit(tmp_path, user, require_tool):
    require_tool(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed")
    unit = tmp_path / "agent-relay.service"
    # systemd-analyze checks that ExecStart's program exists, so point it at a real one.
    unit.write_text(render_unit(executable=shutil.which("true") or "/bin/true", user=user))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_the_command_prints_the_unit_for_the_installed_server_and_its_data_dir():
    result = CliRunner().invoke(
        main, ["systemd-unit", "--executable", "/usr/local/bin/agent-relay-server"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == render_unit(executable="/usr/local/bin/agent-relay-server")


def test_the_command_reads_the_config_that_init_writes_into_the_data_dir():
    result = CliRunner().invoke(
        main, ["systemd-unit", "--data-dir", "/srv/relay/", "--executable", INSTALLED]
    )
    [exec_start] = service_section(result.output)["ExecStart"]
    assert exec_start.endswith("serve --data-dir /srv/relay/ --config /srv/relay/config.toml")


def test_the_command_defaults_to_the_agent_relay_server_it_runs_as(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/opt/relay/bin/agent-relay-server", "systemd-unit"])
    result = CliRunner().invoke(main, ["systemd-unit"])
    [exec_start] = service_section(result.output)["ExecStart"]
    assert exec_start.startswith("/opt/relay/bin/agent-relay-server serve ")


def test_the_command_can_use_a_dynamic_user():
    result = CliRunner().invoke(main, ["systemd-unit", "--dynamic-user", "--executable", INSTALLED])
    assert service_section(result.output)["DynamicUser"] == ["yes"]


def test_an_executable_in_a_home_directory_is_a_usage_error_not_a_traceback():
    result = CliRunner().invoke(
        main, ["systemd-unit", "--executable", "/root/.local/bin/agent-relay-server"]
    )
    assert result.exit_code == 2
    assert "ProtectHome" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def script(path, first_lines: str):
    path.write_text(first_lines + "import sys\n")
    path.chmod(0o755)
    return str(path)


def test_an_interpreter_under_a_home_directory_is_refused_with_the_reinstall_command():
    with pytest.raises(ValueError, match="UV_PYTHON_PREFERENCE=only-managed"):
        render_unit(
            executable="/usr/local/bin/agent-relay-server",
            interpreter="/root/.pyenv/versions/3.11.7/bin/python3.11",
        )


def test_the_interpreter_is_found_through_the_environments_python_link(tmp_path):
    real = tmp_path / "python-3.12" / "bin" / "python3.12"
    real.parent.mkdir(parents=True)
    real.write_text("")
    env_python = tmp_path / "tools" / "relay-server" / "bin" / "python"
    env_python.parent.mkdir(parents=True)
    env_python.symlink_to(real)
    executable = script(env_python.with_name("agent-relay-server"), f"#!{env_python}\n")
    assert interpreter_of(executable) == str(real)


def test_a_long_path_trampoline_names_its_interpreter_on_the_second_line(tmp_path):
    python = tmp_path / "py thon" / "python3"
    python.parent.mkdir()
    python.write_text("")
    executable = script(
        tmp_path / "server", f"#!/bin/sh\n'''exec' '{python}' \"$0\" \"$@\"\n' '''\n"
    )
    assert interpreter_of(executable) == str(python)


def test_a_file_that_is_not_a_script_has_no_interpreter(tmp_path):
    binary = tmp_path / "server"
    binary.write_bytes(b"\x7fELF\x02\x01\x01")
    assert interpreter_of(str(binary)) is None
    assert interpreter_of(str(tmp_path / "missing")) is None


def test_the_command_refuses_a_server_installed_with_a_python_under_root(tmp_path):
    executable = script(
        tmp_path / "agent-relay-server", "#!/root/.pyenv/versions/3.11.7/bin/python3.11\n"
    )
    result = CliRunner().invoke(main, ["systemd-unit", "--executable", executable])
    assert result.exit_code == 2
    assert "/root/.pyenv/versions/3.11.7/bin/python3.11" in result.output
    assert "UV_PYTHON_PREFERENCE=only-managed" in result.output


def test_the_command_accepts_a_server_whose_python_the_service_can_run(tmp_path):
    executable = script(tmp_path / "agent-relay-server", "#!/usr/bin/python3\n")
    result = CliRunner().invoke(main, ["systemd-unit", "--executable", executable])
    assert result.exit_code == 0, result.output


def test_the_reinstall_command_in_the_refusal_is_the_skills_install_line():
    skill = (skilldocs.SKILLS_DIR / "setup-relay-server" / "SKILL.md").read_text()
    assert MANAGED_PYTHON_INSTALL.removeprefix("sudo ") in skill
    assert "UV_PYTHON_PREFERENCE=only-managed" in MANAGED_PYTHON_INSTALL
