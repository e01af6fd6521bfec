{#-
    The tokens and chains of a build (issue 15: many tokens and chains in one database).

    build_tokens(): var token as a list of lower-case texts (var token is one text or a list): each a symbol of
    seeds/tokens.csv, a 0x address, or `all` (every token of seeds/tokens.csv on the build's chains).
    input_chains(): {chain: [paths or globs]}, the input files that are not on the default chain (var chain):
    from the environment variable CEXFLOW_INPUT_CHAINS when it is set (cexflow build: JSON, as for
    CEXFLOW_INPUT_FILES), else from var input_chains.
    build_chains(): the build's chains: var chain, then each chain of input_chains.
    chain_of_file(column): the chain of the input file named by `column` (a source_file): a CASE over the files
    of input_chains (globs expanded), else var chain; the text var chain alone when every file is on it.
-#}
{% macro build_tokens() %}
    {%- set value = var('token') -%}
    {%- set items = [value] if value is string else (value | list) -%}
    {%- set tokens = [] -%}
    {%- for item in items -%}
        {%- set text = item | string | trim | lower -%}
        {%- if text and text not in tokens %}{% do tokens.append(text) %}{% endif -%}
    {%- endfor -%}
    {{ return(tokens) }}
{% endmacro %}

{% macro input_chains() %}
    {%- set from_build = env_var('CEXFLOW_INPUT_CHAINS', '') -%}
    {%- set by_chain = fromjson(from_build) if from_build else var('input_chains', {}) -%}
    {{ return(by_chain or {}) }}
{% endmacro %}

{% macro build_chains() %}
    {%- set chains = [var('chain') | string | trim | lower] -%}
    {%- for chain in cexflow.input_chains() -%}
        {%- set name = chain | string | trim | lower -%}
        {%- if name not in chains %}{% do chains.append(name) %}{% endif -%}
    {%- endfor -%}
    {{ return(chains) }}
{% endmacro %}

{% macro chain_of_file(column) %}
    {%- set by_chain = cexflow.input_chains() -%}
    {%- set default_chain = var('chain') | string | trim | lower -%}
    {%- set branches = [] -%}
    {%- for chain, files in by_chain.items() -%}
        {%- set name = chain | string | trim | lower -%}
        {%- set paths = cexflow.input_file_paths(files | list) if name != default_chain else [] -%}
        {%- if paths -%}
            {%- do branches.append("when " ~ column ~ " in (" ~ cexflow.sql_string_items(paths) ~ ") then "
                                   ~ cexflow.sql_string(name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if branches -%}
        case {{ branches | join(' ') }} else {{ cexflow.sql_string(default_chain) }} end
    {%- else -%}
        {{ cexflow.sql_string(default_chain) }}
    {%- endif -%}
{% endmacro %}

{#- The files of a list of paths and globs as the staging models name them in source_file: DuckDB expands
    globs at execution time (duckdb_input_paths); Spark names each entry as given. -#}
{% macro input_file_paths(files) %}
    {{ return(adapter.dispatch('input_file_paths', 'cexflow')(files)) }}
{% endmacro %}

{% macro duckdb__input_file_paths(files) %}
    {{ return(cexflow.duckdb_input_paths(files)) }}
{% endmacro %}

{% macro default__input_file_paths(files) %}
    {{ return(files) }}
{% endmacro %}

{#-
    build_token_names(tokens): the select of every name a token of `tokens` (stg_tokens__selected, the build's
    tokens, as the model names it) answers to in a prices or balances row
    (one row per chain and token_name): its address and its symbol (lower case), and '' (a row that names no
    token) for the chain's one token, whose token_address is NULL on a chain of several tokens (such a row is
    ours, and rejected). Join on the row's chain and coalesce(token_text, ''): no match is another chain's
    or token's row.
-#}
{% macro build_token_names(tokens) %}
    select chain, token_address as token_name, token_address from {{ tokens }}
    union
    select chain, lower(symbol) as token_name, token_address from {{ tokens }}
    union
    select
        chain,
        '' as token_name,
        case when max(n_tokens_of_chain) = 1 then max(token_address) end as token_address
    from {{ tokens }}
    group by chain
{% endmacro %}
