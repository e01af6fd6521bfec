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

{#- The legs (`flow_legs`, int_flow_legs) that an incremental model by flow_date recomputes: on an incremental
    run, those of the days this run's transfers fall on; otherwise all. The days are read when the model runs
    and given as constants, which lets the scan of the transfers skip the row groups of other days (a join
    with the days' query scans them all: 0.6 s of 3.2 million rows, for each model, against none); more than
    max_listed_days of them are joined instead. `reclassified` (transfers_reclassified_by_this_run, or none):
    transfers of earlier runs whose class this run changed, whose days are recomputed too. The days are read only
    when the model runs (dbt run or build): `dbt compile` and `dbt docs generate` compile it against the
    database as it is, where the tables the run's earlier models and pre-hooks make (reclassified's
    <inferred>_previous, none after a first build) need not exist; they get the join. -#}
{% macro flow_legs_of_this_run(flow_legs, transfer_rows, reclassified=none, max_listed_days=400) %}
{% if is_incremental() %}
{% set days_sql = cexflow.flow_dates_of_this_run(transfer_rows) ~ (
    ' union select flow_date from (' ~ reclassified ~ ') as reclassified_transfers' if reclassified else '') %}
{% set running = execute and flags.WHICH in ('run', 'build') %}
{% set days = run_query('select distinct flow_date from (' ~ days_sql ~ ') as days order by 1').columns[0].values() | list if running else [] %}
{% if running and days | length <= max_listed_days %}
select flow_legs.*
from {{ flow_legs }} as flow_legs
where {% if days %}flow_legs.flow_date in (
    {%- for day in days %}cast('{{ day }}' as date){{ ', ' if not loop.last }}{% endfor -%}
){% else %}1 = 0{% endif %}
{% else %}
select flow_legs.*
from {{ flow_legs }} as flow_legs
inner join ({{ days_sql }}) as days_of_this_run
    on flow_legs.flow_date = days_of_this_run.flow_date
{% endif %}
{% else %}
select * from {{ flow_legs }}
{% endif %}
{% endmacro %}

{#- With deposit inference, a run's new transfers can change which addresses are deposit addresses or consolidation
    wallets (int_exchange_addresses_inferred), and so the class of transfers of earlier runs. The inferred table
    keeps its version of before the run as <name>_previous (keep_previous_version, its pre-hook); the transfers
    (`transfers`, int_transfers_deduplicated) of an address whose exchange or kind differs between the two are
    reclassified by the run, and the incremental models rewrite them and their days. Labels, settings and code
    are the same (else cexflow build rebuilds in full), so no other transfer changes class. -#}
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

{% macro transfers_reclassified_by_this_run(transfers, inferred) %}
    {%- set previous = inferred.incorporate(path={'identifier': inferred.identifier ~ '_previous'}) %}
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
