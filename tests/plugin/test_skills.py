"""Every skill is a well-formed SKILL.md that Claude Code can load and pick at the right time."""

import pytest
import skilldocs

SKILLS = skilldocs.load_skills()


def test_the_plugin_has_exactly_the_listed_skills():
    assert tuple(skill.folder for skill in SKILLS) == skilldocs.SKILL_NAMES


@pytest.mark.parametrize("skill", SKILLS, ids=lambda skill: skill.folder)
def test_a_skill_is_named_after_its_folder(skill):
    assert skill.frontmatter.get("name") == skill.folder


@pytest.mark.parametrize("skill", SKILLS, ids=lambda skill: skill.folder)
def test_a_skill_description_says_when_to_use_it(skill):
    description = skill.frontmatter.get("description")
    assert isinstance(description, str)
    assert description.strip()
    assert "Use when" in description
    # Claude Code truncates long descriptions in its skill listing.
    assert len(description) <= 1024


@pytest.mark.parametrize("skill", SKILLS, ids=lambda skill: skill.folder)
def test_a_skill_frontmatter_has_only_known_keys(skill):
    assert set(skill.frontmatter) <= {"name", "description", "allowed-tools"}


@pytest.mark.parametrize("skill", SKILLS, ids=lambda skill: skill.folder)
def test_a_skill_tells_the_agent_which_commands_to_run(skill):
    program = "agent-relay-server" if skill.folder == "setup-relay-server" else "agent-relay"
    assert skilldocs.skill_commands(skill, program)


def test_commands_are_found_inside_ssh_and_sh_quoting_and_stop_at_shell_operators():
    line = "ssh HOST 'sudo sh -c \"agent-relay-server systemd-unit > /etc/x.service\"'"
    assert skilldocs.invocations(line, "agent-relay-server") == [("systemd-unit",)]


def test_a_heredoc_is_not_part_of_the_command():
    line = "agent-relay send SESSION - <<'MSG'"
    assert skilldocs.invocations(line, "agent-relay") == [("send", "SESSION", "-")]


def test_a_program_name_inside_a_longer_word_is_not_a_call():
    assert skilldocs.invocations("uv tool install packages/agent-relay", "agent-relay") == []


def test_a_user_or_unit_named_like_the_program_is_not_a_call():
    line = "sudo -u agent-relay agent-relay-server init --host 0.0.0.0"
    assert skilldocs.invocations(line, "agent-relay") == []
    assert skilldocs.invocations(line, "agent-relay-server") == [("init", "--host", "0.0.0.0")]
    assert skilldocs.invocations("sudo systemctl enable --now agent-relay", "agent-relay") == []


def test_env_assignments_and_sudo_env_prefixes_are_skipped():
    line = "sudo env UV_TOOL_DIR=/opt/x uv tool install --force ./packages/relay-client"
    assert skilldocs.invocations(line, "uv") == [
        ("tool", "install", "--force", "./packages/relay-client")
    ]


def test_the_arguments_of_a_docker_image_are_found_but_not_its_build_tag():
    assert skilldocs.image_invocations("docker build -t relay:local .", "relay:local") == []
    line = "docker run --rm -v data:/var/lib relay:local init --host 0.0.0.0"
    assert skilldocs.image_invocations(line, "relay:local") == [("init", "--host", "0.0.0.0")]
