-- The exchange addresses inferred from the transfers (the rule: docs/deposit_addresses.md and this model's YAML), its
-- second step: of the candidates (int_deposit_address_candidates, the first step: unlabelled addresses that send only
-- to one exchange's wallets, or only to one such address), those whose receipts and sweeps match:
--   deposit       a candidate that forwards what it receives to the wallets of one exchange, within var
--                 deposit_sweep_max_hours, in amounts that match what it received (var deposit_amount_tolerance);
--                 or one that does so into that exchange's consolidation wallet
--   consolidation a candidate that forwards to one exchange's labelled wallets and collects the sweeps of at least
--                 var deposit_consolidation_min_sources candidates behind it with matching sweeps, which bring at
--                 least var deposit_consolidation_min_share of what it received: the exchange's own wallet
-- One row per (chain, address), with the evidence. An address's transfers of all the build's tokens of its chain
-- are read together (a deposit address reused across tokens); the sweep checks hold for every token it swept.
-- Empty with var deposit_inference false (there are no candidates). A table: the classification reads it for every
-- model of the flows. The transfers are read once, for the candidates' own transfers, and every CTE derived from
-- them once (on Spark a CTE read twice is computed twice); the candidates, a table, are read three times.
-- Before it is rebuilt, its version of the last build is kept as int_exchange_addresses_inferred_previous, from which
-- an incremental run finds the transfers of earlier runs whose class it changes (macros/runs.sql).
{{ config(materialized='table', pre_hook="{{ cexflow.keep_previous_version(this) }}") }}
{%- set inference = var('deposit_inference') in [true, 'true', 'True', 1] %}
{%- set tolerance = var('deposit_amount_tolerance') %}

with candidates_found as (
    select * from {{ ref('int_deposit_address_candidates') }}
),

transfers as (
    select * from {{ ref('int_transfers_deduplicated') }}
),

labelled_wallets as (
    select chain, wallet_address, exchange
    from {{ ref('stg_labels__exchange_wallets_deduplicated') }}
    where address_kind = 'wallet'
),

candidates as (
    -- candidate_id: what the windows below sort by (macro address_row_key: on DuckDB a number, not two texts); the
    -- candidates are a table, so reading them three times below costs little
    select
        {{ cexflow.address_row_key('chain', 'address') }} as candidate_id,
        chain,
        address,
        exchange,
        forwarded_to,
        last_transfer_at
    from candidates_found
),

transfers_of_candidates as (
    -- the one scan of the transfers: those into or out of a candidate
    select
        transfers.chain,
        transfers.token_address,
        transfers.transferred_at,
        transfers.block_number,
        transfers.log_index,
        transfers.amount,
        receiving.candidate_id as receiving_candidate_id,
        sending.candidate_id as sending_candidate_id,
        -- as a receipt: from a wallet of the exchange it forwards to (a withdrawal sent back: never a deposit address)
        coalesce(own_wallets.exchange = receiving.exchange, false) as is_from_own_exchange,
        -- as a receipt: made more than the sweep time before the chain's last transfer
        {{ cexflow.epoch_seconds('receiving.last_transfer_at') }} - {{ cexflow.epoch_seconds('transfers.transferred_at') }}
            > {{ var('deposit_sweep_max_hours') }} * 3600 as is_overdue
    from transfers
    left join candidates as receiving
        on transfers.chain = receiving.chain
        and transfers.to_address = receiving.address
    left join candidates as sending
        on transfers.chain = sending.chain
        and transfers.from_address = sending.address
    left join labelled_wallets as own_wallets
        on transfers.chain = own_wallets.chain
        and transfers.from_address = own_wallets.wallet_address
    where (receiving.candidate_id is not null
        or sending.candidate_id is not null)
    {% if not inference %}
        -- no candidates: no scan
        and 1 = 0
    {% endif %}
),

directions as (
    select 'in' as direction
    union all
    select 'out' as direction
),

candidate_transfers as (
    -- each candidate's receipts and sends (is_sweep), every send a sweep: a transfer between two candidates is a
    -- send of one and a receipt of the other. Only what the windows below need: the candidate's key, not its
    -- address and exchange, which join back once the transfers are summed.
    select
        case when directions.direction = 'in' then transfers_of_candidates.receiving_candidate_id
            else transfers_of_candidates.sending_candidate_id end as candidate_id,
        transfers_of_candidates.token_address,
        directions.direction = 'out' as is_sweep,
        transfers_of_candidates.transferred_at,
        transfers_of_candidates.block_number,
        coalesce(transfers_of_candidates.log_index, -1) as log_index,
        transfers_of_candidates.amount,
        directions.direction = 'in' and transfers_of_candidates.is_from_own_exchange as is_from_own_exchange,
        directions.direction = 'in' and transfers_of_candidates.is_overdue as is_overdue
    from transfers_of_candidates
    inner join directions
        on (directions.direction = 'in' and transfers_of_candidates.receiving_candidate_id is not null)
        or (directions.direction = 'out' and transfers_of_candidates.sending_candidate_id is not null)
),

transfers_in_sweep_batches as (
    -- a sweep closes a batch: the receipts since the previous sweep (of the token) and the sweep itself have the
    -- batch's number, the count of the sweeps before them; receipts after the last sweep are a batch not swept yet.
    -- Rows that tie in this order are all receipts or all sweeps (is_sweep is in it), and in whichever order they
    -- come the batches' evidence is the same.
    select
        *,
        coalesce(sum(case when is_sweep then 1 else 0 end) over (
            partition by candidate_id, token_address
            order by transferred_at, block_number, log_index, is_sweep
            rows between unbounded preceding and 1 preceding
        ), 0) as sweep_batch
    from candidate_transfers
),

transfers_with_batch_receipts as (
    select
        *,
        -- in double: it only sorts dust out (an exact sum could pass DECIMAL(38,18))
        sum(case when not is_sweep then cast(amount as double) end) over (
            partition by candidate_id, token_address, sweep_batch
        ) as batch_received
    from transfers_in_sweep_batches
),

sweep_batches as (
    select
        candidate_id,
        token_address,
        sweep_batch,
        -- exact sums, NULL past DECIMAL(38,18) (then no check passes)
        {{ cexflow.decimal_in_range("sum(case when not is_sweep then amount else 0 end)") }} as received,
        {{ cexflow.decimal_in_range("sum(case when is_sweep then amount else 0 end)") }} as swept,
        {{ cexflow.decimal_in_range("sum(case when not is_sweep and is_overdue then amount else 0 end)") }}
            as received_overdue,
        sum(case when is_from_own_exchange then 1 else 0 end) as n_from_own_exchange,
        sum(case when is_sweep then 1 else 0 end) as n_sweeps,
        max(case when is_sweep then transferred_at end) as swept_at,
        -- the batch's oldest receipt that is not dust (more than the tolerance of the batch's receipts)
        min(case when not is_sweep and cast(amount as double) > {{ tolerance }} * batch_received
            then transferred_at end)
            as oldest_receipt_at
    from transfers_with_batch_receipts
    group by candidate_id, token_address, sweep_batch
),

token_evidence as (
    -- per candidate and token: what it received up to its last sweep, what it swept, the longest wait
    select
        candidate_id,
        token_address,
        {{ cexflow.decimal_in_range('sum(case when n_sweeps > 0 then received else 0 end)') }}
            as received_until_last_sweep,
        -- received after the last sweep and overdue: what it kept rather than forward
        {{ cexflow.decimal_in_range('sum(case when n_sweeps = 0 then received_overdue else 0 end)') }} as kept_overdue,
        sum(n_from_own_exchange) as n_from_own_exchange,
        {{ cexflow.decimal_in_range('sum(received)') }} as received,
        {{ cexflow.decimal_in_range('sum(swept)') }} as swept,
        sum(n_sweeps) as n_sweeps,
        min(swept_at) as first_sweep_at,
        max(swept_at) as last_sweep_at,
        max(case when n_sweeps > 0
            then {{ cexflow.epoch_seconds('swept_at') }} - {{ cexflow.epoch_seconds('oldest_receipt_at') }} end)
            as longest_sweep_seconds
    from sweep_batches
    group by candidate_id, token_address
),

token_evidence_checked as (
    select
        *,
        n_from_own_exchange = 0
        and (n_sweeps = 0
        or (received_until_last_sweep > 0
            -- the tolerance in double: an approximate test, where exactness buys nothing
            and cast(swept as double) >= (1 - {{ tolerance }}) * cast(received_until_last_sweep as double)
            and swept <= received_until_last_sweep
            and cast(kept_overdue as double) <= {{ tolerance }} * cast(received_until_last_sweep as double)
            and coalesce(longest_sweep_seconds, 0) <= {{ var('deposit_sweep_max_hours') }} * 3600))
            as sweeps_match
    from token_evidence
),

candidate_evidence as (
    -- per candidate, across the build's tokens of its chain: every token it swept passes
    select
        candidates.chain,
        candidates.address,
        candidates.exchange,
        candidates.forwarded_to,
        min(first_sweep_at) as first_sweep_at,
        max(last_sweep_at) as last_sweep_at,
        cast(sum(n_sweeps) as bigint) as n_sweeps,
        cast(count(case when n_sweeps > 0 then 1 end) as bigint) as n_tokens_swept,
        {{ cexflow.decimal_in_range('sum(received)') }} as amount_received,
        {{ cexflow.decimal_in_range('sum(swept)') }} as amount_swept,
        max(longest_sweep_seconds) as longest_sweep_seconds,
        min(case when sweeps_match then 1 else 0 end) = 1 as sweeps_match
    from token_evidence_checked
    inner join candidates
        on token_evidence_checked.candidate_id = candidates.candidate_id
    group by candidates.chain, candidates.address, candidates.exchange, candidates.forwarded_to
),

evidence_of_groups as (
    -- a forwarder to one exchange and the candidates behind it are a group (a consolidation wallet and its deposit
    -- addresses, if it is one): partitioned by the forwarder's address, each row gets the group's figures, the
    -- deposit-like candidates behind it (with matching sweeps) and what they brought it, and what the forwarder
    -- itself received
    select
        candidate_evidence.*,
        count(case when forwarded_to is not null and sweeps_match then 1 end) over (
            partition by chain, coalesce(forwarded_to, address)
        ) as n_sources,
        sum(case when forwarded_to is not null and sweeps_match then cast(amount_swept as double) end) over (
            partition by chain, coalesce(forwarded_to, address)
        ) as amount_from_sources,
        max(case when forwarded_to is null then cast(amount_received as double) end) over (
            partition by chain, coalesce(forwarded_to, address)
        ) as forwarder_received
    from candidate_evidence
),

classified_candidates as (
    select
        *,
        case
            when forwarded_to is null and is_consolidation_group then 'consolidation'
            when forwarded_to is null and sweeps_match then 'deposit'
            when forwarded_to is not null and is_consolidation_group and sweeps_match then 'deposit'
        end as inferred_kind
    from (
        select
            *,
            -- the group's forwarder is a consolidation wallet
            coalesce(n_sources >= {{ var('deposit_consolidation_min_sources') }}
                and amount_from_sources >= {{ var('deposit_consolidation_min_share') }} * forwarder_received, false)
                as is_consolidation_group
        from evidence_of_groups
    ) as groups_checked
),

final as (
    select
        chain,
        address,
        exchange,
        case when inferred_kind = 'consolidation' then 'wallet' else 'deposit' end as address_kind,
        case when inferred_kind = 'consolidation' then 'inferred consolidation wallet' else 'inferred' end
            as label_source,
        forwarded_to as consolidation_wallet_address,
        first_sweep_at,
        last_sweep_at,
        n_sweeps,
        n_tokens_swept,
        amount_received,
        amount_swept,
        cast(longest_sweep_seconds as double) / 3600 as longest_sweep_hours,
        cast(case when inferred_kind = 'consolidation' then n_sources end as bigint) as n_deposit_addresses_swept_in
    from classified_candidates
    where inferred_kind is not null
)

select * from final
