"""Flag values parsed without pydantic: the plain cases, as Typer would parse them.

Typer (0.29 and later) coerces every parameter through a pydantic `TypeAdapter`, and
builds one for each parameter of the command being run, given or not: the first costs
the import of pydantic (60-80 ms on a slow machine), the rest a schema each. A streaming
command has sixty flags, so that was most of its start-up (issue 17.1).

`LightParam` stands in for Typer's coercion object. A flag that was not given is None
(Typer's own answer, without an adapter); a value whose meaning is not in doubt (a
string for a `str` flag, `12` for an `int`, `0.5` for a `float` inside its range, one
of the choices of an Enum, a path) is converted here, to exactly what the adapter
would give. Anything else (a bad value, `1e3`, ` 5`) goes to Typer's own coercion, so
the error messages, and every value the fast path does not know, stay Typer's. Under
an older Typer that has no `get_runtime_param`, the override is never called.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer.core import TyperArgument, TyperOption

__all__ = ["LightArgument", "LightOption", "LightParam", "light"]

_INT = re.compile(r"-?[0-9]+\Z")
_FLOAT = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")

#: What `_fast` returns when the value is not plain: Typer's coercion decides.
_MISS: Any = object()


class LightParam:
    """Typer's coercion contract (`coerce(value, param, ctx)`) with the plain cases done
    here and the rest handed to `full()`, built (pydantic and all) only when needed."""

    def __init__(self, descriptor: Any, full: Callable[[], Any]) -> None:
        self.descriptor = descriptor
        self._full = full
        self._built: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = bool(param.multiple or param.nargs == -1)
        if value is None:
            return () if multi else None  # as Typer's RuntimeParam.coerce
        if not (multi and isinstance(value, str)):  # that one is Typer's error to say
            info = self.descriptor.parameter_info
            if self.descriptor.file_annotation is None and info.parser is None:
                out = _fast(self.descriptor.annotation, info, value, param, ctx)
                if out is not _MISS:
                    return out
        if self._built is None:
            self._built = self._full()
        return self._built.coerce(value, param=param, ctx=ctx)


def _fast(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """`value` as Typer's adapter for `annotation` would return it, or `_MISS`."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (Any,)
        if not isinstance(value, (list, tuple)):
            return _MISS
        items = [_fast(item, info, v, param, ctx) for v in value]
        return _MISS if any(x is _MISS for x in items) else items
    if annotation is str:
        return value if isinstance(value, str) else _MISS
    if annotation is bool:
        return value if isinstance(value, bool) else _MISS
    if annotation is int:
        if type(value) is int:
            number: Any = value
        elif isinstance(value, str) and _INT.match(value):
            number = int(value)
        else:
            return _MISS
        return number if _in_range(number, info) else _MISS
    if annotation is float:
        if type(value) is float:
            number = value
        elif isinstance(value, str) and _FLOAT.match(value):
            number = float(value)
        else:
            return _MISS
        return number if _in_range(number, info) else _MISS
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(annotation, info, value, ctx)
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return _path(annotation, info, value, param, ctx)
    return _MISS


def _in_range(number: float, info: Any) -> bool:
    """Inside min/max (clamping is Typer's to do)."""
    if info.clamp:
        return False
    if info.min is not None and number < info.min:
        return False
    return not (info.max is not None and number > info.max)


def _choice(annotation: type[Enum], info: Any, value: Any, ctx: Any) -> Any:
    if isinstance(value, annotation):
        return value
    try:
        from typer._param_types import coerce_cli_choice

        return coerce_cli_choice(
            value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx
        )
    except Exception:  # not a choice (or another Typer): its coercion says why
        return _MISS


def _path(annotation: type[Path], info: Any, value: Any, param: Any, ctx: Any) -> Any:
    path_type = info.path_type or annotation
    if not isinstance(path_type, type) or not issubclass(path_type, Path):
        return _MISS
    if isinstance(value, str) and value and "\0" not in value:
        value = path_type(value)  # what Typer's adapter does first, with pydantic
    if not isinstance(value, path_type):
        return _MISS
    try:
        from typer._param_types import coerce_cli_path

        return coerce_cli_path(value, info, path_type=path_type, param=param, ctx=ctx)
    except Exception:  # a missing file, a directory: its coercion says so
        return _MISS


def _runtime_param(param: Any) -> Any:
    """The parameter's coercion, a `LightParam` made once (Typer's lazy slot for it)."""
    if getattr(param, "_runtime_param", None) is None:
        descriptor = param.type_descriptor

        def full() -> Any:
            from typer._coercion import build_runtime_param

            return build_runtime_param(descriptor)

        param._runtime_param = LightParam(descriptor, full)
    return param._runtime_param


class LightOption(TyperOption):
    """A Typer option parsed through `LightParam`."""

    def get_runtime_param(self) -> Any:
        return _runtime_param(self)


class LightArgument(TyperArgument):
    """A Typer argument parsed through `LightParam`."""

    def get_runtime_param(self) -> Any:
        return _runtime_param(self)


def light(param: Any) -> None:
    """Make a Typer option or argument (exactly those classes) parse through `LightParam`,
    when this Typer has the `get_runtime_param` hook."""
    if not hasattr(TyperOption, "get_runtime_param"):
        return
    if type(param) is TyperOption:
        param.__class__ = LightOption
    elif type(param) is TyperArgument:
        param.__class__ = LightArgument
