{#- What a run changes, for the incremental models: the transfers its new input rows carry, their rows (new
    and earlier), and the days any row of those transfers falls on (where each was kept before the run and
    where it is kept after it). Join to these rather than filter with IN (subquery): DuckDB may build its hash
    table of an IN on the stored rows instead of on the few of this run (out of memory at 3.2 million rows),
    and a join lets it skip the row groups that hold none of them. The relations are the model's to name:
    `transfer_rows` is stg_transfers__rows_validated (the stored input rows, with loaded_in_run). -#}

{% macro transfer_ids_of_this_run(transfer_rows) %}
    select distinct transfer_id from {{ transfer_rows }}
    where loaded_in_run = '{{ invocation_id }}' and transfer_id is not null
{% endmacro %}

{% macro rows_of_transfers_of_this_run(transfer_rows) %}
    select transfer_rows.*
    from ({{ cexflow.transfer_ids_of_this_run(transfer_rows) }}) as transfers_of_this_run
    inner join {{ transfer_rows }} as transfer_rows
        on transfer_rows.transfer_id = transfers_of_this_run.transfer_id
{% endmacro %}

{% macro flow_dates_of_this_run(transfer_rows) %}
    select distinct cast(transferred_at as date) as flow_date
    from ({{ cexflow.rows_of_transfers_of_this_run(transfer_rows) }}) as rows_of_this_run
{% endmacro %}

{#- The files of earlier runs from whose rows a transfer of this run's rows is kept (`duplicates`,
    int_transfer_duplicates: a new file repeats a transfer that an earlier file sorting before it holds), at
    execution time. -#}
{% macro earlier_files_keeping_transfers_of_this_run(transfer_rows, duplicates) %}
    {% if not execute %}{{ return([]) }}{% endif %}
    {% set sql %}
        select distinct duplicates.kept_source_file
        from ({{ cexflow.transfer_ids_of_this_run(transfer_rows) }}) as transfers_of_this_run
        inner join {{ duplicates }} as duplicates
            on duplicates.transfer_id = transfers_of_this_run.transfer_id
        where duplicates.kept_source_file not in (
            select distinct source_file from {{ transfer_rows }}
            where loaded_in_run = '{{ invocation_id }}'
        )
        order by 1
    {% endset %}
    {{ return(run_query(sql).columns[0].values() | list) }}
{% endmacro %}

{#- Whether the models are being run (dbt run or build), so that a macro may query the database for what the run
    needs: dbt compile and dbt docs generate also execute, against tables an earlier step of a run makes
    (the inferred addresses' _previous copy), which need not exist then; and a unit test (in dbt build too)
    reads its given rows, not the tables. -#}
{% macro models_run_now() %}
    {{ return(execute and flags.WHICH in ('run', 'build') and model.resource_type != 'unit_test') }}
{% endmacro %}

{#- The days an incremental model by flow_date recomputes, as a query of one column flow_date: the days of this
    run's transfers, and with `reclassified` (reclassified_transfers) the days of those transfers.
    DuckDB, whose models replace keys (delete+insert) and whose stored rows are not partitioned: the days of
    every row, new or earlier, of the transfers this run's rows carry (flow_dates_of_this_run). Spark, whose
    stored rows and day models are partitioned by flow_date: the days of this run's own rows. A transfer is one
    transaction with one block time, so its earlier rows are on those days too, and the run reads no other
    day's stored rows (finding them by transfer_id would read the keys of every stored row); the one case this
    leaves as it was is a transfer listed again with a different time, a corrupt export (docs/scale.md). -#}
{% macro days_of_this_run_sql(transfer_rows, reclassified=none) %}
    {{ return(adapter.dispatch('days_of_this_run_sql', 'cexflow')(transfer_rows, reclassified)) }}
{% endmacro %}

{% macro default__days_of_this_run_sql(transfer_rows, reclassified) %}
    {{ cexflow.flow_dates_of_this_run(transfer_rows) }}
    {% if reclassified %}
    union
    select flow_date from ({{ reclassified }}) as reclassified_transfers
    {% endif %}
{% endmacro %}

{% macro spark__days_of_this_run_sql(transfer_rows, reclassified) %}
    select distinct flow_date from {{ transfer_rows }}
    where loaded_in_run = '{{ invocation_id }}' and transfer_id is not null
    {% if reclassified %}
    union
    select flow_date from ({{ reclassified }}) as reclassified_transfers
    {% endif %}
{% endmacro %}

{#- Whether this dbt run or build adds to rows that earlier runs stored (`transfer_rows`,
    stg_transfers__rows_validated, holds a row of another run), for a data test or a table model
    (int_transfers_reclassified), in which is_incremental() is false; read when the run's models and tests run
    (models_run_now), false otherwise (dbt compile, docs generate). The first such row ends the scan. -#}
{% macro is_incremental_run(transfer_rows) %}
    {% if not cexflow.models_run_now() %}{{ return(false) }}{% endif %}
    {% set earlier = run_query('select 1 from ' ~ transfer_rows ~ " where loaded_in_run <> '" ~ invocation_id
                               ~ "' limit 1") %}
    {{ return(earlier.rows | length > 0) }}
{% endmacro %}

{#- For the data tests of an incremental run with var data_tests_rows 'this_run' (cexflow build without
    --full-check): the days the models by flow_date rewrote, as a sorted list, computed as they computed them
    (days_of_this_run, with the transfers the run reclassified), from the same tables, which the tested models
    read, so they are written when the tests run; none otherwise or past max_days of them (the Hive metastore
    may fail to filter by more), when a test reads every day. Rows of other days were checked by the runs that
    wrote them. The relations are the caller's: `transfer_rows` stg_transfers__rows_validated, `reclassified`
    int_transfers_reclassified. -#}
{% macro days_rewritten_by_this_run(transfer_rows, reclassified, max_days=100) %}
    {% if var('data_tests_rows', 'all') != 'this_run' or not cexflow.is_incremental_run(transfer_rows) %}
        {{ return(none) }}
    {% endif %}
    {% set days = cexflow.days_of_this_run(transfer_rows, cexflow.reclassified_transfers(reclassified)) %}
    {{ return(days if days | length <= max_days else none) }}
{% endmacro %}

{#- The same days, read when the model runs (dbt run or build), as a sorted list (otherwise none). -#}
{% macro days_of_this_run(transfer_rows, reclassified=none) %}
    {% if not cexflow.models_run_now() %}{{ return([]) }}{% endif %}
    {% set sql = 'select distinct flow_date from (' ~ cexflow.days_of_this_run_sql(transfer_rows, reclassified)
                 ~ ') as days where flow_date is not null order by 1' %}
    {{ return(run_query(sql).columns[0].values() | list) }}
{% endmacro %}

{#- A condition: the date `column` is one of `days` (a list of dates), as constants, which lets a scan skip the
    row groups (DuckDB) or partitions (Spark) of other days; FALSE for no day. -#}
{% macro is_one_of_days(column, days) -%}
    {%- if days %}{{ column }} in (
        {%- for day in days %}cast('{{ day }}' as date){{ ', ' if not loop.last }}{% endfor -%}
    ){% else %}1 = 0{% endif -%}
{%- endmacro %}

{#- The rows of `relation` (a table or view with a flow_date: int_flow_legs, int_transfers_deduplicated) that an
    incremental model by flow_date recomputes: on an incremental run, those of the days this run's transfers fall
    on (days_of_this_run); otherwise all. The days are read when the model runs and given as constants, which lets
    the scan of the transfers skip the row groups of other days (a join with the days' query scans them all: 0.6 s
    of 3.2 million rows, for each model, against none); on DuckDB more than max_listed_days of them are joined
    instead (on Spark they are always listed: they prune the partitions of the stored rows). `reclassified`:
    reclassified_transfers, or none. The days are read only when the model runs (dbt run or build):
    `dbt compile` and `dbt docs generate` compile it against the database as it is, where the tables the run's
    earlier models make need not exist yet; they get the join. -#}
{% macro rows_of_days_of_this_run(relation, transfer_rows, reclassified=none, max_listed_days=400) %}
{% if is_incremental() %}
{% set running = cexflow.models_run_now() %}
{% set days = cexflow.days_of_this_run(transfer_rows, reclassified) %}
{% if running and (days | length <= max_listed_days or target.type == 'spark') %}
select rows_of_days.*
from {{ relation }} as rows_of_days
where {{ cexflow.is_one_of_days('rows_of_days.flow_date', days) }}
{% else %}
select rows_of_days.*
from {{ relation }} as rows_of_days
inner join ({{ cexflow.days_of_this_run_sql(transfer_rows, reclassified) }}) as days_of_this_run
    on rows_of_days.flow_date = days_of_this_run.flow_date
{% endif %}
{% else %}
select * from {{ relation }}
{% endif %}
{% endmacro %}

{#- The legs (`flow_legs`, int_flow_legs) that an incremental model by flow_date recomputes
    (rows_of_days_of_this_run). -#}
{% macro flow_legs_of_this_run(flow_legs, transfer_rows, reclassified=none, max_listed_days=400) %}
{{ cexflow.rows_of_days_of_this_run(flow_legs, transfer_rows, reclassified, max_listed_days) }}
{% endmacro %}

{#- With deposit inference, a run's new transfers can change which addresses are deposit addresses or consolidation
    wallets (int_exchange_addresses_inferred), and so the class of transfers of earlier runs. The inferred table
    keeps its version of before the run as <name>_previous (keep_previous_version, its pre-hook); the transfers
    (`transfers`, int_transfers_deduplicated) of an address whose exchange or kind differs between the two are
    reclassified by the run (int_transfers_reclassified), and the incremental models rewrite them and their days.
    Labels, settings and code are the same (else cexflow build rebuilds in full), so no other transfer changes
    class. -#}
{% macro keep_previous_version(relation) %}
    {% if execute %}
        {% set previous = relation.incorporate(path={'identifier': relation.identifier ~ '_previous'}) %}
        {#- Spark: a parquet table, as the models' (a CTAS without USING would be a Hive text table) -#}
        {% set create = 'create table ' ~ previous ~ (' using parquet' if target.type == 'spark' else '') ~ ' as ' %}
        {% do run_query('drop table if exists ' ~ previous) %}
        {#- a first build has none: nothing reads it before an incremental run, which follows a build -#}
        {% if load_relation(relation) is not none %}
            {% do run_query(create ~ 'select chain, address, exchange, address_kind from ' ~ relation) %}
        {% endif %}
    {% endif %}
    select 1
{% endmacro %}

{#- The query of the transfers this run reclassified, for int_transfers_reclassified on an incremental run; none
    when no address changed (read from the two small tables when the model runs; dbt compile and docs generate,
    where the _previous table need not exist, get the query), so that the transfers are not scanned. -#}
{% macro transfers_reclassified_by_this_run(transfers, inferred) %}
    {%- set previous = inferred.incorporate(path={'identifier': inferred.identifier ~ '_previous'}) %}
    {%- if cexflow.models_run_now() %}
        {%- set changed = run_query('select count(*) from ('
                                    ~ cexflow.addresses_reclassified_by_this_run(inferred, previous)
                                    ~ ') as changed_addresses') %}
        {%- if changed.columns[0].values()[0] == 0 %}{{ return(none) }}{% endif %}
    {%- endif %}
    select transfers.transfer_id, transfers.flow_date
    from {{ transfers }} as transfers
    inner join ({{ cexflow.addresses_reclassified_by_this_run(inferred, previous) }}) as changed
        on transfers.chain = changed.chain
        and transfers.to_address = changed.address
    union
    select transfers.transfer_id, transfers.flow_date
    from {{ transfers }} as transfers
    inner join ({{ cexflow.addresses_reclassified_by_this_run(inferred, previous) }}) as changed
        on transfers.chain = changed.chain
        and transfers.from_address = changed.address
{% endmacro %}

{#- The transfers this run reclassified, as a query of (transfer_id, flow_date) on `reclassified`
    (ref('int_transfers_reclassified'), passed by the caller), for the incremental models, their pre-hook and
    their data tests; none with deposit inference off, or when the table is empty (read when the models run). -#}
{% macro reclassified_transfers(reclassified) %}
    {%- if var('deposit_inference') not in [true, 'true', 'True', 1] %}{{ return(none) }}{% endif %}
    {%- if cexflow.models_run_now()
          and run_query('select count(*) from ' ~ reclassified).columns[0].values()[0] == 0 %}
        {{ return(none) }}
    {%- endif %}
    {{ return('select transfer_id, flow_date from ' ~ reclassified) }}
{% endmacro %}

{#- The pre-hook of the incremental models that rewrite the transfers this run reclassified and their days
    (fct_exchange_transfers, int_daily_flows, int_daily_counterparty_stats, fct_flow_legs): it removes their
    stored rows first. The insert of delete+insert, and of insert_overwrite, replaces only the keys or days the
    run writes, while a reclassified transfer may touch no exchange any more (an address ruled out), and a day
    may lose all its rows: those would stay. DuckDB deletes the reclassified transfers (unique key transfer_id)
    or their days (unique key flow_date), in the transaction of the insert; Spark drops the partitions of
    their days, and the insert writes them again (a failed build on Spark is followed by a full one,
    cexflow.build). `reclassified_table`: ref('int_transfers_reclassified'), passed by the model's hook. -#}
{% macro remove_rows_of_reclassified_transfers(reclassified_table) %}
    {%- if is_incremental() and cexflow.models_run_now() %}
        {%- set reclassified = cexflow.reclassified_transfers(reclassified_table) %}
        {%- if reclassified and config.get('incremental_strategy') == 'insert_overwrite' %}
            {#- one statement per 100 days: each is a call to the metastore -#}
            {%- for days in cexflow.listed_days(reclassified_table, max_days=none) | batch(100) %}
                {%- set partitions = [] %}
                {%- for day in days %}{% do partitions.append("partition (flow_date = '" ~ day ~ "')") %}{% endfor %}
                {%- do run_query('alter table ' ~ this ~ ' drop if exists ' ~ partitions | join(', ')) %}
            {%- endfor %}
        {%- elif reclassified %}
            {%- set key = 'transfer_id' if config.get('unique_key') == 'transfer_id' else 'flow_date' %}
            delete from {{ this }}
            using (select distinct {{ key }} from ({{ reclassified }}) as reclassified_transfers) as reclassified_keys
            where {{ this.identifier }}.{{ key }} = reclassified_keys.{{ key }}
        {%- endif %}
    {%- endif %}
{% endmacro %}

{% macro addresses_reclassified_by_this_run(inferred, previous) %}
    select distinct chain, address
    from (
        select chain, address, exchange, address_kind from {{ inferred }}
        union all
        select chain, address, exchange, address_kind from {{ previous }}
    ) as both_versions
    group by chain, address, exchange, address_kind
    having count(*) = 1
{% endmacro %}

{#- The distinct values of the date `column` of `relation` (a small table), read when the model runs (dbt run or
    build), as a sorted list; none otherwise (dbt compile, docs generate, a unit test), or when there are more
    than max_days of them (max_days none: no limit): the caller then joins instead of listing them. -#}
{% macro listed_days(relation, column='flow_date', max_days=1000) %}
    {% if not cexflow.models_run_now() %}{{ return(none) }}{% endif %}
    {% set days = run_query('select distinct ' ~ column ~ ' from ' ~ relation ~ ' where ' ~ column
                            ~ ' is not null order by 1').columns[0].values() | list %}
    {{ return(days if max_days is none or days | length <= max_days else none) }}
{% endmacro %}
