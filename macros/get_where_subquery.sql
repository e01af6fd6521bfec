{#-
    The relation a generic data test checks (dbt's own get_where_subquery, overridden by the project). With
    var data_tests_rows = 'this_run' (cexflow build without --full-check), the tests of an incremental model
    whose config names the column of the run that wrote a row (meta rows_of_a_run, e.g. loaded_in_run) check
    the rows this run wrote, not the whole table again: an appended day costs its own rows' checks. Rows of
    earlier runs were checked by the run that wrote them; the incremental strategies keep keys unique across
    runs (append reads only files not loaded yet; delete+insert replaces a key's rows). With 'all' (the
    default, `cexflow build --full-check`, and plain dbt) every test reads the whole table. A test's own
    `where` config applies as in dbt. A model rewritten by whole days instead (meta days_of_a_run, its day column:
    fct_flow_legs) has the tests of an incremental run check the days the run rewrote (days_rewritten_by_this_run,
    as constants: on Spark those days' partitions).
-#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- set run_column = cexflow.rows_of_a_run_column(relation) -%}
    {%- if run_column and var('data_tests_rows', 'all') == 'this_run' -%}
        {%- do conditions.append(adapter.quote(run_column) ~ " = '" ~ invocation_id ~ "'") -%}
    {%- endif -%}
    {%- set day_column = cexflow.model_meta(relation, 'days_of_a_run') -%}
    {%- if day_column and var('data_tests_rows', 'all') == 'this_run' -%}
        {#- the models it reads, by name (a generic test refs only its model): the tested model's inputs -#}
        {%- set days = cexflow.days_rewritten_by_this_run(cexflow.model_relation('stg_transfers__rows_validated'),
                                                          cexflow.model_relation('int_transfers_reclassified')) -%}
        {%- if days is not none -%}
            {%- do conditions.append(cexflow.is_one_of_days(adapter.quote(day_column), days)) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The column (meta rows_of_a_run) that names the run that wrote each row of the model behind `relation`, or
    none. -#}
{% macro rows_of_a_run_column(relation) %}
    {{ return(cexflow.model_meta(relation, 'rows_of_a_run')) }}
{% endmacro %}

{#- The value of `key` in the config meta of the model behind `relation`, or none. -#}
{% macro model_meta(relation, key) %}
    {% if not execute or relation is none or relation is string %}{{ return(none) }}{% endif %}
    {% for node in graph.nodes.values() if node.resource_type == 'model' and node.alias == relation.identifier %}
        {{ return(node.config.meta.get(key)) }}
    {% endfor %}
    {{ return(none) }}
{% endmacro %}

{#- The relation of the model `name`, from dbt's graph, for a macro that reads a model its caller does not ref;
    none outside execution. -#}
{% macro model_relation(name) %}
    {% if not execute %}{{ return(none) }}{% endif %}
    {% for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name %}
        {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
    {% endfor %}
    {{ return(none) }}
{% endmacro %}
