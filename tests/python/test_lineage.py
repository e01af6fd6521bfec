"""The lineage runs one way, and a model file shows what it reads and returns, checked on dbt's manifest.

`dbt parse` writes the manifest of the project as it is (into a temporary folder). A node's layer is its
folder and its prefix, which must agree: sources and seeds, then staging (`models/staging/`, `stg_`), then
intermediate (`models/intermediate/`, `int_`), then marts (`models/marts/<subject>/`, `fct_`/`dim_`, and the
report models `rpt_` after them). An edge may stay in its layer or run forward, never back: no `stg_` reads an
`int_` or a mart, no `int_` reads a mart, no `fct_`/`dim_` reads a `rpt_`; only staging reads a source. The
manifest's edges include the ones a macro adds, so a `ref()` hidden in a macro is found too; besides, no macro
may call `ref()` or `source()`, and every model ends in its own `select * from <one of its CTEs>` (no macro
writes a model's final select). Marts live in subject folders, each with its YAML beside its models, where
their unit tests are too; every model and macro has a description, and every argument of a macro is described.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

LAYERS = {"source": 0, "staging": 1, "intermediate": 2, "mart": 3, "report": 4}
FOLDER_PREFIXES = {"staging": ("stg_",), "intermediate": ("int_",), "marts": ("fct_", "dim_", "rpt_")}
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("lineage_target")
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "DBT_PROFILES_DIR": str(PROJECT_ROOT), "CEXFLOW_DB": str(target / "parse.duckdb")}
    done = subprocess.run([str(dbt), "parse", "--no-partial-parse", "--target-path", str(target),
                           "--log-path", str(target)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((target / "manifest.json").read_text())


def models(manifest: dict) -> dict[str, dict]:
    return {uid: n for uid, n in manifest["nodes"].items()
            if n["resource_type"] == "model" and n["package_name"] == "cexflow"}


def own_macros(manifest: dict) -> list[dict]:
    return [m for m in manifest["macros"].values()
            if m["package_name"] == "cexflow" and m["original_file_path"].startswith("macros/")]


def layer_of(node: dict) -> tuple[int, str]:
    """(layer, problem): the layer of a model from its folder and prefix; a problem when the two disagree."""
    name, parts = node["name"], Path(node["original_file_path"]).parts
    folder = parts[1] if len(parts) > 2 and parts[0] == "models" else ""
    prefixes = FOLDER_PREFIXES.get(folder)
    if prefixes is None or not name.startswith(prefixes):
        return -1, f"{node['original_file_path']}: a model must be stg_ in models/staging/, int_ in " \
                   f"models/intermediate/, fct_/dim_/rpt_ in models/marts/"
    if folder == "staging":
        return LAYERS["staging"], ""
    if folder == "intermediate":
        return LAYERS["intermediate"], ""
    return (LAYERS["report"] if name.startswith("rpt_") else LAYERS["mart"]), ""


def backward_edges(manifest: dict) -> list[str]:
    """Every edge that runs back, and every model whose folder and prefix disagree."""
    nodes = models(manifest)
    problems = []
    for node in nodes.values():
        layer, problem = layer_of(node)
        if problem:
            problems.append(problem)
            continue
        for parent_id in node["depends_on"]["nodes"]:
            if parent_id.startswith("seed."):
                continue  # seeds are the project's own data: staging reads them like sources, any model may
            if parent_id.startswith("source."):
                if layer != LAYERS["staging"]:
                    problems.append(f"{node['name']} reads the source {parent_id}: only staging reads sources")
                continue
            parent = nodes.get(parent_id)
            if parent is None:
                continue
            parent_layer, _ = layer_of(parent)
            if parent_layer > layer:
                problems.append(f"{node['name']} ({node['original_file_path']}) reads {parent['name']}, "
                                f"a later layer")
    return problems


def test_every_model_is_in_its_layer_and_reads_only_its_own_or_earlier_layers(manifest):
    assert backward_edges(manifest) == []


def test_the_check_finds_an_edge_that_runs_back(manifest):
    """The check itself: an intermediate model that reads a mart, a mart that reads a report, a staging
    model that reads an intermediate one, and a model outside its layer's folder are each found."""
    nodes = models(manifest)
    by_name = {n["name"]: uid for uid, n in nodes.items()}
    for child, parent in [("int_flow_legs", "fct_exchange_transfers"),
                          ("fct_exchange_reserve_daily", "rpt_wallets_without_balance_anchor"),
                          ("stg_transfers_rejected", "int_transfers_classified")]:
        broken = json.loads(json.dumps(manifest))
        broken["nodes"][by_name[child]]["depends_on"]["nodes"].append(by_name[parent])
        assert [p for p in backward_edges(broken) if p.startswith(f"{child} ")], (child, parent)
    misplaced = json.loads(json.dumps(manifest))
    misplaced["nodes"][by_name["int_flow_legs"]]["original_file_path"] = "models/marts/flows/int_flow_legs.sql"
    assert any("int_flow_legs.sql" in p for p in backward_edges(misplaced))


def test_no_macro_reads_a_relation(manifest):
    """A macro takes the relations it needs as arguments: the model names them with ref()."""
    calls = re.compile(r"\b(ref|source)\s*\(")
    found = [m["original_file_path"] + ": " + m["name"] for m in own_macros(manifest)
             if calls.search(JINJA_COMMENT.sub("", m["macro_sql"]))]
    assert found == []


def test_every_model_writes_its_own_final_select():
    """The last statement of each model file is `select * from <a CTE of that file>`."""
    last_select = re.compile(r"select \* from (\w+)\s*$")
    wrong = []
    for path in sorted((PROJECT_ROOT / "models").rglob("*.sql")):
        sql = JINJA_COMMENT.sub("", path.read_text())
        found = last_select.search(sql)
        if not found or not re.search(rf"\b{found.group(1)} as \(", sql):
            wrong.append(str(path.relative_to(PROJECT_ROOT)))
    assert wrong == []


def test_marts_are_in_subject_folders_with_their_yaml_and_unit_tests_beside_them(manifest):
    problems = []
    for node in models(manifest).values():
        path = Path(node["original_file_path"])
        if path.parts[:2] != ("models", "marts"):
            continue
        if len(path.parts) != 4:
            problems.append(f"{path}: a mart belongs in a subject folder, models/marts/<subject>/")
            continue
        subject = path.parts[2]
        yml = (node.get("patch_path") or "").split("://")[-1]
        if Path(yml).parent != path.parent or not Path(yml).name.startswith(f"_{subject}__"):
            problems.append(f"{path}: documented in {yml or 'no YAML'}, not in a _{subject}__*.yml beside it")
    nodes = models(manifest)
    by_name = {n["name"]: n for n in nodes.values()}
    for test in manifest["unit_tests"].values():
        if test["package_name"] != "cexflow":
            continue
        model = by_name[test["model"]]
        if Path(test["original_file_path"]).parent != Path(model["original_file_path"]).parent:
            problems.append(f"unit test {test['name']} ({test['original_file_path']}) is not beside "
                            f"{model['original_file_path']}")
    assert problems == []


def test_every_model_and_macro_is_described(manifest):
    undescribed = [n["original_file_path"] for n in models(manifest).values() if not n["description"].strip()]
    undescribed += [f"macro {m['name']} ({m['original_file_path']})" for m in own_macros(manifest)
                    if not m["description"].strip()]
    assert undescribed == []


def argument_names(signature: str) -> list[str]:
    """The names in a macro's argument list, `a, b=[1, 2], c='x, y'` -> a, b, c."""
    names, depth, quote, current = [], 0, None, ""
    for ch in signature + ",":
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            if current.strip():
                names.append(current.split("=")[0].strip())
            current = ""
            continue
        current += ch
    return names


def test_every_argument_of_a_macro_is_described(manifest):
    signature = re.compile(r"\{%-?\s*macro\s+\w+\s*\((.*?)\)\s*-?%\}", re.S)
    missing = []
    for macro in own_macros(manifest):
        found = signature.search(macro["macro_sql"])
        named = argument_names(found.group(1)) if found else []
        documented = {a["name"]: a.get("description", "").strip() for a in macro["arguments"]}
        missing += [f"{macro['name']}({name})" for name in named if not documented.get(name)]
    assert missing == []


def test_the_anomaly_methods_are_the_zscore_method_macros(manifest):
    """Adding a method is its macro `zscore_method_<name>` plus its words in methods.py: fct_netflow_zscores
    calls the macro by name and zscore_settings accepts the names that have one, so the two lists must agree."""
    from cexflow import methods

    macros = sorted(m["name"].removeprefix("zscore_method_") for m in own_macros(manifest)
                    if m["name"].startswith("zscore_method_"))
    assert macros == sorted(methods.METHODS)
