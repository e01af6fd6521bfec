-- One row per distinct transfer of the build's token: typed, valid, deduplicated.
-- A transfer is identified by (chain, token, tx hash, log index) where the input has a log index, and by
-- (chain, token, tx hash, from, to, amount) where it has none (Etherscan and the seed export): a transfer
-- listed in several files or rows counts once, and is credited to the first file (by name, then line).
-- Incremental, so that the result equals a full rebuild; `loaded_in_run` marks the transfers a run wrote:
--   DuckDB: a run that adds files merges their rows into the transfers they belong to (delete+insert on
--           transfer_id);
--   Spark:  the table is partitioned by flow_date and a run rewrites whole days (insert_overwrite): the
--           days of the new rows and of every earlier row of their transactions, from all the rows of the
--           transactions seen on those days (docs/scale.md).
{{ config(**cexflow.incremental_by_day_config('transfer_id')) }}
{%- set day_partitions = config.get('incremental_strategy') == 'insert_overwrite' %}

{% if is_incremental() and day_partitions %}
with valid_transfer_rows as (
    select * from {{ ref('stg_transfer_rows') }}
    where rejection_reason is null
        and is_selected_token
),

new_transactions as (
    select distinct tx_hash from valid_transfer_rows
    where loaded_in_run = '{{ invocation_id }}'
),

rewritten_days as (
    select distinct cast(transferred_at as date) as flow_date from valid_transfer_rows
    where tx_hash in (select tx_hash from new_transactions)
),

transactions_of_rewritten_days as (
    select distinct tx_hash from valid_transfer_rows
    where cast(transferred_at as date) in (select flow_date from rewritten_days)
),

transfer_rows as (
    select * from valid_transfer_rows
    where tx_hash in (select tx_hash from transactions_of_rewritten_days)
),
{% else %}
with transfer_rows as (
    select * from {{ ref('stg_transfer_rows') }}
    {% if is_incremental() %}
    where loaded_in_run = '{{ invocation_id }}'
    {% endif %}
),
{% endif %}

valid_rows as (
    select
        *,
        {{ cexflow.hash_key(['chain', 'token_address', 'tx_hash',
            "coalesce(cast(log_index as " ~ dbt.type_string() ~ "), from_address || '>' || to_address || ':' || "
            ~ cexflow.decimal_to_text('amount') ~ ")"]) }}
            as transfer_id,
        1 as n_rows
    from transfer_rows
    where rejection_reason is null
        and is_selected_token
),

candidate_rows as (
    select
        transfer_id, chain, token_address, tx_hash, log_index, block_number, transferred_at, from_address,
        to_address, amount, source_format, source_file, line_number, n_rows
    from valid_rows
    {% if is_incremental() and not day_partitions %}
    union all
    -- the kept row of each transfer that the new rows repeat, with the count of rows it stood for
    select
        transfer_id, chain, token_address, tx_hash, log_index, block_number, transferred_at, from_address,
        to_address, amount, source_format, source_file, line_number, n_source_rows as n_rows
    from {{ this }}
    where transfer_id in (select transfer_id from valid_rows)
    {% endif %}
),

ranked as (
    select
        *,
        row_number() over (partition by transfer_id order by source_file, line_number) as row_rank,
        sum(n_rows) over (partition by transfer_id) as n_source_rows
    from candidate_rows
),

deduplicated as (
    select
        transfer_id,
        chain,
        token_address,
        tx_hash,
        log_index,
        block_number,
        transferred_at,
        cast(transferred_at as date) as flow_date,
        from_address,
        to_address,
        amount,
        source_format,
        source_file,
        line_number,
        cast(n_source_rows as bigint) as n_source_rows,
        '{{ invocation_id }}' as loaded_in_run
    from ranked
    where row_rank = 1
        {% if is_incremental() and day_partitions %}
        and cast(transferred_at as date) in (select flow_date from rewritten_days)
        {% endif %}
)

select * from deduplicated
