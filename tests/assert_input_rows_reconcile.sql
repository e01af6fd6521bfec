-- Nothing is lost: every input row is a kept transfer, a duplicate, a rejected row or a row of another
-- token, per file; the usable rows are the rows of the kept transfers; and the counts the reconciliation is
-- summed from (int_input_rows_counted, int_kept_transfers_counted) are those of the stored rows and of
-- int_transfers_deduplicated. Returns failing files ('all files' for a total).
-- With var data_tests_rows 'this_run' (cexflow build without --full-check) on an incremental run (the stored rows
-- hold rows of earlier runs: is_incremental_run) in dbt run or build, the counts are checked against the stored
-- rows for what this run wrote (its files' rows, the days of its new rows, as constants: those days' partitions on
-- Spark; every day past 100 of them, which the Hive metastore may fail to filter by), as the generic tests check
-- an incremental model's rows of the run; what earlier runs wrote was checked by those runs.
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}
{%- set rows_counted_relation = ref('int_input_rows_counted') %}
{%- set this_run = var('data_tests_rows', 'all') == 'this_run' and cexflow.is_incremental_run(transfer_rows) %}
{%- set days = cexflow.days_of_this_run(transfer_rows) if this_run else none %}
{%- if days is not none and days | length > 100 %}{% set days = none %}{% endif %}

with reconciliation as (
    select * from {{ ref('rpt_input_reconciliation') }}
),

rows_counted as (
    select * from {{ rows_counted_relation }}
    {% if this_run %}
    where loaded_in_run = '{{ invocation_id }}'
    {% endif %}
),

stored_rows as (
    select * from {{ transfer_rows }}
    {% if this_run %}
    where loaded_in_run = '{{ invocation_id }}'
    {% endif %}
),

all_kept_counted as (
    select * from {{ ref('int_kept_transfers_counted') }}
),

kept_counted as (
    select * from all_kept_counted
    {% if days is not none %}
    where {{ cexflow.is_one_of_days('flow_date', days) }}
    {% endif %}
),

transfers as (
    select * from {{ ref('int_transfers_deduplicated') }}
    {% if days is not none %}
    where {{ cexflow.is_one_of_days('flow_date', days) }}
    {% endif %}
),

per_file_mismatch as (
    select source_file, 'rows_read <> kept + duplicates + rejected + other token' as problem
    from reconciliation
    where rows_read <> transfers_kept + duplicate_rows + rejected_rows + other_token_rows
        or duplicate_rows < 0
),

usable_mismatch as (
    select 'all files' as source_file, 'kept + duplicates do not match the rows of the kept transfers' as problem
    from (select sum(transfers_kept + duplicate_rows) as usable from reconciliation) as r
    cross join (select sum(rows_of_kept_transfers) as usable from all_kept_counted) as k
    where coalesce(r.usable, 0) <> coalesce(k.usable, 0)
),

kept_mismatch as (
    select 'all files' as source_file, 'transfers_kept does not match int_transfers_deduplicated' as problem
    from (select sum(transfers_kept) as n, sum(rows_of_kept_transfers) as usable from kept_counted) as k
    cross join (select count(*) as n, sum(n_source_rows) as usable from transfers) as t
    where coalesce(k.n, 0) <> t.n
        or coalesce(k.usable, 0) <> coalesce(t.usable, 0)
),

rows_mismatch as (
    select 'all files' as source_file, 'rows_read does not match stg_transfers__rows_validated' as problem
    from (select sum(rows_read) as n from rows_counted) as r
    cross join (select count(*) as n from stored_rows) as t
    where coalesce(r.n, 0) <> t.n
)

select * from per_file_mismatch
union all
select * from usable_mismatch
union all
select * from kept_mismatch
union all
select * from rows_mismatch
