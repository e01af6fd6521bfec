-- The transfers whose class this run changed: with deposit inference, on an incremental run, the transfers of an
-- address whose inferred exchange or kind differs from the version before the run (int_exchange_addresses_inferred
-- and its _previous copy: macros/runs.sql transfers_reclassified_by_this_run). The incremental models rewrite them
-- and their days, their pre-hook removes their stored rows first, and the run's data tests read their days: all
-- read this small table (reclassified_transfers), so the transfers are scanned for them once a run, and not at all
-- when no address changed. Empty on a first or full build, where every transfer is classified, and with deposit
-- inference off. One row per transfer_id.
{{ config(materialized='table') }}
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}
{%- set transfers = ref('int_transfers_deduplicated') %}
{%- set inferred = ref('int_exchange_addresses_inferred') %}
{%- set incremental = var('deposit_inference') in [true, 'true', 'True', 1] and cexflow.is_incremental_run(transfer_rows) %}
{%- set reclassified = cexflow.transfers_reclassified_by_this_run(transfers, inferred) if incremental else none %}

with reclassified as (
    {% if reclassified %}
    select transfer_id, flow_date from ({{ reclassified }}) as reclassified_transfers
    {% else %}
    select cast(null as {{ dbt.type_string() }}) as transfer_id, cast(null as date) as flow_date
    where 1 = 0
    {% endif %}
)

select * from reclassified
