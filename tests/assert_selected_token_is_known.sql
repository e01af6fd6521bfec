-- The build's token resolves to exactly one token with known decimals (vars chain, token, token_decimals).
-- Returns a row when it does not: then nothing downstream can be computed.
select
    '{{ var("chain") }}' as chain,
    '{{ var("token") }}' as token,
    (select count(*) from {{ ref('stg_tokens__selected') }}) as n_matches,
    (select min(decimals) from {{ ref('stg_tokens__selected') }}) as decimals
where (select count(*) from {{ ref('stg_tokens__selected') }}) <> 1
    or (select count(*) from {{ ref('stg_tokens__selected') }} where decimals is null) > 0
