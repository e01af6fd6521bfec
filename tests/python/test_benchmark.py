"""scripts/benchmark.py's reading of dbt's timings (the whole-token case's "what grew" line): the lines are dbt's
own format (dbt_common.events.format.format_fancy_output_line), the sums worked out by hand."""

import pytest
from conftest import load_script

bench = load_script("benchmark")

# a `cexflow build --verbose` excerpt: a START line (no time), a model with dots, a model whose name is too long
# for dots, an incremental model, two data tests and the summary line
OUTPUT = """\
16:08:26  3 of 206 START sql table model main.int_exchange_addresses_inferred ......... [RUN]
16:08:40  3 of 206 OK created sql table model main.int_exchange_addresses_inferred .... [OK in 27.30s]
16:08:41  4 of 206 OK created sql incremental model main.fct_netflow_daily_by_wallet_and_some_long_name  [OK in 7.80s]
16:08:42  5 of 206 OK created sql incremental model main.int_daily_flows .............. [OK in 17.25s]
16:08:43  15 of 206 PASS not_null_int_input_files_source_file ......................... [PASS in 0.12s]
16:08:44  16 of 206 WARN 2 unique_int_input_files_source_file ......................... [WARN 2 in 1.08s]
16:12:12  Done. PASS=203 WARN=0 ERROR=0 SKIP=0 NO-OP=3 TOTAL=206
"""


def test_model_seconds_reads_each_model_and_sums_the_tests():
    assert bench.model_seconds(OUTPUT) == {
        "int_exchange_addresses_inferred": 27.30,
        "fct_netflow_daily_by_wallet_and_some_long_name": 7.80,
        "int_daily_flows": 17.25,
        "(data tests)": pytest.approx(1.20),  # 0.12 + 1.08
    }


def test_grown_models_orders_by_growth_of_the_medians_and_leaves_out_small_ones():
    on = [{"a": 10.0, "b": 3.0, "c": 1.0}, {"a": 12.0, "b": 9.0, "c": 1.2}, {"a": 30.0, "b": 5.0, "c": 1.1}]
    off = [{"a": 2.0, "b": 1.0, "c": 1.0}, {"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 4.0, "b": 2.0, "c": 1.0}]
    # medians on: a 12, b 5, c 1.1; off: a 3, b 2, c 1; growth 9, 3 and 0.1 (under the 0.5 s shown)
    assert bench.grown_models(on, off) == "a 12.0 s (3.0 s off); b 5.0 s (2.0 s off)"
