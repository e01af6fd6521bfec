{#-
    dbt-spark checks a model's incremental strategy before it runs anything and knows append, merge,
    insert_overwrite and microbatch. The project's incremental models use delete+insert (DuckDB). A
    delete+insert has no equivalent on Spark's parquet tables (no row-level delete), so on Spark such a model
    is only built whole: on its first run or with --full-refresh, which `cexflow build --target spark` always
    passes; then dbt-spark creates the table from the model's full query and runs no strategy at all. An
    incremental run of such a model on Spark stops with this explanation instead of dbt-spark's generic error.
    docs/scale.md describes the Spark strategies that would fit each model (insert_overwrite of flow_date
    partitions for the day-keyed ones, merge on Delta or Iceberg for the transfer-keyed ones).

    This overrides dbt-spark's macro of the same name (a root-project macro takes precedence); the other
    strategies are checked exactly as dbt-spark 1.11 does.
-#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'delete+insert' -%}
        {%- if should_full_refresh() or load_relation(this) is none -%}
            {#- never used: a model built whole runs no strategy -#}
            {% do return('append') %}
        {%- endif -%}
        {% do exceptions.raise_compiler_error(
            "Model " ~ this ~ " uses incremental_strategy 'delete+insert', which Spark tables cannot run: "
            ~ "build it whole with --full-refresh (cexflow build --target spark does), or give it a Spark "
            ~ "strategy (insert_overwrite by partition, or merge with file_format delta or iceberg)") %}
    {%- endif -%}

    {%- if raw_strategy not in ['append', 'merge', 'insert_overwrite', 'microbatch'] -%}
        {% do exceptions.raise_compiler_error(
            "Invalid incremental strategy provided: " ~ raw_strategy
            ~ "; expected one of: 'append', 'merge', 'insert_overwrite', 'microbatch'") %}
    {%- endif -%}
    {%- if raw_strategy == 'merge' and file_format not in ['delta', 'iceberg', 'hudi'] -%}
        {% do exceptions.raise_compiler_error(
            "Invalid incremental strategy provided: merge; you can only choose this strategy when "
            ~ "file_format is set to 'delta' or 'iceberg' or 'hudi'") %}
    {%- endif -%}
    {%- if raw_strategy in ['insert_overwrite', 'microbatch'] and target.endpoint -%}
        {% do exceptions.raise_compiler_error(
            "Invalid incremental strategy provided: " ~ raw_strategy ~ "; you cannot use this strategy when "
            ~ "connecting via endpoint; use the 'append' or 'merge' strategy instead") %}
    {%- endif -%}
    {% do return(raw_strategy) %}
{% endmacro %}
