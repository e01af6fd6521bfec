-- The labelled exchange wallets of the build's chain: one row per address.
-- From seeds/exchange_wallets.csv, or from the label files of var `labels_files` (cexflow build --labels):
-- CSVs with at least address and exchange; wallet or name_tag names the wallet (else the address does);
-- chain defaults to ethereum.
{% set labels_files = var('labels_files', []) %}

with labels as (
    {% if labels_files | length > 0 %}
        select
            coalesce(nullif(trim(chain), ''), 'ethereum') as chain,
            address,
            exchange,
            coalesce(nullif(trim(wallet), ''), nullif(trim(name_tag), '')) as wallet,
            'labels file ' || source_file as label_source,
            source_file,
            line_number
        from {{ cexflow.read_csv_rows(labels_files, ['chain', 'address', 'exchange', 'wallet', 'name_tag']) }}
            as label_rows
    {% else %}
        select
            chain,
            address,
            exchange,
            wallet,
            label_source,
            'seeds/exchange_wallets.csv' as source_file,
            cast(null as bigint) as line_number
        from {{ ref('exchange_wallets') }}
    {% endif %}
),

normalized as (
    select
        lower(trim(chain)) as chain,
        lower(trim(address)) as wallet_address,
        lower(trim(exchange)) as exchange,
        coalesce(nullif(trim(wallet), ''), lower(trim(address))) as wallet,
        label_source
    from labels
    where lower(trim(chain)) = '{{ var("chain") }}'
        and {{ cexflow.is_hex_address('address') }}
        and nullif(trim(exchange), '') is not null
),

one_row_per_address as (
    -- a label file may list an address twice: keep the first wallet name in sort order
    select
        chain,
        wallet_address,
        min(exchange) as exchange,
        min(wallet) as wallet,
        min(label_source) as label_source
    from normalized
    group by chain, wallet_address
)

select * from one_row_per_address
