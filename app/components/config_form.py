"""A launch form generated from a technique's config class: one widget per field, with the
field's default, bounds, choices and help text. `form_fields` is pure (tested without
Streamlit); `render_settings` draws it and returns the settings that differ from defaults."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
import streamlit as st

# Fields every config has that a user does not set.
HIDDEN = ("recipe", "version")


@dataclass(frozen=True)
class FormField:
    """One editable setting."""

    name: str
    kind: str  # "int", "float", "bool", "choice", "names", "text", "optional_int", "optional_float"
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()


def _bounds(metadata) -> tuple[float | None, float | None]:
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low = item.gt
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Lt):
            high = item.lt
    return low, high


def form_fields(config_type) -> list[FormField]:
    """The config's user-facing fields, in declaration order."""
    fields = []
    for name, info in config_type.model_fields.items():
        if name in HIDDEN:
            continue
        annotation = info.annotation
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        low, high = _bounds(info.metadata)
        common = {"name": name, "default": info.default, "help": info.description or ""}
        if origin is Literal:
            fields.append(FormField(kind="choice", choices=args, **common))
        elif annotation is bool:
            fields.append(FormField(kind="bool", **common))
        elif annotation is int:
            fields.append(FormField(kind="int", minimum=low, maximum=high, **common))
        elif annotation is float:
            fields.append(FormField(kind="float", minimum=low, maximum=high, **common))
        elif origin in (types.UnionType, typing.Union) and int in args and type(None) in args:
            fields.append(FormField(kind="optional_int", minimum=low, maximum=high, **common))
        elif origin in (types.UnionType, typing.Union) and float in args and type(None) in args:
            fields.append(FormField(kind="optional_float", minimum=low, maximum=high, **common))
        elif origin is tuple:
            fields.append(FormField(kind="names", **common))
        elif annotation is str:
            fields.append(FormField(kind="text", **common))
        else:
            raise TypeError(f"{config_type.__name__}.{name}: no form widget for {annotation}")
    return fields


def render_settings(config_type, key: str) -> dict:
    """Draw the config's fields; return the settings the user changed from the defaults."""
    settings: dict = {}
    fields = form_fields(config_type)
    columns = st.columns(2)
    for index, field in enumerate(fields):
        with columns[index % 2]:
            value = _widget(field, f"{key}-{field.name}")
        if value != field.default:
            settings[field.name] = value
    return settings


def _widget(field: FormField, key: str):
    label = field.name.replace("_", " ")
    if field.kind == "choice":
        return st.selectbox(label, field.choices, index=field.choices.index(field.default),
                            key=key, help=field.help)
    if field.kind == "bool":
        return st.toggle(label, value=field.default, key=key, help=field.help)
    if field.kind == "int":
        return int(st.number_input(label, value=field.default, step=1, key=key, help=field.help,
                                   min_value=_int(field.minimum), max_value=_int(field.maximum)))
    if field.kind == "float":
        return float(st.number_input(label, value=float(field.default), key=key, help=field.help,
                                     min_value=_float(field.minimum),
                                     max_value=_float(field.maximum), format="%.4g"))
    if field.kind == "optional_int":
        per_channel = st.toggle(f"{label}: none (per channel)", value=field.default is None,
                                key=f"{key}-none", help=field.help)
        if per_channel:
            return None
        return int(st.number_input(label, value=field.default or 64, step=1, key=key,
                                   min_value=_int(field.minimum), max_value=_int(field.maximum)))
    if field.kind == "optional_float":
        empty = st.toggle(f"{label}: empty", value=field.default is None, key=f"{key}-none",
                          help=field.help)
        if empty:
            return None
        # Open bounds (gt/lt) are left to the config's validation, which names them inline.
        return float(st.number_input(label, value=field.default if field.default is not None
                                     else 0.9, key=key, min_value=_float(field.minimum),
                                     max_value=_float(field.maximum), format="%.4g"))
    if field.kind == "text":
        return st.text_input(label, value=field.default, key=key, help=field.help).strip()
    text = st.text_input(f"{label} (comma separated)", value=", ".join(field.default), key=key,
                         help=field.help)
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _float(value: float | None) -> float | None:
    # Streamlit wants every number of one widget in one type.
    return None if value is None else float(value)
