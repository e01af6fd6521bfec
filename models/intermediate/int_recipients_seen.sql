-- One row per address that received a token of the build in the inputs (chain, token_address, address): for
-- rpt_build_summary, which tells apart the senders whose own receipts are in the inputs. A run only adds
-- transfers (a changed file or token rebuilds in full), so the set only grows: an incremental run reads the kept
-- transfers of the days of its new rows (rows_of_days_of_this_run: those days' partitions on Spark) and appends
-- the recipients it does not hold; it reads this table (a row per address), not every transfer.
{{ config(materialized='incremental', incremental_strategy='append') }}
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}

with transfers as (
    {{ cexflow.rows_of_days_of_this_run(ref('int_transfers_deduplicated'), transfer_rows) }}
),

recipients as (
    select distinct chain, token_address, to_address as address
    from transfers
),

new_recipients as (
    select recipients.*
    from recipients
    {% if is_incremental() %}
    left join {{ this }} as held
        on recipients.chain = held.chain
        and recipients.token_address = held.token_address
        and recipients.address = held.address
    where held.address is null
    {% endif %}
)

select * from new_recipients
