-- The time of each block of the blocks files (ethereum-etl blocks.csv and cryo blocks Parquet): one row per
-- block number. Several blocks files may list a block; its time is the same in each.
with ethereum_etl_blocks as (
    select * from {{ ref('stg_ethereum_etl__blocks') }}
),

cryo_blocks as (
    select * from {{ ref('stg_cryo__blocks') }}
),

blocks as (
    select * from ethereum_etl_blocks
    union all
    select * from cryo_blocks
),

one_row_per_block as (
    select block_number, min(block_at) as block_at, min(raw_block_timestamp) as raw_block_timestamp
    from blocks
    where block_number is not null
    group by block_number
)

select * from one_row_per_block
