{#- The input formats of var input_formats (dbt_project.yml), the one list of them: what each staging model
    reads, and what cexflow.inputs recognises a file by. -#}

{#- The columns a format's staging model reads: its header and its optional columns (lower case). -#}
{% macro input_format_columns(format) %}
    {%- set spec = var('input_formats')[format] -%}
    {{ return(spec.get('header', []) + spec.get('optional', [])) }}
{% endmacro %}

{#- The raw columns of an Etherscan tokentx row (CSV or API JSON), renamed as every format's staging model
    names them. -#}
{% macro etherscan_raw_columns() %}
        source_file,
        line_number,
        header_field_count,
        field_count_error,
        hash as raw_tx_hash,
        blocknumber as raw_block_number,
        timestamp as raw_timestamp,
        {{ adapter.quote("from") }} as raw_from_address,
        {{ adapter.quote("to") }} as raw_to_address,
        contractaddress as raw_token_address,
        value as raw_value,
        tokendecimal as raw_token_decimals,
        logindex as raw_log_index,
        'raw_integer' as amount_unit
{% endmacro %}
