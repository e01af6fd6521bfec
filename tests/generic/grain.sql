{#- Fails with the key values that occur more than once: the model has one row per `columns`. -#}
{% test grain(model, columns) %}
    select
        {{ columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
