{#- What a run changes, for the incremental models: the transfers its new input rows carry, and the days any
    row of those transfers falls on (where each was kept before the run and where it is kept after it). -#}

{% macro transfer_ids_of_this_run() %}
    select transfer_id from {{ ref('int_transfer_rows_validated') }}
    where loaded_in_run = '{{ invocation_id }}' and transfer_id is not null
{% endmacro %}

{% macro flow_dates_of_this_run() %}
    select distinct cast(transferred_at as date) as flow_date
    from {{ ref('int_transfer_rows_validated') }}
    where transfer_id in ({{ cexflow.transfer_ids_of_this_run() }})
{% endmacro %}

{#- The files of earlier runs from whose rows a transfer of this run's rows is kept (int_transfer_duplicates:
    a new file repeats a transfer that an earlier file sorting before it holds), at execution time. -#}
{% macro earlier_files_keeping_transfers_of_this_run() %}
    {% if not execute %}{{ return([]) }}{% endif %}
    {% set sql %}
        select distinct kept_source_file
        from {{ ref('int_transfer_duplicates') }}
        where transfer_id in ({{ cexflow.transfer_ids_of_this_run() }})
            and kept_source_file not in (
                select source_file from {{ ref('int_transfer_rows_validated') }}
                where loaded_in_run = '{{ invocation_id }}'
            )
        order by 1
    {% endset %}
    {{ return(run_query(sql).columns[0].values() | list) }}
{% endmacro %}
