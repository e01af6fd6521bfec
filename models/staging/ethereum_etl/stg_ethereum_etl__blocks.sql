-- ethereum-etl blocks.csv (number,timestamp) of var ethereum_etl_blocks_files (stg_cryo__blocks: the .parquet ones): the time of each block, for
-- token_transfers files without block_timestamp. One row per data row of the files, typed.
with source_rows as (
    {{ cexflow.read_csv_rows(cexflow.blocks_files('csv'), ['number', 'timestamp'], number_lines_in_scan=true) }}
),

typed as (
    select
        try_cast(trim(number) as bigint) as block_number,
        {{ cexflow.epoch_text_to_timestamp('timestamp') }} as block_at,
        timestamp as raw_block_timestamp,
        source_file,
        line_number
    from source_rows
)

select * from typed
