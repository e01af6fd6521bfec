-- Every balances row typed and checked: one row per row of stg_balances__anchors. chain and token default to
-- the build's; kind to wallet. A row of another chain or token is not ours (is_other_token: counted, not
-- rejected); a row of ours that cannot be used has its rejection_reason (stg_balances_rejected lists them).
-- A block anchor (block) is the balance after that block; a date anchor (date, no block) the balance at the
-- end of that UTC day. A row with both is a block anchor (the block is exact); block_time, when given, is
-- the block's time and gives a block anchor its day.
with anchor_rows as (
    select * from {{ ref('stg_balances__anchors') }}
),

tokens as (
    select * from {{ ref('stg_tokens__selected') }}
),

token_names as (
    {{ cexflow.build_token_names('tokens') }}
),

wallets as (
    select * from {{ ref('stg_labels__exchange_wallets_deduplicated') }}
),

trimmed as (
    select
        source_file,
        line_number,
        field_count_error,
        coalesce(nullif(lower({{ cexflow.trim_text('raw_chain') }}), ''), '{{ var("chain") }}') as chain,
        nullif(lower({{ cexflow.trim_text('raw_token') }}), '') as token_text,
        coalesce(nullif(lower({{ cexflow.trim_text('raw_kind') }}), ''), 'wallet') as kind,
        lower({{ cexflow.trim_text('raw_address') }}) as address_text,
        {{ cexflow.trim_text('raw_balance') }} as balance_text,
        {{ cexflow.trim_text('raw_block') }} as block_text,
        {{ cexflow.trim_text('raw_date') }} as date_text,
        {{ cexflow.trim_text('raw_block_time') }} as block_time_text,
        raw_chain,
        raw_token,
        raw_address,
        raw_kind,
        raw_balance,
        raw_block,
        raw_date,
        raw_block_time
    from anchor_rows
),

typed as (
    select
        trimmed.*,
        token_names.token_address,
        -- a row whose fields are shifted (more or fewer than its header) has no chain or token to trust; a
        -- row without a token on a chain of several tokens of the build is ours (a name with no address), and
        -- rejected
        trimmed.field_count_error is null and token_names.chain is null as is_other_token,
        -- plain decimal text only (at most 20 digits before the point and 18 after): exact on both engines
        case when {{ cexflow.matches('trimmed.balance_text', '[0-9]{1,20}([.][0-9]{1,18})?') }}
            then {{ cexflow.decimal_text_to_decimal('trimmed.balance_text') }}
        end as balance,
        case when {{ cexflow.matches('trimmed.block_text', '[0-9]{1,18}') }}
            then cast(trimmed.block_text as bigint)
        end as anchor_block,
        case when {{ cexflow.matches('trimmed.date_text', '[0-9]{4}-[0-9]{2}-[0-9]{2}') }}
            then try_cast(trimmed.date_text as date)
        end as date_of_anchor,
        case when {{ cexflow.matches('trimmed.block_time_text', '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?') }}
            then try_cast(substr(trimmed.block_time_text, 1, 10) as date)
        end as block_date,
        wallets.exchange,
        wallets.wallet,
        wallets.wallet_address
    from trimmed
    left join token_names
        on trimmed.chain = token_names.chain
        and coalesce(trimmed.token_text, '') = token_names.token_name
    left join wallets
        on trimmed.chain = wallets.chain
        and trimmed.address_text = wallets.wallet_address
),

checked as (
    select
        *,
        case
            when field_count_error = 'more' then 'the row has more fields than the header'
            when field_count_error = 'fewer' then 'the row has fewer fields than the header'
            when token_address is null
                then 'no token given, and the build has several tokens on ' || chain || ': name the token'
            when kind not in ('wallet', 'supply') then 'kind is neither wallet nor supply'
            when kind = 'wallet' and nullif(address_text, '') is null then 'missing address'
            when kind = 'wallet' and not {{ cexflow.is_hex_address('address_text') }}
                then 'malformed address (want 0x and 40 hex digits)'
            when nullif(balance_text, '') is null then 'missing balance'
            when balance_text like '-%' then 'negative balance'
            when balance is null
                then 'balance is not a plain decimal of at most 20 digits before the point and 18 after'
            when nullif(block_text, '') is null and nullif(date_text, '') is null
                then 'no anchor: the row needs a block or a date'
            when nullif(block_text, '') is not null and anchor_block is null
                then 'malformed block (want a whole number)'
            when nullif(block_text, '') is null and date_of_anchor is null
                then 'malformed date (want YYYY-MM-DD)'
            when kind = 'wallet' and wallet_address is null
                then 'the address is not a labelled exchange wallet on ' || chain
        end as rejection_reason
    from typed
),

final as (
    select
        source_file,
        line_number,
        chain,
        token_address,
        kind,
        exchange,
        wallet,
        case when kind = 'wallet' then wallet_address end as wallet_address,
        balance,
        anchor_block,
        -- the anchor's UTC day: a date anchor's date, a block anchor's block_time day (NULL when not given)
        case when anchor_block is not null then block_date else date_of_anchor end as anchor_date,
        is_other_token,
        rejection_reason,
        raw_chain,
        raw_token,
        raw_address,
        raw_kind,
        raw_balance,
        raw_block,
        raw_date,
        raw_block_time
    from checked
)

select * from final
