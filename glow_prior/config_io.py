"""Config dataclasses to and from JSON (hparams.json), and atomic JSON files."""
import dataclasses
import json
import os
import tempfile


class ConfigError(ValueError):
    """A stored config does not fit its dataclass."""


def _to_tuples(value):
    if isinstance(value, list):
        return tuple(_to_tuples(v) for v in value)
    return value


def config_from_dict(cls, values):
    """A frozen config dataclass from JSON values (lists back to tuples, unknown keys refused)."""
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no fields {unknown}")
    return cls(**{k: _to_tuples(v) for k, v in values.items()})


def write_json_atomic(path, payload):
    """Writes JSON to a temporary file beside `path`, then renames it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")
        temporary = f.name
    os.replace(temporary, path)
