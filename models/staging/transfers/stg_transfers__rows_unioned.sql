-- The rows of every input format in one shape: one row per data row of every input file (source_file,
-- line_number), all raw text. An ethereum-etl or cryo row without block_timestamp takes its block's time from
-- the blocks files (var ethereum_etl_blocks_files). chain: the file's chain (var input_chains, else var chain).
{%- set with_blocks = var('ethereum_etl_blocks_files') | length > 0 %}
-- depends_on: {{ ref('stg_ethereum_etl__blocks_deduplicated') }}

with seed_export_rows as (
    select * from {{ ref('stg_seed_export__transfers') }}
),

etherscan_csv_rows as (
    select * from {{ ref('stg_etherscan__csv_transfers') }}
),

etherscan_api_rows as (
    select * from {{ ref('stg_etherscan__api_transfers') }}
),

ethereum_etl_csv_rows as (
    select * from {{ ref('stg_ethereum_etl__token_transfers') }}
),

ethereum_etl_parquet_rows as (
    select * from {{ ref('stg_ethereum_etl__token_transfers_parquet') }}
),

cryo_rows as (
    select * from {{ ref('stg_cryo__erc20_transfers') }}
),

ethereum_etl_rows as (
    -- the formats whose rows may lack a time, which the blocks files then give
    select * from ethereum_etl_csv_rows
    union all
    select * from ethereum_etl_parquet_rows
    union all
    select * from cryo_rows
),

{% if with_blocks %}
one_time_per_block as (
    select * from {{ ref('stg_ethereum_etl__blocks_deduplicated') }}
),

ethereum_etl_rows_timed as (
    select
        ethereum_etl_rows.source_format,
        ethereum_etl_rows.source_file,
        ethereum_etl_rows.line_number,
        ethereum_etl_rows.header_field_count,
        ethereum_etl_rows.field_count_error,
        ethereum_etl_rows.raw_tx_hash,
        ethereum_etl_rows.raw_block_number,
        coalesce(ethereum_etl_rows.raw_timestamp, one_time_per_block.raw_block_timestamp) as raw_timestamp,
        ethereum_etl_rows.raw_from_address,
        ethereum_etl_rows.raw_to_address,
        ethereum_etl_rows.raw_token_address,
        ethereum_etl_rows.raw_value,
        ethereum_etl_rows.raw_token_decimals,
        ethereum_etl_rows.raw_log_index,
        ethereum_etl_rows.amount_unit
    from ethereum_etl_rows
    left join one_time_per_block
        on try_cast(trim(ethereum_etl_rows.raw_block_number) as bigint) = one_time_per_block.block_number
        {% if cexflow.input_chains() %}
        -- the blocks files are of the default chain: a file of another chain takes no time from them
        and {{ cexflow.chain_of_file('ethereum_etl_rows.source_file') }} = '{{ var("chain") | trim | lower }}'
        {% endif %}
),
{% else %}
ethereum_etl_rows_timed as (
    select * from ethereum_etl_rows
),
{% endif %}

unioned as (
    select * from seed_export_rows
    union all
    select * from etherscan_csv_rows
    union all
    select * from etherscan_api_rows
    union all
    select * from ethereum_etl_rows_timed
),

with_chain as (
    -- the chain of each row is its file's (var input_chains; var chain for the rest: macros/build_scope.sql)
    select
        unioned.*,
        {{ cexflow.chain_of_file('unioned.source_file') }} as chain
    from unioned
)

select * from with_chain
