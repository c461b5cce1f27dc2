"""The package's layers: imports point down only, no module imports itself through others,
and absl is the command line's alone.

The graph is built from the source (every `import` and `from ... import` anywhere in a
module, inside functions too: a lazy upward import is still an upward import). Layers, low
to high (a module may import its own layer and those below):

    0 foundation   errors, seeds, files (atomic outputs), tables (the markdown formatter),
                   config/ (the settings dataclasses)
    1 data/        arrays in
    2 bijectors/
    3 models/      models as TFP distributions, priors, quantisation, batched scoring
    4 training/    the loop, the step, objectives, optimizers, progress
    5 ood/         scores, metrics, evaluation results, detectors (no files)
    6 reports/     tables, plots and figures, OOD and experiment reports (results in,
                   files out)
    7 runs/        run directories: record, checkpoints, load, train, evaluate, detectors
                   bound to their weights, export, OpenAI import
    8 experiments/, benchmark/   orchestration over runs (subprocesses of the binaries)
    9 api          the Python entry points, and the package's own __init__ that re-exports
                   them lazily
   10 apps/        the command line: absl flags -> config objects -> one api call
"""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "glow_prior"
LAYERS = {"errors": 0, "seeds": 0, "files": 0, "tables": 0, "config": 0, "data": 1,
          "bijectors": 2, "models": 3, "training": 4, "ood": 5, "reports": 6, "runs": 7,
          "experiments": 8, "benchmark": 8, "api": 9, "__init__": 9, "apps": 10}
COMMAND_LINE = "apps"


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _layer(module):
    """The layer of a glow_prior module name."""
    parts = module.split(".")
    return LAYERS["__init__" if len(parts) == 1 else parts[1]]


def _resolve(module, imported, name=None):
    """The glow_prior module an import refers to: `from glow_prior.x import y` is the
    module glow_prior.x.y when that is a module, else glow_prior.x."""
    if name and f"{imported}.{name}" in MODULES:
        return f"{imported}.{name}"
    return imported


def imports(module):
    """{(imported glow_prior module, line)} of a module, and its absl imports' lines."""
    tree = ast.parse(MODULES[module].read_text())
    found, absl = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for imported, name in names:
            if imported.split(".")[0] == "absl":
                absl.append(node.lineno)
            if imported.split(".")[0] == "glow_prior":
                found.add((_resolve(module, imported, name), node.lineno))
    return found, absl


def _graph():
    return {module: {target for target, _ in imports(module)[0] if target != module}
            for module in MODULES}


def test_every_module_is_in_a_layer():
    unplaced = sorted(m for m in MODULES if len(m.split(".")) > 1
                      and m.split(".")[1] not in LAYERS)
    assert not unplaced, f"modules outside the layer map: {unplaced}"


def test_imports_point_down():
    upward = []
    for module in MODULES:
        for target, line in imports(module)[0]:
            if target in MODULES and _layer(target) > _layer(module):
                upward.append(f"{module}:{line} imports {target} (layer {_layer(module)} -> "
                              f"{_layer(target)})")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    graph, state, cycles = _graph(), {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target in graph and target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_absl_only_on_the_command_line():
    outside = [f"{module}:{line}" for module in MODULES for line in imports(module)[1]
               if module.split(".")[1:2] != [COMMAND_LINE]]
    assert not outside, f"absl imported outside glow_prior.apps: {outside}"


def test_the_checks_find_what_they_look_for(tmp_path):
    """The graph builder sees lazy imports inside functions and resolves `from x import
    module` to the module (otherwise the tests above could pass vacuously)."""
    found, _ = imports("glow_prior.runs.load")
    assert ("glow_prior.models.registry", 6) in {(t, line) for t, line in found} or \
        any(t == "glow_prior.models.registry" for t, _ in found)
    found, absl = imports("glow_prior.apps.cli")
    assert absl, "apps.cli imports absl"
    assert _resolve("x", "glow_prior.ood", "metrics") == "glow_prior.ood.metrics"
    assert _layer("glow_prior.models.base") < _layer("glow_prior.ood.base")
