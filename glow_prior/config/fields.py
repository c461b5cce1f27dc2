"""Config dataclasses as the single source of flags, defaults and hparams.json.

A config is a frozen dataclass deriving from `Config`; each field is declared with
`option(...)` (exposed as an absl flag) or `derived(...)` (set by the code, e.g. the image
shape read from the data). From the fields come

* the absl flags: name (the field name or `flag=`), type (from the annotation: int, float,
  bool, str, tuple -> comma-separated list), default (the field's), help, bounds and choices,
  with single-flag validators, so a bad value fails while flags are parsed;
* `Config.from_flags(flag_values, **derived_values)`;
* `to_dict()` / `from_dict()`, the JSON of hparams.json.

Cross-field rules are methods marked `@check("flag", ...)`: they run in `validate()` (on
every construction) and, registered as absl multi-flag validators over exactly the flags
they read, at parse time. A flag that two configs share (e.g. `seed`) is defined once;
their declarations must agree.

This module imports nothing heavier than absl, so binaries parse and validate their
command line before TensorFlow is imported.
"""
import dataclasses
import re
import types

from absl import flags

from glow_prior.errors import InputError

_META = "glow_prior"


def option(default, help_text, *, flag=None, lower=None, upper=None, choices=None,
           item=str, parse=None, format_value=None, required=False):
    """A field exposed as the flag `flag` (default: the field name).

    lower/upper: bounds; choices: allowed values (an enum flag for strings); item: element
    type of a tuple field; parse/format_value: for fields whose flag is a string with its own
    syntax (parse(flag string) -> field value, format_value(field value) -> flag string);
    required: the command line must give it.
    """
    return dataclasses.field(default=default, metadata={_META: dict(
        help=help_text, flag=flag, lower=lower, upper=upper, choices=choices, item=item,
        parse=parse, format_value=format_value, required=required)})


def derived(default, help_text):
    """A field the code sets (not a flag), e.g. the image shape read from the data."""
    return dataclasses.field(default=default, metadata={_META: dict(help=help_text,
                                                                      derived=True)})


def check(*flag_names):
    """Marks a method `(self) -> None` raising InputError as a rule over these flags (none:
    a rule over derived fields, checked on construction only)."""

    def mark(method):
        method.checked_flags = flag_names
        return method

    return mark


def _spec(field):
    return field.metadata.get(_META, {})


def _to_tuples(value):
    if isinstance(value, list):
        return tuple(_to_tuples(v) for v in value)
    return value


class Config:
    """Base of the frozen config dataclasses (see the module docstring)."""

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ fields
    @classmethod
    def flag_fields(cls):
        """[(field, flag name)] of the fields exposed as flags."""
        return [(f, _spec(f).get("flag") or f.name) for f in dataclasses.fields(cls)
                if not _spec(f).get("derived")]

    @classmethod
    def flag_default(cls, field):
        """The flag's default, derived from the field's default."""
        spec = _spec(field)
        if spec.get("format_value"):
            return spec["format_value"](field.default)
        if isinstance(field.default, tuple):
            return [str(v) for v in field.default]
        return field.default

    @classmethod
    def value_from_flag(cls, field, raw):
        """The field value of a flag value (lists -> tuples of `item`, parsed strings)."""
        spec = _spec(field)
        if spec.get("parse"):
            return spec["parse"](raw)
        if field.type is tuple:
            return tuple(spec.get("item", str)(v) for v in raw)
        return raw

    # ------------------------------------------------------------------- flags
    @classmethod
    def define_flags(cls, flag_values, group=None):
        """Defines this config's flags in `flag_values` (shared flags once), listed by
        --helpfull under `group` (default: the class name)."""
        for field, name in cls.flag_fields():
            default = cls.flag_default(field)
            if name in flag_values:
                existing = flag_values[name].default
                if existing != default and not (existing is None and default == []):
                    raise TypeError(f"flag --{name}: {cls.__name__} declares default "
                                    f"{default!r}, another config {existing!r}")
                continue
            _define(field, name, default, flag_values, group or cls.__name__)
            if _spec(field).get("required"):
                flags.mark_flag_as_required(name, flag_values=flag_values)
            flags.register_validator(name, _field_validator(cls, field),
                                     flag_values=flag_values)
        for method in _checks(cls):
            names = [cls._flag_name(n) for n in method.checked_flags]
            if not names:
                continue  # a rule over derived fields: checked on construction only
            flags.register_multi_flags_validator(names, _check_validator(cls, method),
                                                 flag_values=flag_values)

    @classmethod
    def _flag_name(cls, field_name):
        for field, name in cls.flag_fields():
            if field.name == field_name:
                return name
        raise KeyError(field_name)

    @classmethod
    def from_flags(cls, flag_values, **given):
        """The config of parsed flags; `given` sets derived fields (and overrides)."""
        values = {field.name: cls.value_from_flag(field, flag_values[name].value)
                  for field, name in cls.flag_fields() if field.name not in given}
        return cls(**values, **given)

    # ----------------------------------------------------------- serialisation
    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """The config stored as `values` (JSON): lists become tuples, unknown keys refused."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise InputError(f"{cls.__name__} has no settings {unknown}")
        return cls(**{k: _to_tuples(v) for k, v in values.items()})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    # -------------------------------------------------------------- validation
    def validate(self):
        """Raises InputError naming the first violated rule (bounds, choices, checks)."""
        for field, name in self.flag_fields():
            problem = _field_problem(field, getattr(self, field.name))
            if problem:
                raise InputError(f"--{name}={getattr(self, field.name)!r}: {problem}")
        for method in _checks(type(self)):
            method(self)


def _checks(cls):
    return [getattr(cls, name) for name in dir(cls)
            if callable(getattr(cls, name, None)) and hasattr(getattr(cls, name),
                                                              "checked_flags")]


def _define(field, name, default, flag_values, group):
    spec = _spec(field)
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


def _field_problem(field, value):
    """Why `value` is not allowed for `field`, or None."""
    spec = _spec(field)
    if value is None:
        return None
    values = value if field.type is tuple and not spec.get("parse") else (value,)
    for v in values:
        if spec.get("choices") is not None and field.type in (str, tuple) \
                and v not in spec["choices"]:
            return f"must be one of {', '.join(map(str, spec['choices']))}"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if spec.get("lower") is not None and v < spec["lower"]:
                return f"must be >= {spec['lower']}"
            if spec.get("upper") is not None and v > spec["upper"]:
                return f"must be <= {spec['upper']}"
    return None


def _field_validator(cls, field):
    def valid(raw):
        try:
            value = cls.value_from_flag(field, raw)
        except (ValueError, TypeError) as error:
            raise flags.ValidationError(f"cannot read it: {error}") from error
        problem = _field_problem(field, value)
        if problem:
            raise flags.ValidationError(problem)
        return True

    return valid


def _check_validator(cls, method):
    by_flag = {name: field for field, name in cls.flag_fields()}

    def valid(raw_values):
        values = {}
        for name, raw in raw_values.items():
            try:
                values[by_flag[name].name] = cls.value_from_flag(by_flag[name], raw)
            except (ValueError, TypeError):
                return True  # the single-flag validator reports it
        try:
            method(_unchecked(cls, values))
        except InputError as error:
            raise flags.ValidationError(str(error)) from error
        return True

    return valid


def _unchecked(cls, values):
    """An instance with `values` and defaults elsewhere, built without validate()."""
    instance = object.__new__(cls)
    for field in dataclasses.fields(cls):
        default = field.default
        object.__setattr__(instance, field.name, values.get(field.name, default))
    return instance


def define_all(sections):
    """A fresh FlagValues with the flags of every config class in `sections` (a dict
    name -> class), grouped in --helpfull by section ("training (TrainConfig)")."""
    flag_values = flags.FlagValues()
    for section, config_class in sections.items():
        config_class.define_flags(flag_values, f"{section} ({config_class.__name__})")
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
    args = types.SimpleNamespace(**{name: config_class.from_flags(flag_values)
                                    for name, config_class in sections.items()})
    args.given = frozenset(name for name in flag_values if flag_values[name].present)
    return args
