-- Nothing is lost: every input row is a kept transfer, a duplicate, a rejected row or a row of another
-- token, per file; and the kept transfers are exactly the rows of int_transfers_deduplicated. Returns failing files.
with reconciliation as (
    select * from {{ ref('rpt_input_reconciliation') }}
),

per_file_mismatch as (
    select source_file, 'rows_read <> kept + duplicates + rejected + other token' as problem
    from reconciliation
    where rows_read <> transfers_kept + duplicate_rows + rejected_rows + other_token_rows
        or duplicate_rows < 0
),

totals_mismatch as (
    select 'all files' as source_file, 'transfers_kept does not match int_transfers_deduplicated' as problem
    from (select sum(transfers_kept) as kept from reconciliation) as r
    cross join (select count(*) as n, sum(n_source_rows) as usable from {{ ref('int_transfers_deduplicated') }}) as t
    where coalesce(r.kept, 0) <> t.n
        or coalesce((select sum(transfers_kept + duplicate_rows) from reconciliation), 0) <> coalesce(t.usable, 0)
),

rows_mismatch as (
    select 'all files' as source_file, 'rows_read does not match stg_transfers__rows_validated' as problem
    from (select sum(rows_read) as n from reconciliation) as r
    cross join (select count(*) as n from {{ ref('stg_transfers__rows_validated') }}) as t
    where coalesce(r.n, 0) <> t.n
)

select * from per_file_mismatch
union all
select * from totals_mismatch
union all
select * from rows_mismatch
