"""Recognise raw transfer files by their header, and check label files and the token, before dbt runs: a
user's mistake is a one-line CexflowError naming the file, line or option, never a dbt stack trace."""

from __future__ import annotations

import csv
import glob
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_FILE, TOKENS_SEED


@dataclass(frozen=True)
class InputFormat:
    """An input format of var input_formats in dbt_project.yml (the one list of them, which staging reads too)."""

    name: str
    file_type: str  # csv, json or parquet
    header: tuple[str, ...]  # the columns (lower case) a CSV file (or a Parquet file) of the format has, in any order
    description: str
    one_of: tuple[str, ...] = ()  # a Parquet format: at least one of these columns too


def load_formats(project_file: Path = PROJECT_FILE) -> dict[str, InputFormat]:
    """The input formats of dbt_project.yml, by name, in its order."""
    spec = yaml.safe_load(project_file.read_text())["vars"]["input_formats"]
    return {
        name: InputFormat(
            name, fmt["file_type"], tuple(fmt.get("header", ())), fmt["description"], tuple(fmt.get("one_of", ()))
        )
        for name, fmt in spec.items()
    }


FORMATS = load_formats()
CSV_FORMATS = {name: fmt for name, fmt in FORMATS.items() if fmt.file_type == "csv"}
JSON_FORMAT = next(name for name, fmt in FORMATS.items() if fmt.file_type == "json")
PARQUET_FORMATS = {name: fmt for name, fmt in FORMATS.items() if fmt.file_type == "parquet"}
ACCEPTED = "; ".join(fmt.description for fmt in CSV_FORMATS.values())
ACCEPTED_PARQUET = "; ".join(fmt.description for fmt in PARQUET_FORMATS.values())
# the formats whose rows may lack a time (no block_timestamp column): the blocks files (--blocks) give it
TIMED_BY_BLOCKS = ("ethereum_etl", "ethereum_etl_parquet", "cryo_erc20_transfers")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
LABEL_CHAIN = "ethereum"  # the chain of a label row without one (as stg_labels__exchange_wallets_deduplicated reads it)


@dataclass
class InputFiles:
    """The input files of one build by format (absolute paths), and the chain of each given as `CHAIN=PATH`."""

    by_format: dict[str, list[str]] = field(default_factory=dict)
    etl_without_timestamp: list[str] = field(default_factory=list)
    chains: dict[str, str] = field(default_factory=dict)  # path -> chain, for files given with CHAIN=

    def dbt_input_chains(self, default_chain: str) -> dict[str, list[str]]:
        """var input_chains: chain -> its files, for the files not on the default chain."""
        by_chain: dict[str, list[str]] = {}
        for path, chain in sorted(self.chains.items()):
            if chain != default_chain:
                by_chain.setdefault(chain, []).append(path)
        return by_chain

    @property
    def all_files(self) -> list[str]:
        return [p for files in self.by_format.values() for p in files]

    def dbt_input_files(self) -> dict[str, list[str]]:
        """var input_files: the files of every format (each format named, an empty list when none)."""
        return {fmt: sorted(self.by_format.get(fmt, [])) for fmt in FORMATS}


def expand(patterns: list[str], option: str, suffixes: tuple[str, ...] = (".csv", ".json", ".parquet")) -> list[Path]:
    """Paths for a list of files, directories (their files with `suffixes`) and globs; each must match."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        elif path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        elif path.is_file():
            matches = [path]
        else:
            raise CexflowError(f"{option} {pattern}: no such file or directory")
        if not matches:
            raise CexflowError(f"{option} {pattern}: no file matches")
        found.extend(p.resolve() for p in matches)
    # the same file named twice (e.g. by a file and a glob) is read once
    return list(dict.fromkeys(found))


def read_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            first = next(csv.reader(fh))
        except StopIteration:
            raise CexflowError(f"{path}: empty file (no header line); accepted headers: {ACCEPTED}") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CexflowError(f"{path}: cannot read the header line: {exc}") from None
    return [name.strip().lower() for name in first]


def classify_csv(path: Path) -> tuple[str, list[str]]:
    """A CSV file's format, by its header, and the header."""
    header = read_header(path)
    for fmt in CSV_FORMATS.values():
        if all(column in header for column in fmt.header):
            return fmt.name, header
    # the closest format, to name the missing columns
    fmt = max(CSV_FORMATS.values(), key=lambda f: sum(column in header for column in f.header))
    missing = [column for column in fmt.header if column not in header]
    if len(missing) < len(fmt.header) / 2:
        raise CexflowError(build_words().header_lacks(path, fmt.description.split(" (")[0], missing))
    raise CexflowError(f"{path}: unknown header '{','.join(header)}'; accepted headers: {ACCEPTED}")


def build_words():
    """templates/build.j2 (build's words); not at the top: pandas and duckdb cost a fetch a second."""
    from cexflow.present import macros

    return macros("build.j2")


def classify_parquet(path: Path) -> tuple[str, list[str]]:
    """A Parquet file's format, by its columns (as a CSV file's by its header), and the columns."""
    from cexflow.db import parquet_column_names  # not at the top: pandas and duckdb cost a fetch a second

    columns = parquet_column_names(path)
    for fmt in PARQUET_FORMATS.values():
        if all(c in columns for c in fmt.header) and (not fmt.one_of or any(c in columns for c in fmt.one_of)):
            return fmt.name, columns
    raise CexflowError(f"{path}: unknown Parquet columns '{','.join(columns)}'; accepted: {ACCEPTED_PARQUET}")


def classify_json(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CexflowError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("result"), list):
        return JSON_FORMAT
    if isinstance(doc, dict) and "result" in doc:
        raise CexflowError(f"{path}: an Etherscan error response, not rows: {str(doc.get('result'))[:120]}")
    raise CexflowError(f"{path}: unknown JSON layout; accepted: an {FORMATS[JSON_FORMAT].description}")


CHAIN_PREFIX = re.compile(r"^(?P<chain>[a-z][a-z0-9_-]*)=(?P<pattern>.+)$")


def split_chain(spec: str, chains: set[str] | list[str]) -> tuple[str | None, str]:
    """An --input's chain and pattern: `arbitrum=data/arb/*.csv` is data/arb/*.csv on arbitrum (one of `chains`); a
    spec without a chain prefix, or naming an existing file, is a pattern of the build's default chain."""
    match = CHAIN_PREFIX.match(spec)
    if not match or Path(spec).expanduser().exists():
        return None, spec
    if match["chain"] not in chains:
        raise CexflowError(build_words().unknown_input_chain(spec, match["chain"], chains))
    return match["chain"], match["pattern"]


def known_chains(label_files: list[str] | None = None) -> set[str]:
    """The chains a build can name: those of seeds/tokens.csv and of the label files (default: the seed's)."""
    from cexflow.paths import EXCHANGE_WALLETS_SEED

    return ({t.chain for t in seed_tokens()} | set(label_chains(label_files or [EXCHANGE_WALLETS_SEED]))) - {""}


def classify_inputs(patterns: list[str | tuple[str | None, str]], blocks: list[str] | None = None) -> InputFiles:
    """Group the input files (patterns, or (chain, pattern) pairs) by format; files without times need --blocks."""
    files = InputFiles()
    for spec in patterns:
        chain, pattern = spec if isinstance(spec, tuple) else (None, spec)
        for path in expand([pattern], "--input"):
            previous = files.chains.get(str(path))
            if str(path) in files.all_files and previous != chain:
                raise CexflowError(build_words().file_on_two_chains(pattern, path, previous, chain))
            if chain is not None:
                files.chains[str(path)] = chain
            if str(path) not in files.all_files:
                fmt, untimed = _classify(path)
                files.by_format.setdefault(fmt, []).append(str(path))
                if untimed:
                    files.etl_without_timestamp.append(str(path))
    if files.etl_without_timestamp and not blocks:
        raise CexflowError(build_words().needs_blocks(files.etl_without_timestamp[0]))
    return files


def _classify(path: Path) -> tuple[str, bool]:
    """An input file's format (by its header, or a JSON file's layout), and whether its rows have no time."""
    if path.suffix.lower() == ".json":
        return classify_json(path), False
    fmt, columns = classify_parquet(path) if path.suffix.lower() == ".parquet" else classify_csv(path)
    return fmt, fmt in TIMED_BY_BLOCKS and "block_timestamp" not in columns


# the side options' files: per suffix, the columns a file needs ("a or b": either), worded in build.j2
SIDE_FILES = {
    "--blocks": {".csv": ("number", "timestamp"), ".parquet": ("block_number", "timestamp")},
    "--balances": {".csv": ("address", "balance", "block or date")},
    "--prices": {".csv": ("date", "price_usd")},
}


def side_files(option: str, patterns: list[str]) -> list[str]:
    """Check the files of --blocks, --balances or --prices: each has the columns SIDE_FILES names (any other
    suffix than .parquet is read as CSV)."""
    from cexflow.db import parquet_column_names  # not at the top: pandas and duckdb cost a fetch a second

    paths = expand(patterns, option, suffixes=tuple(SIDE_FILES[option]))
    for path in paths:
        parquet = path.suffix.lower() == ".parquet"
        header = parquet_column_names(path) if parquet else read_header(path)
        wanted = SIDE_FILES[option].get(path.suffix.lower(), SIDE_FILES[option][".csv"])
        missing = [c for c in wanted if not any(part in header for part in c.split(" or "))]
        if missing:
            raise CexflowError(build_words().side_file_lacks(path, option, parquet, missing))
    return [str(p) for p in paths]


def label_files(patterns: list[str]) -> list[str]:
    """Check label CSVs: columns address and exchange, and a valid address on every row."""
    paths = expand(patterns, "--labels", suffixes=(".csv",))
    for path in paths:
        for _ in read_label_file(path):
            pass
    return [str(p) for p in paths]


def etherscan_csv_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of an Etherscan-format transfers CSV as dicts (fetch's second hop reads the first hop's files)."""
    with open(path, newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def read_label_file(path: Path) -> Iterator[dict[str, str]]:
    """The one reader of label CSVs: its rows, names in lower case and values stripped, after checking the
    columns address and exchange, and each row's number of fields, address, exchange and kind (one-line errors)."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CexflowError(f"--labels {path}: cannot read ({exc.strerror})") from None
    with fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in (reader.fieldnames or [])]
        missing = [c for c in ("address", "exchange") if c not in columns]
        if missing:
            raise CexflowError(build_words().labels_lack_columns(path, missing))
        reader.fieldnames = columns
        for row in reader:
            line = reader.line_num
            # csv.DictReader puts the fields past the header's under None, and gives a missing one None
            n_fields = sum(value is not None for key, value in row.items() if key is not None)
            n_fields += len(row.get(None) or [])
            if n_fields != len(columns):
                raise CexflowError(build_words().label_fields(path, line, n_fields, len(columns)))
            row = {key: (value or "").strip() for key, value in row.items() if key is not None}
            address, kind = row["address"], row.get("kind", "").lower()
            if not ADDRESS.match(address):
                raise CexflowError(f"{path}, line {line}: malformed address '{address}' (want 0x and 40 hex digits)")
            if not row["exchange"]:
                raise CexflowError(f"{path}, line {line}: empty exchange for address {address}")
            if kind not in LABEL_KINDS:
                raise CexflowError(build_words().label_kind(path, line, row["kind"], address, LABEL_KINDS))
            yield row


# a label row's kind: a wallet of the exchange (empty: the default) or a deposit address of it, taken as given
LABEL_KINDS = ("", "wallet", "deposit")


def label_chains(paths: list[str | Path]) -> dict[str, int]:
    """How many distinct labelled addresses each chain has in these label files (as staging reads them)."""
    addresses: dict[str, set[str]] = {}
    for path in paths:
        for row in read_label_file(Path(path)):
            chain = (row.get("chain") or "").lower() or LABEL_CHAIN
            addresses.setdefault(chain, set()).add(row["address"].lower())
    return {chain: len(found) for chain, found in sorted(addresses.items())}


@dataclass(frozen=True)
class Wallet:
    """A labelled exchange wallet of a label file (cexflow.fetch.load_wallets reads them)."""

    address: str  # lowercase
    exchange: str
    name: str  # the label's wallet or name_tag, else the address
    kind: str = "wallet"  # a label row's kind: wallet, or deposit (a deposit address given in the label file)


@dataclass(frozen=True)
class Token:
    """A token of a chain: its lower-case address, and its symbol and decimals where known."""

    chain: str
    address: str
    symbol: str | None
    decimals: int | None

    @property
    def label(self) -> str:
        """The token as the outputs name it: its symbol, or its address when it has none."""
        return self.symbol or self.address


def resolve_token(token: str, chain: str, decimals: int | None = None, *, need_decimals: bool = True) -> Token:
    """The one token resolver of the Python side (stg_tokens__selected is the SQL side's): resolve_tokens of one
    name on one chain."""
    return resolve_tokens([token], [chain], decimals, need_decimals=need_decimals)[0]


def seed_tokens() -> list[Token]:
    """Every token of seeds/tokens.csv, in its order."""
    with open(TOKENS_SEED, newline="", encoding="utf-8") as fh:
        rows = [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]
    return [Token(r["chain"].lower(), r["token_address"].lower(), r["symbol"], int(r["decimals"])) for r in rows]


def resolve_tokens(
    names: list[str], chains: list[str], decimals: int | None = None, *, need_decimals: bool = True
) -> list[Token]:
    """The tokens of a build on its chains (the default chain first), as stg_tokens__selected resolves var token: a
    seed token on every chain where the seed lists it, `all` every seed token of the chains, an address not in
    the seed on the default chain with --decimals (which with one token overrides the seed's; needed unless
    `need_decimals` is False)."""
    seed = [t for t in seed_tokens() if t.chain in chains]
    found: dict[tuple[str, str], Token] = {}
    unknown_addresses = []
    for name in names:
        wanted = name.strip().lower()
        if wanted == "all":
            matches = seed
            if not matches:
                raise CexflowError(f"--token all: seeds/tokens.csv has no token on {' or '.join(chains)}")
        else:
            matches = [t for t in seed if wanted in (t.address, (t.symbol or "").lower())]
        if not matches:
            seed_chains = sorted({t.chain for t in seed_tokens()})
            if ADDRESS.match(wanted):
                if decimals is None and need_decimals:
                    raise CexflowError(build_words().address_needs_decimals(name, chains))
                matches = [Token(chains[0], wanted, None, decimals)]
            elif len(chains) == 1 and chains[0] not in seed_chains:
                raise CexflowError(build_words().no_token_on_chain(chains[0], seed_chains))
            else:
                known = ", ".join(sorted({t.symbol for t in seed if t.symbol}))
                raise CexflowError(build_words().unknown_token(name, chains, known))
            unknown_addresses += matches
        for token in matches:
            found.setdefault((token.chain, token.address), token)
    tokens = list(found.values())
    if decimals is not None and len(tokens) == 1:
        return [Token(tokens[0].chain, tokens[0].address, tokens[0].symbol, decimals)]
    if decimals is not None and not unknown_addresses:
        raise CexflowError(build_words().decimals_of_several(decimals, tokens))
    return tokens
