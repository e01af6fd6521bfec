-- Exchange wallet labels: seeds/exchange_wallets.csv, or the label files of var labels_files (cexflow build
-- --labels: CSVs with at least address and exchange; wallet or name_tag names the wallet; chain defaults to
-- ethereum; an optional kind: wallet, the default, or deposit, a deposit address of the exchange taken as given).
-- One row per label row, trimmed and in lower case (raw_address as written);
-- stg_labels__exchange_wallets_deduplicated keeps one row per address of the build's chain.
{% set labels_files = var('labels_files', []) %}

with labels as (
    {% if labels_files | length > 0 %}
        select
            coalesce(nullif(trim(chain), ''), 'ethereum') as chain,
            address,
            exchange,
            coalesce(nullif(trim(wallet), ''), nullif(trim(name_tag), '')) as wallet,
            kind,
            'labels file ' || source_file as label_source,
            source_file,
            line_number
        from {{ cexflow.read_csv_rows(labels_files, ['chain', 'address', 'exchange', 'wallet', 'name_tag', 'kind'],
                                      number_lines_in_scan=true) }}
            as label_rows
    {% else %}
        select
            chain,
            address,
            exchange,
            wallet,
            'wallet' as kind,
            label_source,
            'seeds/exchange_wallets.csv' as source_file,
            cast(null as bigint) as line_number
        from {{ ref('exchange_wallets') }}
    {% endif %}
),

renamed as (
    select
        lower(trim(chain)) as chain,
        address as raw_address,
        lower(trim(address)) as wallet_address,
        lower(trim(exchange)) as exchange,
        nullif(trim(wallet), '') as wallet,
        coalesce(nullif(lower(trim(kind)), ''), 'wallet') as address_kind,
        label_source,
        source_file,
        line_number
    from labels
)

select * from renamed
