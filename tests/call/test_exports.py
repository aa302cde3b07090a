"""``engine.call``'s public API: what ``__all__`` promises is there, and is the real thing."""

import importlib
import inspect
import pkgutil
import typing
from types import ModuleType

import engine.call
from engine.call import actions, events


def submodules() -> list[ModuleType]:
    return [
        importlib.import_module(f"engine.call.{info.name}")
        for info in pkgutil.iter_modules(engine.call.__path__)
    ]


def homes() -> dict[str, list[ModuleType]]:
    """Each public name of a submodule, and the submodules whose ``__all__`` list it."""
    found: dict[str, list[ModuleType]] = {}
    for module in submodules():
        for name in getattr(module, "__all__", ()):
            found.setdefault(name, []).append(module)
    return found


def test_every_name_in_all_is_importable_from_the_package():
    missing = [name for name in engine.call.__all__ if not hasattr(engine.call, name)]
    assert missing == []
    assert len(set(engine.call.__all__)) == len(engine.call.__all__)


def test_every_exported_name_is_the_object_its_module_defines():
    declared = homes()
    for name in engine.call.__all__:
        assert name in declared, f"{name} is in no submodule's __all__"
        for module in declared[name]:
            assert getattr(engine.call, name) is getattr(module, name), (name, module.__name__)


def test_every_event_and_action_is_exported():
    for union in (events.CallEvent, actions.Action):
        for member in typing.get_args(union):
            assert member.__name__ in engine.call.__all__
    for module in (events, actions):
        classes = [
            name
            for name, value in vars(module).items()
            if inspect.isclass(value)
            and value.__module__ == module.__name__
            and not name.startswith("_")
        ]
        assert classes, module.__name__
        assert set(classes) <= set(engine.call.__all__), module.__name__
        assert set(module.__all__) <= set(engine.call.__all__), module.__name__


def test_every_event_class_is_a_call_event():
    """A new event class left out of ``CallEvent`` would type-check nowhere it is handled."""
    classes = {
        value
        for value in vars(events).values()
        if inspect.isclass(value) and value.__module__ == events.__name__
    }
    assert classes == set(typing.get_args(events.CallEvent))


def test_the_core_api_is_exported():
    core = {
        "CallMachine",
        "CallDriver",
        "Platform",
        "CallPlatform",
        "CallGone",
        "IncomingCall",
        "SessionSpec",
        "ToolRunner",
        "ToolResult",
        "CallEvent",
        "Action",
    }
    assert core <= set(engine.call.__all__)
