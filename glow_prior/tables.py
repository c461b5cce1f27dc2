"""The one markdown table formatter every report uses."""


def cell(value, digits=4):
    """A table cell: floats with `digits` decimals, None as '-', anything else as text."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(header, rows, digits=4):
    """Lines of a markdown table: `header` a list of column titles, `rows` lists of cells
    (formatted by `cell`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(cell(value, digits) for value in row) + " |")
    return lines
