-- Every prices row typed and checked: one row per row of stg_prices__daily. An empty chain or token is the
-- build's; token is the token's symbol or 0x address (an empty token is the chain's one token of the build). A
-- row of another chain or token is not ours
-- (is_other_token: left alone, not rejected); a row of ours that cannot be used has its rejection_reason
-- (stg_prices_rejected lists them). The price is plain decimal text, positive, at most 18 digits before the
-- point and 18 after (so that amount x price is exact: macro usd_value). Two rows of one day with the same
-- price are one price; with different prices, every row of that day is rejected (no guess which is right).
with price_rows as (
    select * from {{ ref('stg_prices__daily') }}
),

tokens as (
    select * from {{ ref('stg_tokens__selected') }}
),

token_names as (
    {{ cexflow.build_token_names('tokens') }}
),

trimmed as (
    select
        source_file,
        line_number,
        field_count_error,
        coalesce(nullif(lower({{ cexflow.trim_text('raw_chain') }}), ''), '{{ var("chain") }}') as chain,
        nullif(lower({{ cexflow.trim_text('raw_token') }}), '') as token_text,
        {{ cexflow.trim_text('raw_date') }} as date_text,
        {{ cexflow.trim_text('raw_price_usd') }} as price_text,
        raw_date,
        raw_chain,
        raw_token,
        raw_price_usd
    from price_rows
),

typed as (
    select
        trimmed.*,
        token_names.token_address,
        -- a row whose fields are shifted (more or fewer than its header) has no chain or token to trust; a
        -- row without a token on a chain of several tokens of the build is ours (a name with no address), and
        -- rejected
        trimmed.field_count_error is null and token_names.chain is null as is_other_token,
        case when {{ cexflow.matches('trimmed.date_text', '[0-9]{4}-[0-9]{2}-[0-9]{2}') }}
            then try_cast(trimmed.date_text as date)
        end as price_date,
        case when {{ cexflow.matches('trimmed.price_text', '[0-9]{1,18}([.][0-9]{1,18})?') }}
            then {{ cexflow.decimal_text_to_decimal('trimmed.price_text') }}
        end as parsed_price_usd
    from trimmed
    left join token_names
        on trimmed.chain = token_names.chain
        and coalesce(trimmed.token_text, '') = token_names.token_name
),

checked as (
    select
        *,
        case
            when field_count_error = 'more' then 'the row has more fields than the header'
            when field_count_error = 'fewer' then 'the row has fewer fields than the header'
            when token_address is null
                then 'no token given, and the build has several tokens on ' || chain || ': name the token'
            when nullif(date_text, '') is null then 'missing date'
            when price_date is null then 'malformed date (want YYYY-MM-DD)'
            when nullif(price_text, '') is null then 'missing price_usd'
            when price_text like '-%' then 'negative price_usd'
            when parsed_price_usd is null
                then 'price_usd is not a plain decimal of at most 18 digits before the point and 18 after'
            when parsed_price_usd = 0 then 'price_usd is zero (a price must be positive)'
        end as row_reason
    from typed
),

-- the same day's other usable rows: two different prices for one day reject them all
day_prices as (
    select
        *,
        min(case when row_reason is null and not is_other_token then parsed_price_usd end)
            over (partition by chain, token_address, price_date) as day_min_price,
        max(case when row_reason is null and not is_other_token then parsed_price_usd end)
            over (partition by chain, token_address, price_date) as day_max_price
    from checked
),

final as (
    select
        source_file,
        line_number,
        chain,
        token_address,
        price_date,
        case when row_reason is null then parsed_price_usd end as price_usd,
        is_other_token,
        coalesce(row_reason,
                 case when not is_other_token and day_min_price <> day_max_price
                     then 'another row gives a different price_usd for this day' end) as rejection_reason,
        raw_date,
        raw_chain,
        raw_token,
        raw_price_usd
    from day_prices
)

select * from final
