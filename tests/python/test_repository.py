"""The repository is whole: a fresh clone with nothing beside it has everything its tests and tools read.

The real test data lives in tests/data/real/ (with its SOURCE.md and the labels' licence); no tracked file
of the project may name a path outside the clone, such as the `shared` folder that sits beside the clone in
CI and nowhere else.
"""

from __future__ import annotations

import re
import subprocess

from conftest import PROJECT_ROOT, REAL_DATA

# ".." + "/shared" and friends, spelled so that this file does not match itself
OUTSIDE_PATTERNS = [
    re.compile(re.escape("..") + r"[/\\]shared\b"),
    re.compile(r"\bshared[/\\]data\b"),
    re.compile(r"""parents?(\[\d+\])?\s*/\s*["']shared["']"""),
    re.compile(r"""["']\.\.["']\s*,\s*["']shared["']"""),
]

# the files the real-data tests read, and the files that say where they come from
REAL_FILES = [
    "SOURCE.md",
    "LICENSE-exchange_labels_etherscan_2023-06",
    "erc20_token_transfers_blocks_12600000-12600050.csv",
    "lpt_transfers_0xf977_2021-06_2025-09.csv",
    "exchange_labels_etherscan_2023-06.csv",
    "seed_project_wallets.json",
    "exchange_labels_arbiscan.csv",
    "etherscan_v2_responses/NOTES.md",
    "etherscan_v2_responses/tokentx_page_with_rows.json",
    "etherscan_v2_responses/tokentx_empty_page.json",
]


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_no_tracked_file_refers_to_a_path_outside_the_repository():
    offending = []
    for name in tracked_files():
        path = PROJECT_ROOT / name
        if name.startswith("tests/data/") or not path.is_file():
            continue  # the data's own SOURCE.md may name where it was copied from
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binary files
        for number, line in enumerate(text.splitlines(), start=1):
            if any(p.search(line) for p in OUTSIDE_PATTERNS):
                offending.append(f"{name}:{number}: {line.strip()}")
    assert not offending, "tracked files refer to paths outside the repository:\n" + "\n".join(offending)


def test_the_patterns_catch_what_they_are_for():
    # checked by hand: each of these lines reads outside the clone, the last two do not
    shared = "sha" + "red"
    outside = [f'SHARED = ROOT.parent / "{shared}" / "data"', f"python make_labels.py ../{shared}/data/real",
               f'Path(__file__).parents[2] / "{shared}"', f"os.path.join('..', '{shared}')"]
    inside = ['REAL = ROOT / "tests" / "data" / "real"', "shared with test_readme_queries.py"]
    assert all(any(p.search(line) for p in OUTSIDE_PATTERNS) for line in outside)
    assert not any(p.search(line) for line in inside for p in OUTSIDE_PATTERNS)


def test_the_real_test_data_is_tracked_with_its_source_and_licence():
    tracked = set(tracked_files())
    missing = [f for f in REAL_FILES if f"tests/data/real/{f}" not in tracked]
    assert not missing, f"not tracked in tests/data/real/: {missing}"
    source = (REAL_DATA / "SOURCE.md").read_text()
    for name in REAL_FILES[2:7]:
        assert f"`{name}`" in source, f"SOURCE.md does not describe {name}"
    assert "MIT" in (REAL_DATA / "LICENSE-exchange_labels_etherscan_2023-06").read_text()
