"""Every public module, function, class and method of glow_prior has a docstring (a
method may inherit its base class's, as inspect.getdoc and help() show it)."""
import importlib
import inspect
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "glow_prior"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _undocumented(name):
    module = importlib.import_module(name)
    if not inspect.getdoc(module):
        yield f"{name} (module)"
    for attribute, value in vars(module).items():
        if attribute.startswith("_") or getattr(value, "__module__", None) != name:
            continue
        if (inspect.isfunction(value) or inspect.isclass(value)) and not inspect.getdoc(value):
            yield f"{name}.{attribute}"
        if inspect.isclass(value):
            for method, member in vars(value).items():
                if method.startswith("_"):
                    continue
                documented = inspect.getdoc(member) if isinstance(member, property) else \
                    inspect.getdoc(getattr(value, method)) if inspect.isfunction(member) else True
                if not documented:
                    yield f"{name}.{attribute}.{method}"


def test_every_public_name_has_a_docstring():
    missing = [item for name in _modules() for item in _undocumented(name)]
    assert not missing, "no docstring: " + ", ".join(missing)
