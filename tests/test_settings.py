"""The settings schema is the one place a run setting is declared: RunConfig, every
subcommand's flags, the sweep axes and the Explorer's controls all come from it. These
tests walk the schema, so a setting added there is checked everywhere at once."""
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine import cli
from engine.config import ConfigError, RunConfig
from engine.settings import AXES, BY_NAME, SETTINGS, Option
from ui import controls

ROOT = Path(__file__).resolve().parents[1]
# Subcommands that take every run setting, and those that re-run a saved run and take
# only where and how to compute (the schema's "machine" settings).
FULL = ["run", "compare", "sweep"]
POSITIONAL = {"sensitivity": ["some.pt"], "lottery-control": ["some_run"]}


def sample(setting):
    """A valid value for the setting that is not its default."""
    if setting.type is dict:
        return {"min_keep": 3}
    if setting.choices is not None:
        return next(c for c in setting.allowed_choices() if c != setting.default)
    if setting.type is bool:
        return not setting.default
    if setting.type is str:
        return "/tmp/covtype.data.gz"
    if setting.type is int:
        return setting.low if setting.default != setting.low else setting.low + 1
    return 0.5 if setting.default != 0.5 else 0.25


def tokens(setting, value, sweep: bool = False) -> list[str]:
    """The command-line words that give the setting this value."""
    if setting.type is dict:
        return [f"--option={key}={val}" for key, val in value.items()]
    if sweep and setting.axis:
        return [f"--{setting.axis}", str(value)]
    if setting.type is bool:
        return [setting.flag]
    return [setting.flag, str(value)]


def parsed(command: str, setting, value) -> dict:
    args = cli.build_parser().parse_args([command, *POSITIONAL.get(command, []),
                                          *tokens(setting, value, sweep=command == "sweep")])
    if command == "sweep" and setting.axis:
        return {setting.name: cli._parse_list(setting.axis, getattr(args, setting.axis))[0]}
    return cli._given_settings(args)


def test_run_config_is_the_schema():
    config = RunConfig()
    assert list(config.to_dict()) == [s.name for s in SETTINGS]
    for setting in SETTINGS:
        assert getattr(config, setting.name) == (setting.default if setting.type is not dict else {})
    assert config.validate() is config


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.name != "strategy"], ids=lambda s: s.name)
@pytest.mark.parametrize("command", FULL)
def test_every_setting_is_taken_by_every_run_command(command, setting):
    value = sample(setting)
    assert parsed(command, setting, value)[setting.name] == value


def test_the_strategy_is_taken_by_every_run_command():
    assert parsed("run", BY_NAME["strategy"], "layerwise")["strategy"] == "layerwise"
    assert parsed("sweep", BY_NAME["strategy"], "layerwise")["strategy"] == "layerwise"
    args = cli.build_parser().parse_args(["compare", "--strategies", "layerwise,random"])
    assert args.strategies == "layerwise,random" and "strategy" not in cli._given_settings(args)


@pytest.mark.parametrize("command, names", [("sensitivity", cli.SENSITIVITY_SETTINGS),
                                            ("lottery-control", cli.MACHINE_SETTINGS)])
def test_commands_on_a_saved_run_take_where_and_how_to_compute(command, names):
    assert set(names) <= {s.name for s in SETTINGS if s.machine}
    for name in names:
        value = sample(BY_NAME[name])
        assert parsed(command, BY_NAME[name], value) == {name: value}
    other = next(s for s in SETTINGS if not s.machine and s.type is int)
    with pytest.raises(SystemExit):  # what the run computes is the saved run's own
        parsed(command, other, sample(other))


def test_a_presets_command_takes_every_setting_too():
    """Whoever adds a presets subcommand gives it the run settings."""
    subcommands = cli.build_parser()._subparsers._group_actions[0].choices
    if "presets" not in subcommands:
        pytest.skip("no presets subcommand on this branch")
    for setting in SETTINGS:
        if setting.name != "strategy":
            assert parsed("presets", setting, sample(setting))[setting.name] == sample(setting)


def test_sweep_axes_are_the_settings_with_a_plural():
    assert AXES == {"depths": "depth", "widths": "width", "strategies": "strategy", "amounts": "amount",
                    "seeds": "seed"}
    from engine import sweep
    assert sweep.AXES is AXES


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_bad_value_is_named_with_what_is_allowed(setting):
    if setting.type is dict:
        bad, words = ["min_keep"], "extra=['min_keep'] is invalid: must be a mapping of plain values"
    elif setting.choices is not None:
        bad, words = "nope", f"{setting.name}='nope' is invalid: must be one of "
    elif setting.type is bool:
        bad, words = "yes", f"{setting.name}='yes' is invalid: must be true or false"
    elif setting.type is str:
        bad, words = 5, f"{setting.name}=5 is invalid: must be a file path string"
    else:
        bad = setting.high * 2 + 1 if setting.type is float else int(setting.high) + 1
        words = f"{setting.name}={bad!r} is invalid: must be "
    with pytest.raises(ConfigError) as error:
        RunConfig(**{setting.name: bad}).validate()
    assert str(error.value).startswith(words)


def test_messages_keep_their_words():
    for changes, message in [({"depth": 0}, "depth=0 is invalid: must be an integer in [1, 64]"),
                             ({"amount": 1.0}, "amount=1.0 is invalid: must be a number in (0, 1)"),
                             ({"lr": 0.0}, "lr=0.0 is invalid: must be a number in (0, 10]"),
                             ({"batch_size": 0}, "batch_size=0 is invalid: must be an integer in [1, 1000000]"),
                             ({"rewind_epoch": 11}, "rewind_epoch=11 is invalid: must be an integer in [0, 10]")]:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")
                           .replace(")", r"\)").replace("]", r"\]")):
            RunConfig(**changes).validate()


def test_strategy_options_are_declared_objects():
    from engine.pruning import STRATEGIES

    for strategy in STRATEGIES.values():
        for name, option in strategy.options.items():
            assert isinstance(option, Option) and option.name == name and option.help
            assert option.check(option.default) == option.default
    assert STRATEGIES["global"].options["min_keep"].check(3) == 3
    with pytest.raises(ConfigError, match=r"min_keep_fraction=2.0 is invalid: must be a float in \[0.0, 1.0\]"):
        STRATEGIES["global"].options["min_keep_fraction"].check(2)


def test_sweep_schedule_is_not_read_as_scheduler():
    """argparse used to read --schedule as an abbreviation of --scheduler."""
    args = cli.build_parser().parse_args(["sweep", "--schedule", "one-shot", "--target-sparsity", "0.8"])
    assert args.schedule == "one-shot" and args.scheduler is None
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--dep", "2"])  # no abbreviations anywhere


def test_sweep_with_a_one_shot_schedule_runs(capsys):
    code = cli.main(["sweep", "--schedule", "one-shot", "--target-sparsity", "0.75", "--strategies",
                     "layerwise", "--depths", "1", "--widths", "8", "--cycles", "1", "--warmup-epochs",
                     "1", "--epochs-per-cycle", "0", "--jobs", "1", "--name", "one-shot"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["complete"] == 1
    from engine.sweep import load_sweep
    assert load_sweep("one-shot")["results"].final_sparsity.iloc[0] == pytest.approx(0.75, abs=0.01)


def test_an_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["comparee"])
    assert exited.value.code == 2 and "invalid choice: 'comparee'" in capsys.readouterr().err


# --- the app ------------------------------------------------------------------------------------
def test_every_setting_is_shown_by_the_explorer_and_bound_to_its_address():
    """Each setting the app shows has a control keyed by its name, and a link that sets it
    reaches the control; the others say why a link must not set them."""
    shown = controls.app_settings()
    for setting in SETTINGS:
        assert (setting.app is not None) != bool(setting.not_in_app), setting.name
    query = {"schedule": "one-shot", "lottery": "true", "strategy": "global"}
    expected = {}
    for setting in shown:
        if setting.type is dict or setting.name in ("schedule", "strategy"):
            continue
        app = setting.app
        if app.kind == "select":
            value = next(o for o in controls.options_of(setting) if o != controls.start_value(setting))
        elif app.kind == "checkbox":
            value = not setting.default
        else:
            value = setting.type(round(app.low + app.step, 6)) if setting.high_from is None else 1
        expected[setting.name] = value
        query[setting.name] = str(value).lower() if isinstance(value, bool) else str(value)
    query["option_min_keep"] = "5"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/explorer.py")
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]  # every value in the link was taken
    widgets = {w.key: w for kind in ("selectbox", "select_slider", "slider", "number_input", "checkbox")
               for w in at.get(kind) if getattr(w, "key", None)}
    for name, value in expected.items():
        assert name in widgets, f"the Explorer shows no control for {name}"
        assert widgets[name].value == value, name
    assert widgets["strategy"].value == "global" and widgets["schedule"].value == "one-shot"
    assert widgets["lottery"].value is True and widgets["option_min_keep"].value == 5


def test_a_link_value_no_control_allows_is_named():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/explorer.py")
    at.query_params.update({"depth": "99", "schedule": "cosine", "lottery": "maybe", "strategy": "global",
                            "option_min_keep": "-3", "precision": "fp64", "tf32": "perhaps"})
    at.run()
    assert not at.exception
    # as shown: the page escapes text from the link (engine.text.plain)
    warnings = " ".join(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", w.value) for w in at.warning)
    for words in ("depth='99'", "schedule='cosine'", "lottery='maybe'", "option_min_keep='-3'",
                  "precision='fp64'", "tf32='perhaps'"):
        assert words in warnings, words
