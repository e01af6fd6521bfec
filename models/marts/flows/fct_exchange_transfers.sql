-- One row per transfer of the build's tokens that touches an exchange address: a labelled wallet, or a deposit
-- address (given in a label file or inferred: dim_exchange_addresses). With deposit inference a deposit is the
-- transfer into the deposit address (from_address is the depositor), and the deposit address's transfer into
-- the exchange's wallet is a sweep.
-- Incremental: a run rewrites the transfers that its new input rows carry (DuckDB: delete+insert on
-- transfer_id), or on Spark the flow_date partitions of the days those rows fall on (insert_overwrite,
-- macros/runs.sql days_of_this_run), so that a transfer whose kept row moves to a new file moves as in a full
-- build. A pre-hook removes first the stored rows of the transfers whose class this run changed (an inferred
-- address ruled out may leave them touching no exchange: macros/runs.sql remove_rows_of_reclassified_transfers).
-- loaded_in_run is the dbt run that last wrote the row.
{{ config(pre_hook="{{ cexflow.remove_rows_of_reclassified_transfers(ref('int_transfers_reclassified')) }}",
          meta={'rows_of_a_run': 'loaded_in_run'}, **cexflow.incremental_by_day_config('transfer_id')) }}
{%- set day_partitions = config.get('incremental_strategy') == 'insert_overwrite' %}
-- the stored input rows and duplicates say which transfers this run changes
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}
{%- set duplicates = ref('int_transfer_duplicates') %}
-- with deposit inference, the transfers of earlier runs whose class this run changed (int_transfers_reclassified)
{%- set reclassified = cexflow.reclassified_transfers(ref('int_transfers_reclassified')) %}

with classified as (
    select * from {{ ref('int_transfers_classified') }}
),

written as (
    {% if is_incremental() and day_partitions %}
    -- the days this run's transfers fall on, whole, as constants: the scan reads those days' stored rows only
    select classified.*
    from classified
    where {{ cexflow.is_one_of_days('classified.flow_date', cexflow.days_of_this_run(transfer_rows, reclassified)) }}
    {% elif is_incremental() %}
    -- the transfers kept from a row of this run, and those of this run's rows kept from an earlier file's row
    -- (found by file, which lets the scan skip the row groups of other files and runs)
    select * from classified
    where loaded_in_run = '{{ invocation_id }}'
    {% set earlier_files = cexflow.earlier_files_keeping_transfers_of_this_run(transfer_rows, duplicates) %}
    {% if earlier_files %}
    union all
    select classified.*
    from classified
    inner join ({{ cexflow.transfer_ids_of_this_run(transfer_rows) }}) as transfers_of_this_run
        on classified.transfer_id = transfers_of_this_run.transfer_id
    where classified.loaded_in_run <> '{{ invocation_id }}'
        and classified.source_file in ({{ cexflow.sql_string_items(earlier_files) }})
    {% endif %}
    {% if reclassified %}
    union
    -- the transfers of earlier runs whose class this run changed (union: once, if also kept from an earlier file)
    select classified.*
    from classified
    inner join (select distinct transfer_id from ({{ reclassified }}) as reclassified_transfers) as reclassified_ids
        on classified.transfer_id = reclassified_ids.transfer_id
    where classified.loaded_in_run <> '{{ invocation_id }}'
    {% endif %}
    {% else %}
    select * from classified
    {% endif %}
),

final as (
    select
        transfer_id,
        chain,
        token_address,
        tx_hash,
        log_index,
        block_number,
        transferred_at,
        flow_date,
        from_address,
        to_address,
        from_exchange,
        to_exchange,
        from_wallet,
        to_wallet,
        flow_type,
        amount,
        source_file,
        line_number as source_line_number,
        n_source_rows,
        -- wallet or deposit (dim_exchange_addresses) of each side, NULL outside the exchanges
        from_address_kind,
        to_address_kind,
        '{{ invocation_id }}' as loaded_in_run
    from written
)

select * from final
