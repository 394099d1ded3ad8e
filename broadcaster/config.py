"""Settings: ``broadcaster.toml`` in the workspace, environment overrides, defaults for everything.

The settings object is built once (by the CLI callback or ``create_app()``) and passed down; nothing
here runs at import time. Every value has a default, so an empty workspace runs the embedded
configuration: a SQLite file in the workspace, Asia/Ho_Chi_Minh, a 07:00-22:00 sending window and a
simulated route for every carrier.

Environment overrides are named ``BROADCASTER_<SECTION>_<KEY>`` (``BROADCASTER_DATABASE_URL``,
``BROADCASTER_CAMPAIGN_WINDOW``). Credentials are never read from the file: a route names the
environment variables that hold them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from audiences.phones import CARRIERS

SETTINGS_FILE = "broadcaster.toml"
ENV_PREFIX = "BROADCASTER_"


class ConfigError(Exception):
    """A setting that cannot be used; the message names the key and where it came from."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = ""
    """SQLAlchemy URL; empty means ``sqlite:///<workspace>/broadcaster.db``."""


class CampaignSettings(_Section):
    timezone: str = "Asia/Ho_Chi_Minh"
    window: str = "07:00-22:00"
    encoding: Literal["auto", "unicode", "ascii"] = "auto"
    sender: str = "TUYENTRUYEN"
    retention_days: int = Field(default=90, ge=1)
    misfire_grace_hours: float = Field(default=6, ge=0)
    daily_cap: int = Field(default=0, ge=0)
    """Most messages one number gets per local day across all campaigns (0: no cap)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown time zone {value!r} (e.g. 'Asia/Ho_Chi_Minh')"
            raise ValueError(msg) from exc
        return value

    @field_validator("window")
    @classmethod
    def _valid_window(cls, value: str) -> str:
        parse_window(value)
        return value

    @field_validator("sender")
    @classmethod
    def _brandname(cls, value: str) -> str:
        if not 1 <= len(value) <= 11:
            msg = f"a brandname has 1 to 11 characters; {value!r} has {len(value)}"
            raise ValueError(msg)
        return value


class ProvinceSettings(_Section):
    code: str = "72"
    department: str = "Sở Khoa học và Công nghệ"
    police_phones: dict[str, str] = Field(default_factory=dict)
    """Local police contact per district code, used by templates as ``police_phone``."""


class DispatchSettings(_Section):
    lease_seconds: float = Field(default=60, gt=0)
    """A claimed message returns to the queue if its worker has not reported within this time."""
    heartbeat_seconds: float = Field(default=5, gt=0)
    chunk: int = Field(default=50, ge=1, le=10_000)
    """Messages a sender thread claims at a time on a one-number route."""


class RouteSettings(_Section):
    name: str
    adapter: str = "simulator"
    tps: float = Field(default=50, gt=0)
    tps_unit: Literal["part", "message"] = "part"
    """What the carrier's TPS counts: SMS parts (most carriers) or whole messages."""
    concurrency: int = Field(default=4, ge=1, le=256)
    """Requests in flight at once on this route (sender threads per worker)."""
    batch: int | None = Field(default=None, ge=1)
    """Most messages handed to the adapter at once (default: the adapter's own limit). 1 paces every
    request through the route's bucket, for adapters that send a batch as many separate requests."""
    validity_hours: float = Field(default=72, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    max_age_hours: float = Field(default=24, gt=0)
    """A message not accepted this long after it was queued fails."""
    options: dict[str, Any] = Field(default_factory=dict)
    credentials_env: dict[str, str] = Field(default_factory=dict)
    """Option name -> environment variable holding its value (never the value itself)."""
    callback_secret_env: str | None = None
    """Environment variable holding the secret that authenticates this route's receipt callbacks."""

    def callback_secret(self, environ: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if environ is None else environ
        return env.get(self.callback_secret_env) if self.callback_secret_env else None

    def credentials(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The route's secrets, read from the environment; a missing variable is a ConfigError."""
        env = os.environ if environ is None else environ
        missing = [var for var in self.credentials_env.values() if var not in env]
        if missing:
            msg = (
                f"route {self.name!r} needs the environment variable(s) {', '.join(missing)}; "
                "set them before starting broadcaster"
            )
            raise ConfigError(msg)
        return {option: env[var] for option, var in self.credentials_env.items()}


def _default_routes() -> dict[str, list[RouteSettings]]:
    return {carrier: [RouteSettings(name=f"sim-{carrier}")] for carrier in CARRIERS}


class Settings(_Section):
    workspace: Path = Path(".")
    database: DatabaseSettings = DatabaseSettings()
    campaign: CampaignSettings = CampaignSettings()
    dispatch: DispatchSettings = DispatchSettings()
    province: ProvinceSettings = ProvinceSettings()
    routes: dict[str, list[RouteSettings]] = Field(default_factory=_default_routes)
    prices: dict[str, float] = Field(default_factory=dict)
    """Price of one SMS segment per carrier, in VND, for cost estimates."""
    templates_dir: Path | None = None

    @model_validator(mode="after")
    def _known_carriers(self) -> Settings:
        for section in ("routes", "prices"):
            unknown = sorted(set(getattr(self, section)) - set(CARRIERS))
            if unknown:
                msg = f"{section}: unknown carrier {unknown[0]!r} (carriers: {', '.join(CARRIERS)})"
                raise ValueError(msg)
        names = [route.name for routes in self.routes.values() for route in routes]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            msg = f"routes: the route name {duplicated[0]!r} is used twice; route names are unique"
            raise ValueError(msg)
        return self

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.workspace / 'broadcaster.db').resolve()}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.campaign.timezone)

    def routes_for(self, carrier: str) -> list[RouteSettings]:
        """The carrier's routes in order of preference (the first is tried first)."""
        return list(self.routes.get(carrier, []))

    def route(self, name: str) -> RouteSettings:
        for routes in self.routes.values():
            for route in routes:
                if route.name == name:
                    return route
        msg = f"no route named {name!r} in the configuration"
        raise ConfigError(msg)


_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(value: str) -> tuple[time, time]:
    """``"07:00-22:00"`` -> (07:00, 22:00); the end must come after the start."""
    match = _WINDOW.match(value)
    if not match:
        msg = f"a sending window is written HH:MM-HH:MM, e.g. 07:00-22:00; got {value!r}"
        raise ValueError(msg)
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        msg = f"the sending window {value!r} has an impossible time"
        raise ValueError(msg)
    start, end = time(h1, m1), time(23, 59, 59) if h2 == 24 else time(h2, m2)
    if end <= start:
        msg = f"the sending window {value!r} ends before it starts"
        raise ValueError(msg)
    return start, end


def load_settings(workspace: Path | str = ".", environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``broadcaster.toml`` from the workspace (if present), apply environment overrides, validate."""
    workspace = Path(workspace)
    env = os.environ if environ is None else environ
    path = workspace / SETTINGS_FILE
    data: dict[str, Any] = _read_file(path) if path.exists() else {}
    origin = {key: str(path) for key in _flatten(data)}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key not in _NOT_SETTINGS:
            dotted = _env_key(key[len(ENV_PREFIX) :], data)
            _assign(data, dotted, value)
            origin[dotted] = f"environment variable {key}"
    data["workspace"] = workspace
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin, path)) from exc


_NOT_SETTINGS = {
    "BROADCASTER_TEST_PG_URL",
    "BROADCASTER_REQUIRE_PG",
    "BROADCASTER_REQUIRE_BROWSER",
    "BROADCASTER_WORKSPACE",
}
"""Variables of the test harness and the CLI that share the prefix but are not settings."""


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML ({exc}); fix the file or delete it and run 'broadcaster init'"
        raise ConfigError(msg) from exc
    except OSError as exc:
        msg = f"{path}: cannot be read ({exc.strerror}); check its permissions"
        raise ConfigError(msg) from exc


def _env_key(suffix: str, data: Mapping[str, Any]) -> str:
    """``CAMPAIGN_WINDOW`` -> ``campaign.window``; a section name may itself hold underscores."""
    lowered = suffix.lower()
    for section in sorted(Settings.model_fields, key=len, reverse=True):
        if lowered.startswith(section + "_"):
            return f"{section}.{lowered[len(section) + 1 :]}"
    return lowered


def _assign(data: dict[str, Any], dotted: str, value: str) -> None:
    section, _, key = dotted.partition(".")
    if not key:
        data[section] = value
        return
    target = data.setdefault(section, {})
    if isinstance(target, dict):
        target[key] = value


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, Mapping):
            keys.extend(_flatten(value, dotted + "."))
    return keys


def _explain(exc: ValidationError, origin: Mapping[str, str], path: Path) -> str:
    error = exc.errors()[0]
    dotted = ".".join(str(part) for part in error["loc"])
    where = next(
        (origin[key] for key in sorted(origin, key=len, reverse=True) if dotted.startswith(key)),
        str(path),
    )
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown setting '{dotted}'; check its spelling (see 'broadcaster init' for every setting)"
    reason = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) else f" = {value!r}"
    return f"{where}: invalid setting '{dotted}'{shown}: {reason}"


SAMPLE = """\
# broadcaster settings. Every line is optional: the values shown are the defaults.
# Environment variables override this file: BROADCASTER_<SECTION>_<KEY>, e.g.
# BROADCASTER_DATABASE_URL=postgresql+psycopg://user@host/db
# Credentials never go in this file: a route names the environment variables that hold them.

[database]
# Empty: a SQLite file broadcaster.db in this folder.
# PostgreSQL: "postgresql+psycopg://user@127.0.0.1:5432/broadcaster"
url = ""

[campaign]
timezone = "Asia/Ho_Chi_Minh"
# Messages go out only inside this window, local time; sending resumes by itself the next day.
window = "07:00-22:00"
# auto: send without diacritics when that costs fewer SMS segments; unicode: always keep
# diacritics; ascii: always remove them.
encoding = "auto"
# The registered brandname (at most 11 characters).
sender = "TUYENTRUYEN"
# Phone numbers of finished runs are purged after this many days; report totals are kept.
retention_days = 90
# A run missed while the service was down is still sent if it is less than this many hours late.
misfire_grace_hours = 6
# At most this many messages per number per day across all campaigns (0: no cap).
daily_cap = 0

[dispatch]
# A message claimed by a worker that dies goes back to the queue after this many seconds.
lease_seconds = 60
heartbeat_seconds = 5
chunk = 50

[province]
# National statistics code of the province (72 = Tây Ninh before 1 July 2025).
code = "72"
department = "Sở Khoa học và Công nghệ"

# Local police contact per district code, available to templates as {{ police_phone }}.
[province.police_phones]
# "703" = "0276 3822 XXX"

# Price of one SMS segment per carrier, in VND, for cost estimates.
[prices]
# viettel = 800

# Each carrier sends through an ordered list of routes; the first healthy one is used.
# By default every carrier uses the built-in simulator, which sends nothing.
# [[routes.viettel]]
# name = "esms-main"
# adapter = "esms"
# tps = 30                # what the carrier allows per second
# tps_unit = "part"       # the carrier counts SMS parts ("part") or whole messages ("message")
# concurrency = 4         # requests in flight at once
# batch = 1               # messages per adapter call (default: the adapter's limit)
# validity_hours = 72     # a sent message with no receipt after this long is expired
# max_attempts = 5
# max_age_hours = 24      # a message not accepted after this long fails
# options = { brandname = "TUYENTRUYEN", sms_type = "2" }
# credentials_env = { api_key = "ESMS_API_KEY", secret_key = "ESMS_SECRET_KEY" }
# # Receipts: the carrier calls https://<host>/receipts/esms-main/<secret>; the secret is read from
# # this environment variable (or sent as an X-Broadcaster-Signature HMAC of the request).
# callback_secret_env = "ESMS_CALLBACK_SECRET"
"""
