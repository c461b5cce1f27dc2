"""Config dataclasses as the single source of flags, defaults and hparams.json.

A config is a frozen dataclass deriving from `Config`; each field is declared with
`option(...)` (a setting the user gives: a flag of the binaries, a keyword in Python) or
`derived(...)` (set by the code, e.g. the image shape read from the data). From the fields
come

* the command line's flags (glow_prior.apps.flags defines them: name, type, default, help,
  bounds, choices and the cross-field rules as validators);
* `to_dict()` / `from_dict()`, the JSON of hparams.json;
* `validate()`: bounds, choices and the cross-field rules, run on every construction, so a
  config built in Python is checked exactly as a command line is.

Cross-field rules are methods marked `@check("flag", ...)`. This module imports neither
TensorFlow nor absl.
"""
import dataclasses

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


def field_spec(field):
    """The option metadata of a dataclass field ({} for a plain field)."""
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
        return [(f, field_spec(f).get("flag") or f.name) for f in dataclasses.fields(cls)
                if not field_spec(f).get("derived")]

    @classmethod
    def flag_default(cls, field):
        """The flag's default, derived from the field's default."""
        spec = field_spec(field)
        if spec.get("format_value"):
            return spec["format_value"](field.default)
        if isinstance(field.default, tuple):
            return [str(v) for v in field.default]
        return field.default

    @classmethod
    def flag_name(cls, field_name):
        """The flag name of the field `field_name`."""
        for field, name in cls.flag_fields():
            if field.name == field_name:
                return name
        raise KeyError(field_name)

    @classmethod
    def value_from_flag(cls, field, raw):
        """The field value of a flag value (lists -> tuples of `item`, parsed strings)."""
        spec = field_spec(field)
        if spec.get("parse"):
            return spec["parse"](raw)
        if field.type is tuple:
            return tuple(spec.get("item", str)(v) for v in raw)
        return raw

    # ----------------------------------------------------------- serialisation
    def to_dict(self):
        """The config as JSON-ready values (hparams.json)."""
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
        """A copy with `changes` applied (validated like any new config)."""
        return dataclasses.replace(self, **changes)

    # -------------------------------------------------------------- validation
    def validate(self):
        """Raises InputError naming the first violated rule (bounds, choices, checks)."""
        for field, name in self.flag_fields():
            problem = field_problem(field, getattr(self, field.name))
            if problem:
                raise InputError(f"--{name}={getattr(self, field.name)!r}: {problem}")
        for method in rules(type(self)):
            method(self)


def rules(cls):
    """The `@check` methods of a config class."""
    return [getattr(cls, name) for name in dir(cls)
            if callable(getattr(cls, name, None)) and hasattr(getattr(cls, name),
                                                              "checked_flags")]


def field_problem(field, value):
    """Why `value` is not allowed for `field`, or None."""
    spec = field_spec(field)
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


def unchecked_instance(cls, values):
    """An instance with `values` and defaults elsewhere, built without validate()."""
    instance = object.__new__(cls)
    for field in dataclasses.fields(cls):
        default = field.default
        object.__setattr__(instance, field.name, values.get(field.name, default))
    return instance
