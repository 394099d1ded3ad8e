"""Talking to telecom networks: the adapter contract, the registry, the adapters, the simulator.

Adapters are found by name: the built-ins first, then the entry-point group ``broadcaster.carriers``
so that a carrier can ship its adapter as a package of its own. A factory takes the route's options
and credentials and returns an object that satisfies ``carriers.base.Adapter``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from carriers.base import Adapter
from carriers.errors import UnknownAdapter

ENTRY_POINT_GROUP = "broadcaster.carriers"

Factory = Callable[[Mapping[str, Any], Mapping[str, str]], Adapter]

BUILTINS: dict[str, str] = {
    "simulator": "carriers.simulator:SimulatorAdapter.from_options",
    "esms": "carriers.esms:EsmsAdapter.from_options",
    "viettel": "carriers.viettel:ViettelAdapter.from_options",
    "smpp": "carriers.smpp:SmppAdapter.from_options",
}


def _load(target: str) -> Factory:
    module_name, _, attribute = target.partition(":")
    obj: Any = import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    factory: Factory = obj
    return factory


def known_adapters() -> list[str]:
    names = set(BUILTINS)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def adapter_factory(name: str) -> Factory:
    """The factory registered under ``name``; an unknown name lists the known ones."""
    if name in BUILTINS:
        return _load(BUILTINS[name])
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            factory: Factory = ep.load()
            return factory
    msg = f"no carrier adapter named {name!r}; known adapters: {', '.join(known_adapters())}"
    raise UnknownAdapter(msg)


def create_adapter(name: str, options: Mapping[str, Any], credentials: Mapping[str, str]) -> Adapter:
    return adapter_factory(name)(options, credentials)


__all__ = ["BUILTINS", "ENTRY_POINT_GROUP", "Factory", "adapter_factory", "create_adapter", "known_adapters"]
