"""cexflow: exchange netflow analytics for ERC-20 tokens, built with dbt on DuckDB."""

__version__ = "0.1.0"
