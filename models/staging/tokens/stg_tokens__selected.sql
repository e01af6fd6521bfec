-- The one token this build is about (vars `chain`, `token`, `token_decimals`): from seeds/tokens.csv by
-- symbol or address, or an address not in the seed with its decimals given by `token_decimals` (and no kind:
-- the reports word its netflow sign without a meaning).
-- A table (of one row), so that the token of a build is in its files on every engine (`cexflow report`
-- reads a Spark build's tables, not its views).
{{ config(materialized='table') }}
{% set token = var('token') | string | trim | lower %}
{% set decimals_given = var('token_decimals') %}

with tokens as (
    select * from {{ ref('tokens') }}
),

from_seed as (
    select
        chain,
        lower(token_address) as token_address,
        symbol,
        decimals,
        kind,
        underlying
    from tokens
    where chain = '{{ var("chain") }}'
        and (lower(symbol) = '{{ token }}' or lower(token_address) = '{{ token }}')
),

given_address as (
    select
        '{{ var("chain") }}' as chain,
        '{{ token }}' as token_address,
        '{{ token }}' as symbol,
        cast(null as integer) as decimals,
        cast(null as {{ dbt.type_string() }}) as kind,
        cast(null as {{ dbt.type_string() }}) as underlying
    where {{ cexflow.is_hex_address("'" ~ token ~ "'") }}
        and not exists (select 1 from from_seed)
),

selected as (
    select
        chain,
        token_address,
        symbol,
        cast({{ decimals_given if decimals_given is not none else 'decimals' }} as integer) as decimals,
        kind,
        underlying
    from (select * from from_seed union all select * from given_address) as candidates
)

select * from selected
