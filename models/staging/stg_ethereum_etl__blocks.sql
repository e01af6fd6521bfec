-- ethereum-etl blocks.csv: the time of each block, for token_transfers files without block_timestamp.
with source_rows as (
    {{ cexflow.read_csv_rows(var('ethereum_etl_blocks_files'), ['number', 'timestamp']) }}
),

typed as (
    select
        try_cast(trim(number) as bigint) as block_number,
        {{ cexflow.epoch_text_to_timestamp('timestamp') }} as block_at,
        timestamp as raw_block_timestamp
    from source_rows
),

one_row_per_block as (
    -- several blocks files may list a block; its time is the same in each
    select block_number, min(block_at) as block_at, min(raw_block_timestamp) as raw_block_timestamp
    from typed
    where block_number is not null
    group by block_number
)

select * from one_row_per_block
