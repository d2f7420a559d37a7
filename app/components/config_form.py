"""A launch form generated from a technique's config class: one widget per field, with the
field's default, bounds, choices and help text.

Numbers are typed as text and parsed here, not by Streamlit's number widget: that widget
silently keeps its previous value when the browser holds an out-of-range entry, so a job
could run with a value other than the one on screen. Parsing the text ourselves means the
value checked, shown and stored is the one typed, and an invalid one names the allowed range.

`form_fields` and `parse_value` are pure (tested without Streamlit); `render_settings` draws
the form and returns what it holds."""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import annotated_types
import streamlit as st

# Fields every config has that a user does not set.
HIDDEN = ("recipe", "version")
# Text fields: names are short; a list of them is a line, not a document. Longer text gets
# a message (a browser-side limit would drop a longer paste without a word).
MAX_TEXT_CHARS = 1100
MAX_NUMBER_CHARS = 40
SET, UNSET = "set", "unset"


class FieldError(ValueError):
    """A value the field cannot take; the message names what it can take."""


@dataclass(frozen=True)
class FormField:
    """One editable setting."""

    name: str
    kind: str  # "int", "float", "bool", "choice", "names", "text", "optional_int", "optional_float"
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    # True when the bound itself is excluded (pydantic's gt / lt).
    minimum_open: bool = False
    maximum_open: bool = False
    choices: tuple = ()
    # What leaving an optional field empty means, as the form says it.
    none_label: str = "none"
    value_label: str = "a value"

    @property
    def label(self) -> str:
        """The field's name as a person reads it."""
        return self.name.replace("_", " ")

    @property
    def integer(self) -> bool:
        """True for whole-number fields."""
        return self.kind in ("int", "optional_int")

    def allowed(self) -> str:
        """The values this field takes, in words: 'a whole number from 2 to 8'."""
        noun = "a whole number" if self.integer else "a number"
        low = None if self.minimum is None else _number_text(self.minimum)
        high = None if self.maximum is None else _number_text(self.maximum)
        if low is not None and high is not None:
            if not self.minimum_open and not self.maximum_open:
                return f"{noun} from {low} to {high}"
            lower = f"above {low}" if self.minimum_open else f"at least {low}"
            upper = f"below {high}" if self.maximum_open else f"at most {high}"
            return f"{noun} {lower} and {upper}"
        if low is not None:
            return f"{noun} {'above' if self.minimum_open else 'at least'} {low}"
        if high is not None:
            return f"{noun} {'below' if self.maximum_open else 'at most'} {high}"
        return noun


@dataclass
class FormResult:
    """What a drawn form holds: the settings that differ from the defaults, and each
    field's error (the form is valid when `errors` is empty)."""

    settings: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bounds(metadata) -> tuple[float | None, float | None, bool, bool]:
    low = high = None
    low_open = high_open = False
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Lt):
            high, high_open = item.lt, True
    return low, high, low_open, high_open


def _kind(config_type, name: str, annotation) -> tuple[str, tuple]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return "choice", args
    if annotation is bool:
        return "bool", ()
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    optional = origin in (types.UnionType, typing.Union) and type(None) in args
    if optional and int in args:
        return "optional_int", ()
    if optional and float in args:
        return "optional_float", ()
    if origin is tuple:
        return "names", ()
    if annotation is str:
        return "text", ()
    raise TypeError(f"{config_type.__name__}.{name}: no form widget for {annotation}")


def form_fields(config_type) -> list[FormField]:
    """The config's user-facing fields, in declaration order."""
    fields = []
    for name, info in config_type.model_fields.items():
        if name in HIDDEN:
            continue
        kind, choices = _kind(config_type, name, info.annotation)
        low, high, low_open, high_open = _bounds(info.metadata)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        fields.append(FormField(
            name=name, kind=kind, default=info.default, help=info.description or "",
            minimum=low, maximum=high, minimum_open=low_open, maximum_open=high_open,
            choices=choices, none_label=extra.get("none_label", "none"),
            value_label=extra.get("value_label", "a value"),
        ))
    return fields


def parse_value(form_field: FormField, text: str):
    """The number typed into a numeric field, checked against its bounds; FieldError with
    the allowed range otherwise."""
    typed = text.strip()
    if not typed:
        raise FieldError(f"{form_field.label}: empty; enter {form_field.allowed()}")
    # Python also reads "1_000", "nan" and "inf" as numbers; a form does not mean those.
    if len(typed) > MAX_NUMBER_CHARS:
        raise FieldError(f"{form_field.label}: {len(typed):,} characters are not a number; "
                         f"enter {form_field.allowed()}")
    if "_" in typed:
        raise FieldError(f"{form_field.label}: not a number; enter {form_field.allowed()}")
    number = _as_number(typed, integer=form_field.integer)
    if number is None:
        noun = "a whole number" if form_field.integer else "a finite number"
        raise FieldError(f"{form_field.label}: {typed!r} is not {noun}; enter "
                         f"{form_field.allowed()}")
    if not _within(form_field, number):
        raise FieldError(f"{form_field.label}: {typed} is out of range; enter "
                         f"{form_field.allowed()}")
    return number


def _as_number(typed: str, *, integer: bool) -> int | float | None:
    # Integers are read exactly ("12345678901234567890" stays that number); "1e3" and "4.0"
    # are whole numbers too, as long as a float holds them exactly.
    if integer:
        try:
            return int(typed)
        except ValueError:
            pass
    try:
        number = float(typed)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if integer:
        return int(number) if number.is_integer() and abs(number) <= 2**53 else None
    return number


def _within(form_field: FormField, number: float) -> bool:
    low, high = form_field.minimum, form_field.maximum
    if low is not None and (number <= low if form_field.minimum_open else number < low):
        return False
    if high is not None and (number >= high if form_field.maximum_open else number > high):
        return False
    return True


def parse_names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names, as the config takes it."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def prefilled_state(config_type, key: str, settings: dict) -> dict[str, Any]:
    """The widget state that shows `settings` in the form `render_settings(config_type, key)`
    draws: what a link that opens the form prefilled puts in session state before the form
    is drawn. Settings the config has no field for are left out."""
    state: dict[str, Any] = {}
    for form_field in form_fields(config_type):
        if form_field.name not in settings:
            continue
        value, widget = settings[form_field.name], f"{key}-{form_field.name}"
        if form_field.kind in ("optional_int", "optional_float"):
            state[f"{widget}-choice"] = UNSET if value is None else SET
            if value is not None:
                state[widget] = _number_text(value)
        elif form_field.kind in ("int", "float"):
            state[widget] = _number_text(value)
        elif form_field.kind == "names":
            state[widget] = ", ".join(value)
        elif form_field.kind == "choice" and value not in form_field.choices:
            continue  # the form would refuse it; its default stays
        else:
            state[widget] = value
    return state


def render_settings(config_type, key: str) -> FormResult:
    """Draw the config's fields; return the settings that differ from the defaults and the
    errors of fields whose text is not a valid value."""
    result = FormResult()
    columns = st.columns(2)
    for index, form_field in enumerate(form_fields(config_type)):
        with columns[index % 2]:
            try:
                value = _widget(form_field, f"{key}-{form_field.name}")
            except FieldError as error:
                result.errors[form_field.name] = str(error)
                st.error(str(error), icon=":material/error:")
                continue
        if value != form_field.default:
            result.settings[form_field.name] = value
    return result


def _number(form_field: FormField, key: str, default) -> int | float:
    text = st.text_input(
        form_field.label, value=_number_text(default) if default is not None else "",
        key=key, help=f"{form_field.help} ({form_field.allowed()})".strip(),
    )
    return parse_value(form_field, text)


def _optional(form_field: FormField, key: str, fallback):
    # Two named choices rather than a "none" toggle: "group size: per channel" reads as
    # what it is, where a toggle labelled "none (per channel)" read as a double negative.
    options = {SET: form_field.value_label, UNSET: form_field.none_label}
    choice = st.radio(form_field.label, list(options), format_func=options.get,
                      index=1 if form_field.default is None else 0, horizontal=True,
                      key=f"{key}-choice", help=form_field.help)
    if choice == UNSET:
        return None
    default = form_field.default if form_field.default is not None else fallback
    text = st.text_input(f"{form_field.label} ({form_field.allowed()})",
                         value=_number_text(default), key=key,
                         label_visibility="collapsed")
    return parse_value(form_field, text)


def _widget(form_field: FormField, key: str):
    label = form_field.label
    if form_field.kind == "choice":
        return st.selectbox(label, form_field.choices,
                            index=form_field.choices.index(form_field.default),
                            key=key, help=form_field.help)
    if form_field.kind == "bool":
        return st.toggle(label, value=form_field.default, key=key, help=form_field.help)
    if form_field.kind in ("int", "float"):
        return _number(form_field, key, form_field.default)
    if form_field.kind == "optional_int":
        return _optional(form_field, key, 64)
    if form_field.kind == "optional_float":
        return _optional(form_field, key, 0.9)
    if form_field.kind == "text":
        text = st.text_input(label, value=form_field.default, key=key, help=form_field.help)
        return _bounded(form_field, text).strip()
    text = st.text_input(f"{label} (comma separated)", value=", ".join(form_field.default),
                         key=key, help=form_field.help)
    return parse_names(_bounded(form_field, text))


def _bounded(form_field: FormField, text: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise FieldError(f"{form_field.label}: {len(text):,} characters; at most "
                         f"{MAX_TEXT_CHARS:,}")
    return text
