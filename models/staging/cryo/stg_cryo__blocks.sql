-- cryo blocks Parquet files (block_number, timestamp) of var ethereum_etl_blocks_files (the .parquet ones): the
-- time of each block, for transfer rows without block_timestamp. One row per row of the files, typed as
-- stg_ethereum_etl__blocks types the CSV blocks files.
with source_rows as (
    {{ cexflow.read_parquet_rows(cexflow.blocks_files('parquet'), ['block_number', 'timestamp']) }}
),

typed as (
    select
        try_cast(trim(block_number) as bigint) as block_number,
        {{ cexflow.epoch_text_to_timestamp('timestamp') }} as block_at,
        timestamp as raw_block_timestamp,
        source_file,
        line_number
    from source_rows
)

select * from typed
