-- The tokens this build is about (vars token, chain, token_decimals; macros/build_scope.sql): one row per
-- (chain, token_address). A symbol or address of seeds/tokens.csv is that token on every chain of the build
-- where the seed lists it (LPT with inputs of Ethereum and Arbitrum One is LPT on both); `all` is every token of
-- the seed on the build's chains; an address not in the seed is a token of the default chain (var chain) with
-- its decimals given by `token_decimals` (and no kind: the reports word its netflow sign without a meaning).
-- With one token asked for, token_decimals overrides the seed's decimals too (as the single-token build did).
-- n_tokens_of_chain: how many tokens of the build are on the row's chain (a file without a token column, the
-- seed export, is of its chain's one token).
-- A table (of a few rows), so that the tokens of a build are in its files on every engine (`cexflow report`
-- reads a Spark build's tables, not its views).
{{ config(materialized='table') }}
{% set wanted = cexflow.build_tokens() %}
{% set chains = cexflow.build_chains() %}
{% set decimals_given = var('token_decimals') %}
{% set addresses = [] %}
{% for token in wanted if modules.re.match('^0x[0-9a-f]{40}$', token) %}{% do addresses.append(token) %}{% endfor %}

with tokens as (
    select * from {{ ref('tokens') }}
),

from_seed as (
    select
        chain,
        lower(token_address) as token_address,
        symbol,
        {% if decimals_given is not none and wanted | length == 1 %}cast({{ decimals_given }} as integer){% else %}decimals{% endif %}
            as decimals,
        kind,
        underlying
    from tokens
    where chain in ({{ cexflow.sql_string_items(chains) }})
        {% if 'all' not in wanted %}
        and (lower(symbol) in ({{ cexflow.sql_string_items(wanted) }})
             or lower(token_address) in ({{ cexflow.sql_string_items(wanted) }}))
        {% endif %}
),

given_addresses as (
    {% for address in addresses %}
    select
        '{{ var("chain") | trim | lower }}' as chain,
        '{{ address }}' as token_address,
        '{{ address }}' as symbol,
        cast({{ decimals_given if decimals_given is not none else 'null' }} as integer) as decimals,
        cast(null as {{ dbt.type_string() }}) as kind,
        cast(null as {{ dbt.type_string() }}) as underlying
    where not exists (select 1 from from_seed where from_seed.token_address = '{{ address }}')
    union all
    {% endfor %}
    select
        cast(null as {{ dbt.type_string() }}) as chain,
        cast(null as {{ dbt.type_string() }}) as token_address,
        cast(null as {{ dbt.type_string() }}) as symbol,
        cast(null as integer) as decimals,
        cast(null as {{ dbt.type_string() }}) as kind,
        cast(null as {{ dbt.type_string() }}) as underlying
    where 1 = 0
),

candidates as (
    select * from from_seed
    union all
    select * from given_addresses
),

selected as (
    select
        chain,
        token_address,
        symbol,
        decimals,
        kind,
        underlying,
        cast(count(*) over (partition by chain) as integer) as n_tokens_of_chain
    from candidates
)

select * from selected
