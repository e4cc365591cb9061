"""The run controls, generated from the settings schema (engine/settings.py): one widget
per setting, its key the setting's name and bound to the page's address, so a copied
link reproduces the exact run. A value in the link that a control does not allow is
named in a warning (Streamlit would drop it silently)."""
from __future__ import annotations

import dataclasses

import streamlit as st

from engine.config import ConfigError, RunConfig
from engine.limits import CLASS_SIZE, check_run_memory, session_limit
from engine.pruning import STRATEGIES
from engine.settings import SETTINGS, Setting
from engine.text import plain

DEFAULTS = RunConfig()
BOUND = dict(bind="query-params")
# Where each group of controls sits; "main" is the container itself.
GROUPS = {"method": "Schedule, lottery ticket, options", "training": "Training and speed"}
TOGGLE_WORDS = {"true": True, "false": False}


def app_settings(strategy: bool = True) -> list[Setting]:
    """The settings the app shows (all but those the schema keeps out of links)."""
    return [s for s in SETTINGS if s.app is not None and (strategy or s.name != "strategy")]


def options_of(setting: Setting) -> tuple:
    return setting.app.options or setting.allowed_choices()


def start_value(setting: Setting):
    """The widget's value before anyone moves it."""
    if setting.default is not None:
        return setting.default
    return setting.app.none_as if setting.app.none_as is not None else setting.app.start


def allowed(setting: Setting) -> str:
    widget = setting.app
    if widget.kind == "select":
        return "one of " + ", ".join(map(str, options_of(setting)))
    if widget.kind == "checkbox":
        return "true or false"
    return f"a number in [{widget.low:g}, {widget.high:g}]"


def link_warning(name: str, text: str, allowed: str, instead: str = "using the default") -> str:
    """The app's one sentence for a value in the address that a setting does not allow:
    the setting, the value as text, what it must be, and what is shown instead."""
    return f"Link setting {name}={plain(repr(text), 120)} is invalid: must be {plain(allowed)}; {instead}."


def check_url(setting: Setting, text: str, high: float | None = None) -> str | None:
    """A message when a value in the link is not one this control allows (``high``: the
    control's upper end when another setting sets it, as the warm-up sets the rewind epoch's)."""
    widget = setting.app
    if high is not None:
        widget = dataclasses.replace(widget, high=high)
    if widget.kind == "select":
        ok = text in {str(o) for o in options_of(setting)}
    elif widget.kind == "checkbox":
        ok = text.lower() in TOGGLE_WORDS
    else:
        try:
            ok = widget.low <= float(text) <= widget.high
        except ValueError:
            ok = False
    if ok:
        return None
    shown = allowed(setting) if high is None else f"a number in [{widget.low:g}, {widget.high:g}]"
    return link_warning(setting.name, text, shown)


def widget(setting: Setting, container, high: float | None = None, key: str | None = None,
           bound: bool = True):
    """The setting's widget in ``container``, keyed by the setting's name (and bound to the
    page's address) unless told otherwise; returns its value."""
    app, value = setting.app, start_value(setting)
    common = dict(key=key or setting.name, help=_help(setting), **(BOUND if bound else {}))
    if app.kind == "select":
        options = list(options_of(setting))
        if len(options) > 6 and all(isinstance(o, (int, float)) for o in options):
            return container.select_slider(app.label, options, value=value, **common)
        index = options.index(value) if value in options else 0
        return container.selectbox(app.label, options, index=index, **common)
    if app.kind == "checkbox":
        return container.checkbox(app.label, value=value, **common)
    cast = float if setting.type is float else int
    high = app.high if high is None else high
    if app.kind == "slider":
        return container.slider(app.label, cast(app.low), cast(high), cast(value), cast(app.step), **common)
    return container.number_input(app.label, cast(app.low), cast(high), cast(value), cast(app.step), **common)


def strategy_help() -> str:
    return "\n".join(f"- **{s.name}**: {s.description}" for s in STRATEGIES.values())


def _help(setting: Setting) -> str:
    if setting.name == "strategy":
        return strategy_help()
    return setting.help[:1].upper() + setting.help[1:] + "."


def check_option_url(option, text: str) -> str | None:
    """A message when a link's value for a strategy option is not allowed."""
    high = min(option.high, 10**9)
    try:
        ok = option.low <= float(text) <= high
    except ValueError:
        ok = False
    return None if ok else link_warning(f"option_{option.name}", text, f"a number in [{option.low:g}, {high:g}]")


def strategy_options(container, strategy: str | None) -> dict:
    """The chosen strategy's own options; only values off their default go in the config,
    so a run with the defaults has the same cache key as one that names none."""
    chosen = {}
    options = STRATEGIES[strategy].options if strategy in STRATEGIES else {}
    for option in options.values():
        raw = st.query_params.get(f"option_{option.name}")
        if raw is not None and (problem := check_option_url(option, raw)):
            st.warning(problem)
        step = 1 if option.type is int else 0.01
        value = container.number_input(
            f"{strategy}: {option.name}", option.type(option.low), option.type(min(option.high, 10**9)),
            option.type(option.default), option.type(step), key=f"option_{option.name}",
            help=option.help or None, **BOUND)
        if value != option.default:
            chosen[option.name] = option.type(value)
    return chosen


def form_controls(container, names: list[str], key_prefix: str) -> dict:
    """Controls for the named settings inside an ``st.form``, whose values apply on submit:
    not bound to the address, keyed with ``key_prefix`` so they never meet a page's own
    widgets. A setting shown only under a condition (the target sparsity, the rewind
    epoch) is always shown here and applies only when its condition holds."""
    values: dict = {}
    for setting in (s for s in app_settings() if s.name in names and s.app.kind != "options"):
        app = setting.app
        enabled = True
        if app.toggle is not None:
            key, label, help_text = app.toggle
            enabled = container.checkbox(label, key=key_prefix + key, help=help_text)
        value = widget(setting, container, key=key_prefix + setting.name, bound=False)
        values[setting.name] = None if not enabled or (app.none_as is not None and value == app.none_as) else value
    for setting in app_settings():
        if setting.name in values and setting.app.shown_if is not None and not setting.app.shown_if(values):
            values[setting.name] = None
    return values


def run_controls(container, strategy: bool = True, base: RunConfig = DEFAULTS,
                 at: dict | None = None) -> RunConfig | None:
    """Render every run control; return the validated RunConfig, or None after showing why not.
    ``at``: containers for some settings by name (presenter view's bar takes the strategy
    and the amount); the same keys, so a value stays when its control moves."""
    values: dict = {"strategy": base.strategy if base.strategy in STRATEGIES else next(iter(STRATEGIES))}
    places = {"main": container}
    for setting in app_settings(strategy):
        app = setting.app
        raw = st.query_params.get(setting.name)
        linked_high = max(values[setting.high_from], 0) if values.get(setting.high_from) is not None else None
        if raw is not None and app.kind != "options" and (problem := check_url(setting, raw, linked_high)):
            st.warning(problem)
        if app.group not in places:  # opened where its first control goes, below the ones before
            places[app.group] = container.expander(GROUPS[app.group])
        place = (at or {}).get(setting.name, places[app.group])
        if app.kind == "options":
            values[setting.name] = strategy_options(place, values["strategy"])
            continue
        if app.shown_if is not None and not app.shown_if(values):
            values[setting.name] = None
            continue
        if app.toggle is not None:
            key, label, help_text = app.toggle
            raw = st.query_params.get(key)
            if raw is not None and raw.lower() not in TOGGLE_WORDS:
                st.warning(link_warning(key, raw, "true or false"))
            if not place.checkbox(label, key=key, help=help_text, **BOUND):
                values[setting.name] = None
                continue
        high = max(values[setting.high_from], 0) if setting.high_from else None
        value = widget(setting, place, high)
        values[setting.name] = None if app.none_as is not None and value == app.none_as else value
    try:
        config = base.replace(**values).validate()
        # The server is shared by a class: one run may take a 1/CLASS_SIZE share of it.
        check_run_memory(config, session_limit(), f"a class of {CLASS_SIZE} sharing this server")
        return config
    except ConfigError as exc:
        st.error(plain(exc, 600))
        return None
