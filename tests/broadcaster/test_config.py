"""Settings: defaults, the file, environment overrides, and one clear message per bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiences.phones import CARRIERS
from broadcaster.config import SAMPLE, ConfigError, load_settings, parse_window


class TestDefaults:
    def test_empty_workspace_has_everything(self, tmp_path: Path) -> None:
        """No file: SQLite in the workspace, Asia/Ho_Chi_Minh, 07:00-22:00, a simulated route per carrier."""
        settings = load_settings(tmp_path, environ={})
        assert settings.database_url == f"sqlite:///{(tmp_path / 'broadcaster.db').resolve()}"
        assert settings.campaign.timezone == "Asia/Ho_Chi_Minh"
        assert settings.campaign.window == "07:00-22:00"
        assert sorted(settings.routes) == sorted(CARRIERS)
        assert all(r[0].adapter == "simulator" for r in settings.routes.values())

    def test_sample_file_is_valid_and_matches_defaults(self, tmp_path: Path) -> None:
        """The file written by `init` loads and changes nothing."""
        (tmp_path / "broadcaster.toml").write_text(SAMPLE, encoding="utf-8")
        assert load_settings(tmp_path, environ={}) == load_settings(tmp_path / "nothing", environ={}).model_copy(
            update={"workspace": tmp_path}
        )

    def test_environment_overrides_file(self, tmp_path: Path) -> None:
        """BROADCASTER_<SECTION>_<KEY> wins over the file."""
        (tmp_path / "broadcaster.toml").write_text('[campaign]\nwindow = "08:00-20:00"\n', encoding="utf-8")
        settings = load_settings(tmp_path, environ={"BROADCASTER_CAMPAIGN_WINDOW": "09:00-17:00"})
        assert settings.campaign.window == "09:00-17:00"
        assert load_settings(tmp_path, environ={}).campaign.window == "08:00-20:00"

    def test_routes_from_file(self, tmp_path: Path) -> None:
        """A carrier's routes are an ordered list; credentials come from the environment only."""
        (tmp_path / "broadcaster.toml").write_text(
            '[[routes.viettel]]\nname = "a"\ntps = 30\ncredentials_env = { api_key = "A_KEY" }\n'
            '[[routes.viettel]]\nname = "b"\n',
            encoding="utf-8",
        )
        settings = load_settings(tmp_path, environ={})
        assert [r.name for r in settings.routes_for("viettel")] == ["a", "b"]
        assert settings.route("a").credentials({"A_KEY": "s3cret"}) == {"api_key": "s3cret"}
        with pytest.raises(ConfigError, match="A_KEY"):
            settings.route("a").credentials({})


class TestErrors:
    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            ('[campaign]\nwindw = "07:00-22:00"\n', "unknown setting 'campaign.windw'"),
            ("[nonsense]\nx = 1\n", "unknown setting 'nonsense'"),
            ('[campaign]\nwindow = "25:00-26:00"\n', "invalid setting 'campaign.window'"),
            ('[campaign]\nwindow = "22:00-07:00"\n', "ends before it starts"),
            ('[campaign]\nencoding = "utf8"\n', "invalid setting 'campaign.encoding'"),
            ('[campaign]\ntimezone = "Asia/Hanoi_City"\n', "unknown time zone"),
            ('[campaign]\nsender = "THIS-IS-TOO-LONG"\n', "at most 11|1 to 11"),
            ('[campaign]\nretention_days = "many"\n', "invalid setting 'campaign.retention_days'"),
            ('[[routes.telecomx]]\nname = "x"\n', "unknown carrier 'telecomx'"),
            ('[[routes.viettel]]\nname = "x"\n[[routes.mobifone]]\nname = "x"\n', "used twice"),
            ("[campaign\n", "not valid TOML"),
        ],
    )
    def test_bad_file_names_key_and_file(self, tmp_path: Path, content: str, expected: str) -> None:
        """Each bad setting gives one message naming the file (and the key)."""
        path = tmp_path / "broadcaster.toml"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ConfigError, match=expected) as info:
            load_settings(tmp_path, environ={})
        assert str(path) in str(info.value)
        assert "\n" not in str(info.value)

    def test_bad_environment_value_names_the_variable(self, tmp_path: Path) -> None:
        """A bad override names the environment variable, not the file."""
        with pytest.raises(ConfigError, match="environment variable BROADCASTER_CAMPAIGN_ENCODING"):
            load_settings(tmp_path, environ={"BROADCASTER_CAMPAIGN_ENCODING": "latin1"})

    def test_unknown_environment_setting(self, tmp_path: Path) -> None:
        """A misspelt BROADCASTER_ variable is refused rather than ignored."""
        with pytest.raises(ConfigError, match="unknown setting 'campain_window'"):
            load_settings(tmp_path, environ={"BROADCASTER_CAMPAIN_WINDOW": "07:00-22:00"})

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A settings path that cannot be read says so and names it."""
        (tmp_path / "broadcaster.toml").mkdir()
        with pytest.raises(ConfigError, match="cannot be read"):
            load_settings(tmp_path, environ={})

    def test_cli_prints_one_line_and_fails(self, tmp_path: Path) -> None:
        """The CLI turns a bad setting into one line on stderr and exit code 1, no traceback."""
        (tmp_path / "broadcaster.toml").write_text('[campaign]\nwindw = "x"\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
        proc = subprocess.run(
            [sys.executable, "-m", "broadcaster", "--dir", str(tmp_path), "db", "upgrade"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "campaign.windw" in lines[0]
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("value", "ok"),
    [("07:00-22:00", True), ("7:30-21:15", True), ("00:00-24:00", True), ("07:00", False), ("07:60-22:00", False)],
)
def test_parse_window(value: str, ok: bool) -> None:
    """Windows are HH:MM-HH:MM with a real start and end."""
    if ok:
        start, end = parse_window(value)
        assert start < end
    else:
        with pytest.raises(ValueError):
            parse_window(value)


def test_init_writes_commented_file(tmp_path: Path) -> None:
    """`broadcaster init` writes broadcaster.toml and the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    proc = subprocess.run(
        [sys.executable, "-m", "broadcaster", "--dir", str(tmp_path), "init"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "broadcaster.toml").read_text(encoding="utf-8") == SAMPLE
    assert (tmp_path / "broadcaster.db").exists()
