{#-
    usd_value(amount_expr, price_expr): amount x price as an exact DECIMAL(38,18), rounded half up at the 18th
    decimal place; NULL when either is NULL or when the product is 10^20 or more (it does not fit DECIMAL(38,18)).
    The amount is a token amount >= 0 (DECIMAL(38,18), below 10^20); the price a price_usd of
    stg_prices__daily_validated (> 0, below 10^18, at most 18 decimals).

    DECIMAL(38,18) x DECIMAL(38,18) needs 36 decimals and overflows DECIMAL(38) on both engines, so each side is
    split into its whole part and its fraction, a = A + f and p = P + g, and the four products are each exact in
    their own type on DuckDB and on Spark (allowPrecisionLoss=false):
        A x P  DECIMAL(20,0) x DECIMAL(18,0)    a whole number below 10^38
        A x g  DECIMAL(20,0) x DECIMAL(18,18)   below 10^20, 18 decimals
        f x P  DECIMAL(18,18) x DECIMAL(18,0)   below 10^18, 18 decimals
        f x g  DECIMAL(18,18) x DECIMAL(18,18)  below 1, 36 decimals: the one rounding, half up to 18 places
                                                 by the cast (both engines round a decimal cast half up)
    The whole parts are added as DECIMAL(38,0) and the fractions (below 3) as DECIMAL(38,18), so no sum passes
    its type; the result is their sum when the whole part stays below 10^20. The guard is inside the casts too,
    so that neither engine casts an out-of-range value (DuckDB would fail, not give NULL).
-#}
{% macro usd_value(amount_expr, price_expr) %}
    {%- set a_whole = 'cast(floor(' ~ amount_expr ~ ') as decimal(20, 0))' -%}
    {%- set a_frac = 'cast(' ~ amount_expr ~ ' - floor(' ~ amount_expr ~ ') as decimal(18, 18))' -%}
    {%- set p_whole = 'cast(floor(' ~ price_expr ~ ') as decimal(18, 0))' -%}
    {%- set p_frac = 'cast(' ~ price_expr ~ ' - floor(' ~ price_expr ~ ') as decimal(18, 18))' -%}
    {%- set whole_whole = '(' ~ a_whole ~ ' * ' ~ p_whole ~ ')' -%}
    {%- set whole_frac = '(' ~ a_whole ~ ' * ' ~ p_frac ~ ')' -%}
    {%- set frac_whole = '(' ~ a_frac ~ ' * ' ~ p_whole ~ ')' -%}
    {%- set frac_frac = 'cast(' ~ a_frac ~ ' * ' ~ p_frac ~ ' as decimal(38, 18))' -%}
    {%- set whole_sum -%}
        (cast({{ whole_whole }} as decimal(38, 0))
            + cast(floor({{ whole_frac }}) as decimal(38, 0))
            + cast(floor({{ frac_whole }}) as decimal(38, 0)))
    {%- endset -%}
    {%- set frac_sum -%}
        (cast({{ whole_frac }} - floor({{ whole_frac }}) as decimal(38, 18))
            + cast({{ frac_whole }} - floor({{ frac_whole }}) as decimal(38, 18))
            + {{ frac_frac }})
    {%- endset -%}
    {%- set limit = "cast('100000000000000000000' as decimal(38, 0))" -%}
    {%- set fits -%}
        ({{ whole_whole }} < {{ limit }}
            and {{ whole_sum }} + cast(floor({{ frac_sum }}) as decimal(38, 0)) < {{ limit }})
    {%- endset -%}
    case when {{ fits }} then
        cast(cast(case when {{ fits }} then {{ whole_sum }} else 0 end as decimal(38, 18))
            + case when {{ fits }} then {{ frac_sum }} else 0 end
        as decimal(38, 18))
    end
{% endmacro %}

{#- The aggregates of a group of daily rows in USD over its days with a price: n_priced_days, inflow_usd,
    outflow_usd, netflow_usd. NULL when no day has a price, or when a priced day's USD overflowed (NULL there):
    the sum would then leave that day out. -#}
{% macro priced_usd_sums() %}
        cast(count(price_usd) as bigint) as n_priced_days,
        case when count(inflow_usd) = count(price_usd) and count(price_usd) > 0
            then {{ cexflow.decimal_in_range('sum(inflow_usd)') }} end as inflow_usd,
        case when count(outflow_usd) = count(price_usd) and count(price_usd) > 0
            then {{ cexflow.decimal_in_range('sum(outflow_usd)') }} end as outflow_usd,
        case when count(inflow_usd) = count(price_usd) and count(outflow_usd) = count(price_usd)
                and count(price_usd) > 0
            then {{ cexflow.decimal_in_range('sum(inflow_usd)') }} - {{ cexflow.decimal_in_range('sum(outflow_usd)') }}
        end as netflow_usd
{%- endmacro %}
