"""The Python package is a thin reader of the marts: every number it shows comes from a mart.

Two rules, checked on the source of every module of `scripts/cexflow/` with `ast` (so comments and docstrings,
which may well say "a select from its mart", are not code):

1. SQL is written only in `db.py` (the one module that opens the marts). A string constant, or the constant
   parts of an f-string, that reads as SQL (`SQL_PATTERN`: select ... from, with x as (, insert into, create
   table/view, delete from, update ... set, drop table/view) anywhere else fails.
2. No aggregation of mart rows anywhere in the package, db.py included (there it is SQL's job, in a model):
   - a call of a method in `AGGREGATING_METHODS` (pandas' and numpy's grouping, reshaping, cumulative,
     rolling, ranking and reducing methods, on a frame, a column or an array: `frame.groupby(...)`,
     `column.sum()`, `np.cumsum(...)` are all calls of such a method);
   - a first/last pick by position: `.iloc[...]`, `.iat[...]`;
   - a builtin `sum`, `min`, `max` or `sorted` over a frame's column (`sum(frame["inflow"])`, `sum(frame[c])`)
     or over a column of rows (`min(r["first_flow_date"] for r in rows)`).
   The exceptions, `NOT_MART_ROWS`, are where a chart measures what it draws to place it (the date axis's
   extent, a bar chart's x limit, a histogram's bins: no number of it is shown), and the one count of
   `cexflow fetch` over what it downloads (no mart is read there).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "scripts" / "cexflow"

SQL_PATTERN = re.compile(
    r"\bselect\b.+?\bfrom\b|\bwith\s+\w+\s+as\s*\(|\binsert\s+into\b|\bcreate\s+(or\s+replace\s+)?(temp\s+)?"
    r"(table|view)\b|\bdelete\s+from\b|\bupdate\s+\w+\s+set\b|\bdrop\s+(table|view)\b",
    re.IGNORECASE | re.DOTALL,
)

AGGREGATING_METHODS = frozenset(
    {
        # grouping and reshaping
        "groupby",
        "pivot",
        "pivot_table",
        "crosstab",
        "resample",
        "unstack",
        "melt",
        # running and windowed values
        "cumsum",
        "cumprod",
        "cummax",
        "cummin",
        "rolling",
        "expanding",
        "ewm",
        "diff",
        "pct_change",
        # reducing
        "agg",
        "aggregate",
        "sum",
        "nansum",
        "mean",
        "nanmean",
        "median",
        "std",
        "var",
        "min",
        "max",
        "prod",
        "quantile",
        "describe",
        "nunique",
        "value_counts",
        "size",
        "count",
        # ranking, de-duplicating and picking
        "sort_values",
        "sort_index",
        "nlargest",
        "nsmallest",
        "rank",
        "argsort",
        "drop_duplicates",
        "unique",
        "first",
        "last",
        "idxmax",
        "idxmin",
        "head",
        "tail",
    }
)
POSITIONAL_PICKS = frozenset({"iloc", "iat"})
BUILTINS_OVER_COLUMNS = frozenset({"sum", "min", "max", "sorted"})

# (module, function or "*": all of it) -> the methods or builtins allowed there, and why
NOT_MART_ROWS = {
    ("charts.py", "_frame_axis"): {"min", "max"},  # the date axis spans the frame's days
    ("charts.py", "plot_top_transfers"): {"max"},  # room right of the longest bar for its label
    ("charts.py", "plot_transfer_size_histogram"): {"min", "max"},  # the logarithmic bins' range
    ("fetch.py", "*"): {"sum"},  # reads no mart: the rows of a wallet's downloaded block ranges (its manifest)
}


def modules() -> list[Path]:
    return sorted(PACKAGE.glob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def sql_strings(path: Path) -> list[str]:
    """'line: text' of every string constant or f-string of `path` that reads as SQL."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree) | {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
        else:
            continue
        if SQL_PATTERN.search(text):
            found.append(f"{path.name}:{node.lineno}: {' '.join(text.split())[:80]}")
    return found


def _a_column(node) -> bool:
    """A frame's column (`frame["inflow"]`, `frame[c]`) or a column of rows (`r["inflow"] for r in rows`)."""
    if isinstance(node, ast.Subscript):
        return not isinstance(node.slice, ast.Constant) or isinstance(node.slice.value, str)
    if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
        elt = node.elt
        return (
            isinstance(elt, ast.Subscript) and isinstance(elt.slice, ast.Constant) and isinstance(elt.slice.value, str)
        )
    return False


def _allowed(module: str, function: str) -> set[str]:
    return NOT_MART_ROWS.get((module, function), set()) | NOT_MART_ROWS.get((module, "*"), set())


class _Aggregations(ast.NodeVisitor):
    def __init__(self, name: str):
        self.name = name
        self.function = ""
        self.found: list[str] = []

    def visit_FunctionDef(self, node):
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def _report(self, node, what: str) -> None:
        self.found.append(f"{self.name}:{node.lineno} in {self.function or 'the module'}: {what}")

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in AGGREGATING_METHODS:
            if func.attr not in _allowed(self.name, self.function):
                self._report(node, f".{func.attr}()")
        if (
            isinstance(func, ast.Name)
            and func.id in BUILTINS_OVER_COLUMNS
            and node.args
            and _a_column(node.args[0])
            and func.id not in _allowed(self.name, self.function)
        ):
            self._report(node, f"{func.id}() over a column")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        if isinstance(node.value, ast.Attribute) and node.value.attr in POSITIONAL_PICKS:
            self._report(node, f".{node.value.attr}[...]")
        self.generic_visit(node)


def aggregations(path: Path) -> list[str]:
    visitor = _Aggregations(path.name)
    visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
    return visitor.found


def test_the_package_has_modules():
    names = {p.name for p in modules()}
    assert {"db.py", "charts.py", "report.py", "agent.py", "docs.py"} <= names


@pytest.mark.parametrize("path", [p for p in modules() if p.name != "db.py"], ids=lambda p: p.name)
def test_no_sql_outside_db(path):
    assert sql_strings(path) == [], "SQL belongs in db.py, as a select from the mart that answers the question"


def test_db_holds_the_sql():
    assert len(sql_strings(PACKAGE / "db.py")) > 10  # the pattern finds the SQL that is there


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_no_aggregation_of_mart_rows(path):
    assert aggregations(path) == [], "a number the package shows comes from a mart (a rpt_ or fct_ model)"


@pytest.mark.parametrize(
    "finder, source, hits",
    [
        (aggregations, "def f(frame):\n    return frame.groupby('series').size()", 2),
        (aggregations, "def f(frame):\n    return frame['netflow'].cumsum()", 1),
        (aggregations, "def f(frame):\n    return frame.sort_values('flow_date').iloc[-1]", 2),
        (aggregations, "def f(frame):\n    return sum(frame['inflow'])", 1),
        (aggregations, "def f(frame):\n    return [sum(frame[c], 0) for c in ('inflow', 'outflow')]", 1),
        (aggregations, "def f(rows):\n    return min(r['first_flow_date'] for r in rows)", 1),
        (aggregations, "def f(ends):\n    return min(e[0] for e in ends)", 0),
        (aggregations, "def f(values):\n    return np.nansum(values)", 1),
        (aggregations, "def f(rows):\n    return {r['series']: r for r in rows}", 0),
        (sql_strings, 'X = "select series, count(*) from rpt_x where n > 0"', 1),
        (sql_strings, 'X = f"""with t as ({sql}) select * from t"""', 1),
        (sql_strings, 'X = "create or replace table t as select 1"', 1),
        (sql_strings, 'def f():\n    """A select from the mart that holds it."""', 0),
        (sql_strings, 'X = "choose a folder from the list"', 0),
    ],
)
def test_the_guard_finds_what_it_looks_for(tmp_path, finder, source, hits):
    path = tmp_path / "example.py"
    path.write_text(source)
    assert len(finder(path)) == hits
