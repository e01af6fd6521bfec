-- The transfers of the build's tokens that more than one usable input row carries (a transfer in several
-- files, or the seed export's row per exchange address): one row per such transfer_id, with the row it is
-- kept from (the first by file name, then line) and how many rows carry it. A transfer of one row is not
-- here: that row is the transfer (int_transfers_deduplicated).
-- Incremental: a run recomputes the transfers its new rows carry, so a transfer repeated by a new file moves its
-- credit as a full build would: on DuckDB those transfers (delete+insert on transfer_id), on Spark the whole
-- flow_date partitions of the days its new rows fall on (insert_overwrite; macros/runs.sql days_of_this_run),
-- from the stored rows of those days alone. flow_date is the day of the kept row.
{{ config(**cexflow.incremental_by_key_config('transfer_id')) }}
{%- set day_partitions = config.get('incremental_strategy') == 'insert_overwrite' %}
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}

{%- set usable_rows_query -%}
    {% if is_incremental() and day_partitions %}
    select * from {{ transfer_rows }}
    where transfer_id is not null
        and {{ cexflow.is_one_of_days('flow_date', cexflow.days_of_this_run(transfer_rows)) }}
    {% elif is_incremental() %}
    {{ cexflow.rows_of_transfers_of_this_run(transfer_rows) }}
    {% else %}
    select * from {{ transfer_rows }}
    where transfer_id is not null
    {% endif %}
{%- endset %}

-- the rows are read twice, not through one CTE: DuckDB would copy a CTE read twice whole first
with transfers_of_several_rows as (
    select transfer_id, count(*) as n_source_rows
    from ({{ usable_rows_query }}) as usable_rows
    group by transfer_id
    having count(*) > 1
),

rows_in_kept_order as (
    select
        usable_rows.transfer_id,
        usable_rows.source_file,
        usable_rows.line_number,
        usable_rows.flow_date,
        transfers_of_several_rows.n_source_rows,
        row_number() over (
            partition by usable_rows.transfer_id order by usable_rows.source_file, usable_rows.line_number
        ) as position_in_transfer
    from ({{ usable_rows_query }}) as usable_rows
    inner join transfers_of_several_rows
        on usable_rows.transfer_id = transfers_of_several_rows.transfer_id
),

kept as (
    select
        transfer_id,
        source_file as kept_source_file,
        line_number as kept_line_number,
        cast(n_source_rows as bigint) as n_source_rows,
        flow_date
    from rows_in_kept_order
    where position_in_transfer = 1
)

select * from kept
