-- Every token the build asks for (var token: a symbol, an address or `all`) resolves to at least one token of
-- the build's chains, and every selected token has known decimals (vars chain, token, token_decimals). Returns
-- a row per token asked for that fails: then nothing downstream can be computed for it.
{% set wanted = cexflow.build_tokens() %}
with selected as (
    select * from {{ ref('stg_tokens__selected') }}
),

asked as (
    {% for token in wanted %}
    select '{{ token }}' as token
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

checked as (
    select
        asked.token,
        count(selected.token_address) as n_matches,
        count(selected.token_address) - count(selected.decimals) as n_without_decimals
    from asked
    left join selected
        on asked.token = 'all'
        or asked.token = selected.token_address
        or asked.token = lower(selected.symbol)
    group by asked.token
)

select * from checked
where n_matches = 0 or n_without_decimals > 0
