{#- Small engine-specific functions, each behind adapter.dispatch (DuckDB here; Spark beside it later). -#}

{#- A UTC timestamp (without time zone) from unix epoch seconds given as text; NULL if unreadable. -#}
{% macro epoch_text_to_timestamp(text_expr) %}
    {{ return(adapter.dispatch('epoch_text_to_timestamp', 'cexflow')(text_expr)) }}
{% endmacro %}

{% macro duckdb__epoch_text_to_timestamp(text_expr) %}
    case
        when regexp_full_match({{ text_expr }}, '[0-9]{1,11}')
            then make_timestamp(cast({{ text_expr }} as bigint) * 1000000)
        -- ISO text, as BigQuery exports block_timestamp ('2021-06-09 01:33:15 UTC')
        else cast(try_cast(replace({{ text_expr }}, ' UTC', '') as timestamptz) at time zone 'UTC' as timestamp)
    end
{% endmacro %}

{#- TRUE when the text is a 0x-prefixed 20-byte hex address (any case). -#}
{% macro is_hex_address(text_expr) %}
    {{ return(adapter.dispatch('is_hex_address', 'cexflow')(text_expr)) }}
{% endmacro %}

{% macro duckdb__is_hex_address(text_expr) %}
    coalesce(regexp_full_match({{ text_expr }}, '0[xX][0-9a-fA-F]{40}'), false)
{% endmacro %}

{#- TRUE when the text is a 0x-prefixed 32-byte hex transaction hash (any case). -#}
{% macro is_hex_hash(text_expr) %}
    {{ return(adapter.dispatch('is_hex_hash', 'cexflow')(text_expr)) }}
{% endmacro %}

{% macro duckdb__is_hex_hash(text_expr) %}
    coalesce(regexp_full_match({{ text_expr }}, '0[xX][0-9a-fA-F]{64}'), false)
{% endmacro %}

{#- TRUE when the text is a non-negative integer written with digits only. -#}
{% macro is_digits(text_expr) %}
    {{ return(adapter.dispatch('is_digits', 'cexflow')(text_expr)) }}
{% endmacro %}

{% macro duckdb__is_digits(text_expr) %}
    coalesce(regexp_full_match({{ text_expr }}, '[0-9]+'), false)
{% endmacro %}

{#-
    An exact DECIMAL(38,18) token amount from a raw integer amount (digits text, already trimmed) and the
    token's decimals: no division, no float. NULL when the result does not fit DECIMAL(38,18) or would need
    more than 18 decimal places.
-#}
{% macro raw_amount_to_decimal(raw_expr, decimals_expr) %}
    {{ return(adapter.dispatch('raw_amount_to_decimal', 'cexflow')(raw_expr, decimals_expr)) }}
{% endmacro %}

{% macro duckdb__raw_amount_to_decimal(raw_expr, decimals_expr) %}
    {#- DuckDB casts text to HUGEINT fast but text to DECIMAL(38, s) some 200 times slower: the common case
        goes through HUGEINT, then DECIMAL(38,0), times the exact constant 10^-decimals. -#}
    case
        when {{ decimals_expr }} between 0 and 18
            and regexp_full_match({{ raw_expr }}, '[0-9]{1,38}')
            and length(ltrim({{ raw_expr }}, '0')) - {{ decimals_expr }} <= 20
            then cast(cast({{ raw_expr }} as hugeint) as decimal(38, 0)) * case {{ decimals_expr }}
                {%- for d in range(19) %}
                when {{ d }} then cast('{{ "1" if d == 0 else "0." ~ "0" * (d - 1) ~ "1" }}' as decimal(38, 18))
                {%- endfor %}
            end
        when {{ decimals_expr }} > 18 then {{ cexflow.shift_decimal_point_text(raw_expr, decimals_expr) }}
    end
{% endmacro %}

{#- The slow, general path: move the decimal point in the text, exact only up to 18 decimal places. -#}
{% macro shift_decimal_point_text(raw_expr, decimals_expr) %}
    {%- set padded -%}
        lpad({{ raw_expr }}, cast(greatest(length({{ raw_expr }}), {{ decimals_expr }}) as integer), '0')
    {%- endset -%}
    try_cast(
        case
            -- exact only when the digits past the 18th decimal are zeros
            when {{ decimals_expr }} > 18 and rtrim(right({{ padded }}, {{ decimals_expr }} - 18), '0') <> '' then null
            else '0' || left({{ padded }}, length({{ padded }}) - {{ decimals_expr }})
                || '.' || left(right({{ padded }}, {{ decimals_expr }}), 18) || '0'
        end
        as decimal(38, 18)
    )
{% endmacro %}

{#- An exact DECIMAL(38,18) from the digits of amount x 10^18 (any leading zeros); NULL when it does not fit. -#}
{% macro scaled_digits_to_decimal(digits_expr) %}
    {{ return(adapter.dispatch('scaled_digits_to_decimal', 'cexflow')(digits_expr)) }}
{% endmacro %}

{% macro duckdb__scaled_digits_to_decimal(digits_expr) %}
    case when length(ltrim({{ digits_expr }}, '0')) <= 38
        then cast(cast({{ digits_expr }} as hugeint) as decimal(38, 0)) * cast('0.000000000000000001' as decimal(38, 18))
    end
{% endmacro %}

{#- TRUE when the text is a number: digits with an optional point and exponent (1, 1.5, .5, 1e-05, 1.5E+21). -#}
{% macro is_number_text(text_expr) %}
    {{ return(adapter.dispatch('is_number_text', 'cexflow')(text_expr)) }}
{% endmacro %}

{% macro duckdb__is_number_text(text_expr) %}
    coalesce(regexp_full_match({{ text_expr }}, '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?'), false)
{% endmacro %}

{#- An exact DECIMAL(38,18) from decimal text (trimmed; plain or scientific notation); NULL if unreadable. -#}
{% macro decimal_text_to_decimal(text_expr) %}
    {{ return(adapter.dispatch('decimal_text_to_decimal', 'cexflow')(text_expr)) }}
{% endmacro %}

{% macro duckdb__decimal_text_to_decimal(text_expr) %}
    {#- plain decimals go through HUGEINT (fast, see duckdb__raw_amount_to_decimal); the rest, such as
        scientific notation, through the slow exact text cast -#}
    case
        when regexp_full_match({{ text_expr }}, '[0-9]{1,20}([.][0-9]{0,18})?|[.][0-9]{1,18}')
            then cast(cast(
                coalesce(nullif(split_part({{ text_expr }}, '.', 1), ''), '0')
                || rpad(split_part({{ text_expr }}, '.', 2), 18, '0') as hugeint) as decimal(38, 0))
                * cast('0.000000000000000001' as decimal(38, 18))
        else try_cast({{ text_expr }} as decimal(38, 18))
    end
{% endmacro %}

{#- Plain text of a decimal with every place of its scale ('0.000000000000000001', never '1E-18'): the same
    text on every engine, so that keys hashed from amounts agree. (Arithmetic on the DECIMAL(38,18) to get its
    unscaled digits costs four times as much in DuckDB 1.5.) -#}
{% macro decimal_to_text(decimal_expr) %}
    {{ return(adapter.dispatch('decimal_to_text', 'cexflow')(decimal_expr)) }}
{% endmacro %}

{% macro duckdb__decimal_to_text(decimal_expr) %}
    cast({{ decimal_expr }} as varchar)
{% endmacro %}

{#- Digits without their leading zeros ('0' for none left): the text of a whole number given as digits. -#}
{% macro digits_key(digits_expr) -%}
    coalesce(nullif(trim(leading '0' from {{ digits_expr }}), ''), '0')
{%- endmacro %}

{#- A stable text key from a list of column expressions. -#}
{% macro hash_key(expressions) %}
    {{ return(adapter.dispatch('hash_key', 'cexflow')(expressions)) }}
{% endmacro %}

{% macro duckdb__hash_key(expressions) %}
    md5(concat_ws('|', {% for e in expressions %}coalesce(cast({{ e }} as varchar), ''){% if not loop.last %}, {% endif %}{% endfor %}))
{% endmacro %}

{#- A date plus a whole number of days (negative to go back). -#}
{% macro add_days(date_expr, days) %}
    {{ return(adapter.dispatch('add_days', 'cexflow')(date_expr, days)) }}
{% endmacro %}

{% macro duckdb__add_days(date_expr, days) %}
    cast({{ date_expr }} + to_days(cast({{ days }} as integer)) as date)
{% endmacro %}

{#- Text without leading and trailing blanks. -#}
{% macro trim_text(text_expr) %}
    {{ return(adapter.dispatch('trim_text', 'cexflow')(text_expr)) }}
{% endmacro %}

{% macro duckdb__trim_text(text_expr) %}
    {#- DuckDB's trim() costs ~0.7 s per million values; checking the ends first is almost free -#}
    case
        when starts_with({{ text_expr }}, ' ') or ends_with({{ text_expr }}, ' ')
            or starts_with({{ text_expr }}, chr(9)) or ends_with({{ text_expr }}, chr(9))
            then trim({{ text_expr }}, ' ' || chr(9))
        else {{ text_expr }}
    end
{% endmacro %}

{#- The config of an incremental model keyed by `unique_key` whose rows belong to a flow_date: DuckDB
    replaces the rows of the keys a run writes (delete+insert); Spark's parquet tables have no row-level
    delete, so there the table is partitioned by flow_date and a run overwrites the days it writes
    (insert_overwrite, dynamic partition overwrite; docs/scale.md). Use as
    {{ config(**cexflow.incremental_by_day_config('transfer_id')) }}. -#}
{% macro incremental_by_day_config(unique_key) %}
    {{ return(adapter.dispatch('incremental_by_day_config', 'cexflow')(unique_key)) }}
{% endmacro %}

{% macro default__incremental_by_day_config(unique_key) %}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': unique_key}) }}
{% endmacro %}

{#- The config of a model keyed by `unique_key` that a run recomputes for the keys its new rows touch: DuckDB
    replaces those keys' rows (delete+insert); on Spark, with no row-level delete, the model is partitioned by
    flow_date and a run recomputes the whole days its new rows fall on (insert_overwrite; the model's query
    reads those days when config incremental_strategy is insert_overwrite). Use as
    {{ config(**cexflow.incremental_by_key_config('transfer_id')) }}. -#}
{% macro incremental_by_key_config(unique_key) %}
    {{ return(adapter.dispatch('incremental_by_key_config', 'cexflow')(unique_key)) }}
{% endmacro %}

{% macro default__incremental_by_key_config(unique_key) %}
    {{ return(cexflow.default__incremental_by_day_config(unique_key)) }}
{% endmacro %}

{% macro spark__incremental_by_key_config(unique_key) %}
    {{ return(cexflow.spark__incremental_by_day_config(unique_key)) }}
{% endmacro %}

{% macro spark__incremental_by_day_config(unique_key) %}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite',
               'partition_by': 'flow_date'}) }}
{% endmacro %}

{#- The partition column of the stored input rows (stg_transfers__rows_validated): none on DuckDB, whose
    row groups in load order and zone maps already skip what a run does not touch; flow_date on Spark, so
    that a run reads the stored rows of its own days only (macros/runs.sql). -#}
{% macro stored_rows_partition_by() %}
    {{ return(adapter.dispatch('stored_rows_partition_by', 'cexflow')()) }}
{% endmacro %}

{% macro default__stored_rows_partition_by() %}
    {{ return(none) }}
{% endmacro %}

{% macro spark__stored_rows_partition_by() %}
    {{ return('flow_date') }}
{% endmacro %}

{#- TRUE when the whole text matches the regular expression (FALSE for NULL). -#}
{% macro matches(text_expr, pattern) %}
    {{ return(adapter.dispatch('matches', 'cexflow')(text_expr, pattern)) }}
{% endmacro %}

{% macro duckdb__matches(text_expr, pattern) %}
    coalesce(regexp_full_match({{ text_expr }}, '{{ pattern }}'), false)
{% endmacro %}

{#- The distinct values of a column of a relation, at execution time (at parse time: none). -#}
{% macro column_values(relation, column) %}
    {% if not execute %}{{ return([]) }}{% endif %}
    {% set result = run_query('select distinct ' ~ adapter.quote(column) ~ ' from ' ~ relation ~ ' order by 1') %}
    {{ return(result.columns[0].values() | list) }}
{% endmacro %}

{#- The exact mean of a DECIMAL(38,18) sum of amounts (>= 0) over a count (> 0, an integer), as a
    DECIMAL(38,18) rounded half up at the 18th decimal place; NULL when the count is 0 or NULL. DuckDB's
    decimal / integer is a DOUBLE, so this divides the sum's unscaled integer (sum x 10^18, a HUGEINT) by the
    count and rounds with the remainder, in integers only. -#}
{% macro exact_mean(sum_expr, count_expr) %}
    {{ return(adapter.dispatch('exact_mean', 'cexflow')(sum_expr, count_expr)) }}
{% endmacro %}

{% macro duckdb__exact_mean(sum_expr, count_expr) %}
    {%- set unscaled -%}
        (cast(trunc({{ sum_expr }}) as hugeint) * 1000000000000000000
            + cast(({{ sum_expr }} - trunc({{ sum_expr }})) * 1000000000000000000 as hugeint))
    {%- endset -%}
    {%- set rounded -%}
        ({{ unscaled }} // {{ count_expr }}
            + case when 2 * ({{ unscaled }} % {{ count_expr }}) >= {{ count_expr }} then 1 else 0 end)
    {%- endset -%}
    case when {{ count_expr }} > 0 then
        cast(
            cast({{ rounded }} // 1000000000000000000 as decimal(38, 0))
            + cast({{ rounded }} % 1000000000000000000 as decimal(38, 0))
                * cast('0.000000000000000001' as decimal(38, 18))
        as decimal(38, 18))
    end
{% endmacro %}

{#- A sum of amounts as DECIMAL(38,18), or NULL when it does not fit (10^20 token units or more). Spark's sums
    give NULL past the type's range (spark.sql.ansi.enabled=false); DuckDB's keep the value past the declared
    precision (its HUGEINT holds it) and fail where it is cast, so DuckDB compares it with the type's largest
    value: a comparison of the HUGEINTs, some hundred times cheaper than taking the whole part (a cast of every
    sum, seconds on a whole-token history). -#}
{% macro decimal_in_range(sum_expr) %}
    {{ return(adapter.dispatch('decimal_in_range', 'cexflow')(sum_expr)) }}
{% endmacro %}

{% macro duckdb__decimal_in_range(sum_expr) %}
    case when {{ sum_expr }} between -99999999999999999999.999999999999999999
        and 99999999999999999999.999999999999999999 then {{ sum_expr }} end
{% endmacro %}

{#- An address (0x and 40 lower-case hex digits, as staging checks it) as a grouping key. DuckDB: its 160 bits as a
    struct of three integers, which a hash aggregate holds in 20 fixed bytes rather than a 42-character string
    (a distinct over millions of (day, counterparty) keys then fits its memory limit: 150MB, not 300MB, at 3.2
    million rows). Spark: the address itself. Equal keys are equal addresses on both. -#}
{% macro address_key(address) %}
    {{ return(adapter.dispatch('address_key', 'cexflow')(address)) }}
{% endmacro %}

{% macro default__address_key(address) %}
    {{ address }}
{% endmacro %}

{% macro duckdb__address_key(address) %}
    {
        {%- for name, digits, sql in cexflow.duckdb_address_parts(address) %}
        '{{ name }}': {{ sql }}{{ ',' if not loop.last }}
        {%- endfor %}
    }
{% endmacro %}

{#- DuckDB: an address's 40 hex digits as three integers, [(name, number of digits, SQL expression)]: the first 16
    and the next 16 as ubigint, the last 8 as uinteger. address_key, only_address and counterparty_parts read
    them. -#}
{% macro duckdb_address_parts(address) %}
    {%- set parts = [] %}
    {%- for name, start, digits, type in [('high', 3, 16, 'ubigint'), ('middle', 19, 16, 'ubigint'), ('low', 35, 8, 'uinteger')] %}
        {%- do parts.append((name, digits, "cast('0x' || substr(" ~ address ~ ", " ~ start ~ ", " ~ digits ~ ") as " ~ type ~ ")")) %}
    {%- endfor %}
    {{ return(parts) }}
{% endmacro %}

{#- The parts into which int_daily_counterparty_stats splits its distinct counterparties: a list of conditions on
    the counterparty's address, each part a distinct of its own over the legs, or [none] for one part. DuckDB 1.5's
    grouping needs more memory the more groups it spills: the distinct of a 30-million-row history (55 million
    groups) runs out of memory at 500MB, and split four ways it finishes (docs/performance.md). So on DuckDB a
    full build splits it into one part per 16,000 stored transfers per MiB of the memory limit, rounded up: one
    part up to 7.6 million rows at the default 500MB, four at 30 million. Each part reads the legs again, so a
    history that needs no split has one. An incremental run, whose days are few, and Spark: one part.
    CEXFLOW_COUNTERPARTY_PARTS sets the number (a test splits a small history with it). -#}
{% macro counterparty_parts(transfer_rows, address) %}
    {{ return(adapter.dispatch('counterparty_parts', 'cexflow')(transfer_rows, address)) }}
{% endmacro %}

{% macro default__counterparty_parts(transfer_rows, address) %}
    {{ return([none]) }}
{% endmacro %}

{% macro duckdb__counterparty_parts(transfer_rows, address) %}
    {%- set parts = env_var('CEXFLOW_COUNTERPARTY_PARTS', '') %}
    {%- if parts %}
        {%- set parts = parts | int %}
    {%- elif not cexflow.models_run_now() or is_incremental() %}
        {%- set parts = 1 %}
    {%- else %}
        {#- the limit as DuckDB gives it, e.g. '476.8 MiB' -#}
        {%- set limit = run_query("select current_setting('memory_limit')").columns[0].values()[0].split(' ') %}
        {%- set mib = (limit[0] | float) * {'KiB': 1 / 1024, 'MiB': 1, 'GiB': 1024, 'TiB': 1048576}.get(limit[-1], 0) %}
        {%- set rows = run_query('select count(*) from ' ~ transfer_rows).columns[0].values()[0] %}
        {%- set parts = (((rows | int) / (mib * 16000)) | round(0, 'ceil') | int) if mib > 0 else 1 %}
    {%- endif %}
    {%- if parts <= 1 %}{{ return([none]) }}{% endif %}
    {%- set conditions = [] %}
    {%- for part in range(parts) %}
        {#- the address's last 8 hex digits (duckdb_address_parts' third part, its SQL) -#}
        {%- do conditions.append(cexflow.duckdb_address_parts(address)[2][2] ~ " % " ~ parts ~ " = " ~ part) %}
    {%- endfor %}
    {{ return(conditions) }}
{% endmacro %}

{#- An aggregate: the address of every row of the group when they all have the same one, else NULL (addresses as
    staging checks them: 0x and 40 lower-case hex digits). Spark: the minimum when it is the maximum. DuckDB: the
    same test on the address's three integers (address_key), and the address written back from them, because
    DuckDB's minimum and maximum of a text keep a copy of each new least or greatest value they meet, in memory
    outside its limit: over the senders of 30 million transfers, 2 GB more than the limit. -#}
{% macro only_address(address) %}
    {{ return(adapter.dispatch('only_address', 'cexflow')(address)) }}
{% endmacro %}

{% macro default__only_address(address) %}
    case when min({{ address }}) = max({{ address }}) then min({{ address }}) end
{% endmacro %}

{% macro duckdb__only_address(address) %}
    {%- set parts = cexflow.duckdb_address_parts(address) %}
    case when
        {%- for name, digits, part in parts %}
        min({{ part }}) = max({{ part }}){{ ' and' if not loop.last }}
        {%- endfor %}
    then '0x'
        {%- for name, digits, part in parts %}
        || lpad(lower(to_hex(min({{ part }}))), {{ digits }}, '0')
        {%- endfor %}
    end
{% endmacro %}

{#- The sum of the n largest values of an amount among a group's rows where condition holds (NULL when none),
    with the rank column it needs. DuckDB has a top-n aggregate (max(x, n), a list) and needs no window: the
    window's sort of every leg spilled past the build's memory limit (11 s of a 3.2 M-row build, 1 s now);
    Spark ranks the rows by a window (rank_for_top_n) and sums the first n. The same exact DECIMAL on both. -#}
{% macro rank_for_top_n(partition_by, order_by) %}
    {{ return(adapter.dispatch('rank_for_top_n', 'cexflow')(partition_by, order_by)) }}
{% endmacro %}

{% macro default__rank_for_top_n(partition_by, order_by) %}
    row_number() over (partition by {{ partition_by }} order by {{ order_by }})
{% endmacro %}

{% macro duckdb__rank_for_top_n(partition_by, order_by) %}
    cast(null as integer)
{% endmacro %}

{% macro sum_of_top_n(amount, n, condition, rank_column) %}
    {{ return(adapter.dispatch('sum_of_top_n', 'cexflow')(amount, n, condition, rank_column)) }}
{% endmacro %}

{% macro default__sum_of_top_n(amount, n, condition, rank_column) %}
    sum(case when {{ condition }} and {{ rank_column }} <= {{ n }} then {{ amount }} end)
{% endmacro %}

{% macro duckdb__sum_of_top_n(amount, n, condition, rank_column) %}
    list_reduce(max({{ amount }}, {{ n }}) filter (where {{ condition }}), (x, y) -> x + y)
{% endmacro %}

{#- A key for each row of a table of (chain, address) rows, to join and partition by in place of the two texts.
    DuckDB: the row's number, whose sorts and joins cost much less than a 42-character address's (a second of
    CPU in the deposit rule's windows at 3.48 million transfers). Spark: the two texts joined, since a number
    would sort every row in one task. The table's (chain, address) must be unique: then the order is total, and a
    CTE that computes the key and is read more than once gets the same number for a row each time. -#}
{% macro address_row_key(chain, address) %}
    {{ return(adapter.dispatch('address_row_key', 'cexflow')(chain, address)) }}
{% endmacro %}

{% macro default__address_row_key(chain, address) %}
    concat({{ chain }}, ':', {{ address }})
{% endmacro %}

{% macro duckdb__address_row_key(chain, address) %}
    row_number() over (order by {{ chain }}, {{ address }})
{% endmacro %}

{#- Seconds since 1970-01-01 UTC of a timestamp (the transfers' times are UTC), as a whole number. -#}
{% macro epoch_seconds(timestamp_expr) %}
    {{ return(adapter.dispatch('epoch_seconds', 'cexflow')(timestamp_expr)) }}
{% endmacro %}

{% macro duckdb__epoch_seconds(timestamp_expr) %}
    cast(epoch({{ timestamp_expr }}) as bigint)
{% endmacro %}

{#- The type of a UTC time without a zone, as the transfers' transferred_at: DuckDB's timestamp, Spark's
    timestamp_ntz (Spark's timestamp has the session's zone). -#}
{% macro timestamp_type() %}
    {{ return(adapter.dispatch('timestamp_type', 'cexflow')()) }}
{% endmacro %}

{% macro duckdb__timestamp_type() %}timestamp{% endmacro %}
