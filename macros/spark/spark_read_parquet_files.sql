{#- Spark's side of macros/read_parquet_files.sql (Parquet inputs). -#}

{% macro spark__parquet_describe_sql(path) %}
    describe query select * from parquet.`{{ path | replace("`", "``") }}`
{% endmacro %}

{% macro spark__parquet_scan(path) -%}
    parquet.`{{ path | replace("`", "``") }}`
{%- endmacro %}

{% macro spark__parquet_row_index() %}{{ return('_metadata.row_index') }}{% endmacro %}

{% macro spark__timestamp_to_epoch(column) %}{{ return('unix_timestamp(' ~ column ~ ')') }}{% endmacro %}

{% macro spark__hex_word_to_int(expr) %}{{ return("cast(conv(" ~ expr ~ ", 16, 10) as bigint)") }}{% endmacro %}

{% macro spark__int_divide(numerator, denominator) %}{{ return('(' ~ numerator ~ ' div ' ~ denominator ~ ')') }}{% endmacro %}
