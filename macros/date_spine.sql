{#-
    date_spine(start_date_expr, end_date_expr): one row per calendar day, `calendar_date`, from the
    start to the end date inclusive. Both arguments are SQL expressions (e.g. scalar subqueries).
-#}
{% macro date_spine(start_date_expr, end_date_expr) %}
    {{ return(adapter.dispatch('date_spine', 'cexflow')(start_date_expr, end_date_expr)) }}
{% endmacro %}

{% macro duckdb__date_spine(start_date_expr, end_date_expr) %}
    select cast(day_start as date) as calendar_date
    from generate_series(
        cast(({{ start_date_expr }}) as timestamp),
        cast(({{ end_date_expr }}) as timestamp),
        interval 1 day
    ) as spine(day_start)
{% endmacro %}
