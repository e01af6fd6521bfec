-- Every row of every input file, typed, with the reason it cannot be used (NULL when it can), and for a
-- usable row of a token of the build the id of its transfer. One row per (source_file, line_number). The
-- only model that stores the raw files' rows; the raw text of a row is kept only when the row is rejected.
-- Incremental: a run reads only the files it is given and appends the rows of files not loaded yet
-- (cexflow build passes the new files only; changed or removed files make it rebuild in full). The CSV rows
-- get their line numbers after the insert (macros/read_raw_files.sql, number_lines_after_insert). On Spark the
-- table is partitioned by flow_date (the day of transferred_at; rows without one in the NULL partition), so
-- that an incremental run reads the stored rows of the days its new rows fall on and no others
-- (macros/runs.sql; docs/scale.md).
{{ config(materialized='incremental', incremental_strategy='append',
          partition_by=cexflow.stored_rows_partition_by(),
          pre_hook="{{ cexflow.keep_insertion_order(true) }}",
          post_hook=[after_commit("{{ cexflow.number_lines_after_insert(this) }}"),
                     after_commit("{{ cexflow.keep_insertion_order(false) }}")],
          meta={'rows_of_a_run': 'loaded_in_run'}) }}
-- depends_on: {{ ref('stg_tokens__selected') }}

with unioned_rows as (
    select * from {{ ref('stg_transfers__rows_unioned') }}
    {% if is_incremental() %}
    {% set loaded_files = cexflow.column_values(this, 'source_file') %}
    {% if loaded_files %}
    where source_file not in ({{ cexflow.sql_string_items(loaded_files) }})
    {% endif %}
    {% endif %}
),

{#- the build's tokens (stg_tokens__selected), read when the model runs: matched by CASE expressions, not by a
    join, which would not keep the scan's order that the line numbers rest on (number_lines_after_insert) -#}
{% set tokens = [] %}
{% if execute %}
    {% set token_rows = run_query('select chain, token_address, decimals, n_tokens_of_chain from '
                                  ~ ref('stg_tokens__selected') ~ ' order by chain, token_address') %}
    {% for row in token_rows.rows %}{% do tokens.append(row) %}{% endfor %}
{% endif %}

keyed as (
    -- the token a row names; a row without one (the seed export) is of its chain's one token, when the chain
    -- has one
    select
        unioned_rows.*,
        coalesce(
            unioned_rows.raw_token_address,
            case
                {% for row in tokens if row[3] == 1 %}
                when unioned_rows.chain = {{ cexflow.sql_string(row[0]) }} then {{ cexflow.sql_string(row[1]) }}
                {% endfor %}
                when 1 = 0 then cast(null as {{ dbt.type_string() }})
            end) as row_token_address
    from unioned_rows
),

with_token as (
    select
        keyed.*,
        case
            {% for row in tokens %}
            when keyed.chain = {{ cexflow.sql_string(row[0]) }} and keyed.row_token_address = {{ cexflow.sql_string(row[1]) }}
                then {{ cexflow.sql_string(row[1]) }}
            {% endfor %}
            {#- an address written in upper case or with blanks: compared again, only for the rows left -#}
            {% for row in tokens %}
            when keyed.chain = {{ cexflow.sql_string(row[0]) }}
                and lower({{ cexflow.trim_text('keyed.row_token_address') }}) = {{ cexflow.sql_string(row[1]) }}
                then {{ cexflow.sql_string(row[1]) }}
            {% endfor %}
            when 1 = 0 then cast(null as {{ dbt.type_string() }})
        end as selected_token_address,
        case
            {% for row in tokens if row[2] is not none %}
            when keyed.chain = {{ cexflow.sql_string(row[0]) }}
                and (keyed.row_token_address = {{ cexflow.sql_string(row[1]) }}
                     or lower({{ cexflow.trim_text('keyed.row_token_address') }}) = {{ cexflow.sql_string(row[1]) }})
                then {{ row[2] }}
            {% endfor %}
            when 1 = 0 then cast(null as integer)
        end as selected_token_decimals,
        -- a row written the plain way (every field as its checks below want it: lower-case hex, digits, no
        -- blanks) gives the same values without the trimming and lower-casing: most rows are plain
        {{ cexflow.matches('keyed.raw_tx_hash', '0x[0-9a-f]{64}') }}
            and {{ cexflow.matches('keyed.raw_from_address', '0x[0-9a-f]{40}') }}
            and {{ cexflow.matches('keyed.raw_to_address', '0x[0-9a-f]{40}') }}
            and (keyed.raw_token_address is null
                or {{ cexflow.matches('keyed.raw_token_address', '0x[0-9a-f]{40}') }})
            and {{ cexflow.matches('keyed.raw_block_number', '[0-9]{1,18}') }}
            and {{ cexflow.matches('keyed.raw_timestamp', '[0-9]{1,11}') }}
            and (keyed.raw_token_decimals is null
                or {{ cexflow.matches('keyed.raw_token_decimals', '[0-9]{1,2}') }})
            and (keyed.raw_log_index is null or {{ cexflow.matches('keyed.raw_log_index', '[0-9]{1,18}') }})
            and case keyed.amount_unit
                when 'raw_integer' then {{ cexflow.matches('keyed.raw_value', '[0-9]{1,38}') }}
                else {{ cexflow.matches('keyed.raw_value', '[0-9]{1,20}([.][0-9]{1,18})?') }}
            end
            and keyed.field_count_error is null
            as is_plain
    from keyed
),

trimmed as (
    -- every text field trimmed once here; the checks below test these, and keep the raw text for rejects
    select
        *,
        {% for column in ['tx_hash', 'block_number', 'timestamp', 'from_address', 'to_address', 'token_address',
                          'value', 'token_decimals', 'log_index'] -%}
        case when is_plain then raw_{{ column }} else {{ cexflow.trim_text('raw_' ~ column) }} end
            as {{ column }}_text{{ ',' if not loop.last }}
        {% endfor %}
    from with_token
),

checked as (
    select
        *,
        -- the seed export has no token column: its rows are the token of their chain (when it has one)
        coalesce(case when is_plain then token_address_text else lower(token_address_text) end,
                 selected_token_address) as token_address,
        coalesce(try_cast(token_decimals_text as integer), selected_token_decimals) as token_decimals,
        -- (a plain row passes every check; CASE, unlike OR, skips the check for it)
        case when is_plain then true else {{ cexflow.is_hex_hash('tx_hash_text') }} end as is_tx_hash_ok,
        case when is_plain then true else {{ cexflow.is_hex_address('from_address_text') }} end as is_from_address_ok,
        case when is_plain then true else {{ cexflow.is_hex_address('to_address_text') }} end as is_to_address_ok,
        case when is_plain then raw_token_address is not null
            else {{ cexflow.is_hex_address('token_address_text') }} end as is_token_address_ok,
        case when is_plain then amount_unit = 'raw_integer' else {{ cexflow.is_digits('value_text') }} end
            as is_value_digits,
        case when is_plain then true else {{ cexflow.is_number_text('value_text') }} end as is_value_number
    from trimmed
),

scaled as (
    -- a plain row's amount as the digits of amount x 10^18 ('1500000000000000000' for 1.5): a raw integer of
    -- up to 18 decimals padded with zeros, a decimal text's two parts joined. They give its exact amount and
    -- the amount in its transfer's key more cheaply than the general conversions below, to the same values
    -- (the engine comparison checks both on every kind of amount)
    select
        *,
        case
            when is_plain and amount_unit = 'raw_integer' and token_decimals between 0 and 18
                then value_text || repeat('0', 18 - token_decimals)
            when is_plain and amount_unit = 'token_units'
                then split_part(value_text, '.', 1) || rpad(split_part(value_text, '.', 2), 18, '0')
        end as amount_digits
    from checked
),

typed as (
    select
        *,
        coalesce(token_address = selected_token_address, false) and field_count_error is null as is_selected_token,
        -- a row whose token is readable and not one of the build's (on the row's chain) is counted, not used
        -- nor rejected
        is_token_address_ok and selected_token_address is null and field_count_error is null
            as is_other_token,
        case when is_plain then tx_hash_text else lower(tx_hash_text) end as tx_hash,
        try_cast(block_number_text as bigint) as block_number,
        try_cast(log_index_text as bigint) as log_index,
        {{ cexflow.epoch_text_to_timestamp('timestamp_text') }} as transferred_at,
        case when is_plain then from_address_text else lower(from_address_text) end as from_address,
        case when is_plain then to_address_text else lower(to_address_text) end as to_address,
        case
            when amount_digits is not null then {{ cexflow.scaled_digits_to_decimal('amount_digits') }}
            when amount_unit = 'token_units' and is_value_number
                then {{ cexflow.decimal_text_to_decimal('value_text') }}
            when amount_unit = 'raw_integer' and is_value_digits
                then {{ cexflow.raw_amount_to_decimal('value_text', 'token_decimals') }}
        end as amount
    from scaled
),

with_amount_key as (
    -- the amount in a transfer's key: the digits of amount x 10^18, as amount_digits has them, else from the
    -- decimal's own text
    select
        *,
        case
            when amount is null then null
            when amount_digits is not null then {{ cexflow.digits_key('amount_digits') }}
            else {{ cexflow.digits_key("replace(" ~ cexflow.decimal_to_text('amount') ~ ", '.', '')") }}
        end as amount_key
    from typed
),

with_rejection_reason as (
    select
        *,
        case
            when field_count_error = 'fewer' then 'too few fields for the header ('
                || cast(header_field_count as {{ dbt.type_string() }}) || ' columns)'
            when field_count_error = 'more' then 'too many fields for the header ('
                || cast(header_field_count as {{ dbt.type_string() }})
                || ' columns): a comma that is not a separator, such as a decimal comma?'
            when nullif(tx_hash_text, '') is null then 'missing transaction hash'
            when not is_tx_hash_ok then 'malformed transaction hash (want 0x and 64 hex digits)'
            when nullif(from_address_text, '') is null then 'missing from address'
            when not is_from_address_ok then 'malformed from address (want 0x and 40 hex digits)'
            when nullif(to_address_text, '') is null then 'missing to address'
            when not is_to_address_ok then 'malformed to address (want 0x and 40 hex digits)'
            when raw_token_address is not null and not is_token_address_ok
                then 'malformed token address (want 0x and 40 hex digits)'
            when raw_token_address is null and selected_token_address is null
                then 'no token column, and the build has no single token on ' || chain
                    || ': build this file with one --token of that chain'
            when block_number is null or block_number < 0 then 'missing or malformed block number'
            when nullif(timestamp_text, '') is null
                and source_format in ('ethereum_etl', 'ethereum_etl_parquet', 'cryo_erc20_transfers')
                then 'no time for this block: the file has no block_timestamp and no blocks file lists the block (--blocks)'
            when nullif(timestamp_text, '') is null then 'missing timestamp'
            when transferred_at is null then 'malformed timestamp (want unix seconds or an ISO time)'
            when nullif(value_text, '') is null then 'missing amount'
            when value_text like '-%' then 'negative amount'
            when raw_token_decimals is not null and try_cast(token_decimals_text as integer) is null
                then 'malformed tokenDecimal'
            when token_decimals is null then 'unknown token decimals (pass --decimals)'
            when not is_value_number then 'non-numeric amount'
            when amount_unit = 'raw_integer' and not is_value_digits
                then 'raw amount is not a whole number (scientific notation or decimals: the value was rounded on the way)'
            when amount is null then 'amount does not fit DECIMAL(38,18) exactly'
        end as rejection_reason
    from with_amount_key
),

final as (
    select
        source_format,
        source_file,
        line_number,
        chain,
        token_address,
        is_selected_token,
        is_other_token,
        tx_hash,
        block_number,
        log_index,
        transferred_at,
        from_address,
        to_address,
        amount,
        -- the identity of a usable row's transfer (int_transfers_deduplicated): (chain, token, tx hash, log
        -- index) where the input has a log index, else (chain, token, tx hash, from, to, amount)
        case when rejection_reason is null and is_selected_token then
            {{ cexflow.hash_key(['chain', 'token_address', 'tx_hash',
                "coalesce(cast(log_index as " ~ dbt.type_string() ~ "), from_address || '>' || to_address || ':' || amount_key)"]) }}
        end as transfer_id,
        rejection_reason,
        '{{ invocation_id }}' as loaded_in_run,
        -- the raw text is kept only where it explains a rejection (it would double the table otherwise)
        {% for column in ['tx_hash', 'block_number', 'timestamp', 'from_address', 'to_address', 'token_address',
                          'value', 'token_decimals', 'log_index'] %}
        case when rejection_reason is not null then raw_{{ column }} end as raw_{{ column }},
        {% endfor %}
        -- the UTC day of the row's time (its transfer's flow_date), last: Spark's partition column
        cast(transferred_at as date) as flow_date
    from with_rejection_reason
)

select * from final
