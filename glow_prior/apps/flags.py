"""absl flags generated from the config dataclasses (glow_prior.config): the command line's
half of "configuration is defined once".

For every field a config declares with `option(...)`, a flag: name (the field name or
`flag=`), type (from the annotation: int, float, bool, str, tuple -> comma-separated list),
default (the field's), help, bounds and choices, with single-flag validators, so a bad value
fails while flags are parsed; each `@check` rule becomes a multi-flag validator over exactly
the flags it reads. A flag that two configs share (e.g. `seed`) is defined once; their
declarations must agree.

This module imports nothing heavier than absl, so binaries parse and validate their command
line before TensorFlow is imported. Nothing outside glow_prior.apps imports absl.
"""
import re
import types

from absl import flags

from glow_prior.config.fields import field_problem, field_spec, rules, unchecked_instance
from glow_prior.errors import InputError


def define_config_flags(config_class, flag_values, group=None):
    """Defines the flags of `config_class` in `flag_values` (shared flags once), listed by
    --helpfull under `group` (default: the class name)."""
    for field, name in config_class.flag_fields():
        default = config_class.flag_default(field)
        if name in flag_values:
            existing = flag_values[name].default
            if existing != default and not (existing is None and default == []):
                raise TypeError(f"flag --{name}: {config_class.__name__} declares default "
                                f"{default!r}, another config {existing!r}")
            continue
        _define(field, name, default, flag_values, group or config_class.__name__)
        if field_spec(field).get("required"):
            flags.mark_flag_as_required(name, flag_values=flag_values)
        flags.register_validator(name, _field_validator(config_class, field),
                                 flag_values=flag_values)
    for method in rules(config_class):
        names = [config_class.flag_name(n) for n in method.checked_flags]
        if not names:
            continue  # a rule over derived fields: checked on construction only
        flags.register_multi_flags_validator(names, _check_validator(config_class, method),
                                             flag_values=flag_values)


def config_from_flags(config_class, flag_values, **given):
    """The config of parsed flags; `given` sets derived fields (and overrides)."""
    values = {field.name: config_class.value_from_flag(field, flag_values[name].value)
              for field, name in config_class.flag_fields() if field.name not in given}
    return config_class(**values, **given)


def _define(field, name, default, flag_values, group):
    spec = field_spec(field)
    help_text = spec["help"]
    grouped = {"flag_values": flag_values, "module_name": group}
    kinds = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float}
    if spec.get("parse") or field.type is str:
        if spec.get("choices") and not spec.get("parse"):
            flags.DEFINE_enum(name, default, list(spec["choices"]), help_text, **grouped)
        else:
            flags.DEFINE_string(name, default, help_text, **grouped)
    elif field.type is tuple:
        flags.DEFINE_list(name, default, help_text, **grouped)
    elif field.type in kinds:
        kinds[field.type](name, default, help_text, **grouped)
    else:
        raise TypeError(f"no flag type for {field.name}: {field.type}")


def _field_validator(config_class, field):
    def valid(raw):
        try:
            value = config_class.value_from_flag(field, raw)
        except (ValueError, TypeError) as error:
            raise flags.ValidationError(f"cannot read it: {error}") from error
        problem = field_problem(field, value)
        if problem:
            raise flags.ValidationError(problem)
        return True

    return valid


def _check_validator(config_class, method):
    by_flag = {name: field for field, name in config_class.flag_fields()}

    def valid(raw_values):
        values = {}
        for name, raw in raw_values.items():
            try:
                values[by_flag[name].name] = config_class.value_from_flag(by_flag[name], raw)
            except (ValueError, TypeError):
                return True  # the single-flag validator reports it
        try:
            method(unchecked_instance(config_class, values))
        except InputError as error:
            raise flags.ValidationError(str(error)) from error
        return True

    return valid


def define_all(sections):
    """A fresh FlagValues with the flags of every config class in `sections` (a dict
    name -> class), grouped in --helpfull by section ("training (TrainConfig)")."""
    flag_values = flags.FlagValues()
    for section, config_class in sections.items():
        define_config_flags(config_class, flag_values, f"{section} ({config_class.__name__})")
    return flag_values


def parse_flags(sections, argv):
    """Parses argv (flagfiles included) against the flags of `sections`; returns a
    namespace with one config per section and `given`, the names of the flags set.
    Raises absl's flags.Error for unknown flags or bad values, InputError for leftovers."""
    flag_values = define_all(sections)
    rest = flag_values(list(argv))
    if len(rest) > 1:
        raise InputError(f"unexpected arguments: {' '.join(rest[1:])}")
    for name in flag_values:
        value = flag_values[name].value
        if flag_values[name].present and isinstance(value, str) and re.search(r"\s#", value):
            raise InputError(f"--{name}={value!r} holds a trailing comment: absl keeps "
                             "everything after '=' as the value, so a flagfile comment must "
                             "be on a line of its own")
    args = types.SimpleNamespace(**{name: config_from_flags(config_class, flag_values)
                                    for name, config_class in sections.items()})
    args.given = frozenset(name for name in flag_values if flag_values[name].present)
    return args
