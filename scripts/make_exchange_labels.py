"""Regenerate seeds/exchange_wallets.csv from the label sources.

Sources (all copied or quoted in this repository with their credit):
- the seed project's 13 LPT exchange wallets (cryptopromptaiHAH/crypto-ai-analytics, scripts/cex_addresses.json);
- Etherscan's exchange labels as scraped in June 2023 by brianleect/etherscan-labels (MIT licence,
  seeds/LICENSE-exchange_labels_etherscan_2023-06);
- Arbiscan's exchange labels (Arbitrum One) from the same repository and licence: its `exchange` and `kucoin`
  accounts (tests/data/real/exchange_labels_arbiscan.csv, see SOURCE.md there).

One row per (chain, address). Where both sources name an address, the seed project's wallet name wins
(the reports and the seed's own outputs use it) and `label_source` names both. Exchange names are the
Etherscan slugs, with two renamed so that one exchange has one name: huobi -> htx (rebranded in 2023),
gate-io -> gate.

Usage: python scripts/make_exchange_labels.py [tests/data/real] > seeds/exchange_wallets.csv
(the folder holding the source files; default: tests/data/real of this repository)
"""

import csv
import json
import sys
from pathlib import Path

SEED_WALLETS = {
    # the seed project's label -> (exchange, wallet name)
    "binance20": ("binance", "binance20"),
    "binance14": ("binance", "binance14"),
    "binance15": ("binance", "binance15"),
    "binance16": ("binance", "binance16"),
    "binance93": ("binance", "binance93"),
    "kraken_cold1": ("kraken", "kraken_cold1"),
    "kraken_cold2": ("kraken", "kraken_cold2"),
    "coinbase10": ("coinbase", "coinbase10"),
    "gate1": ("gate", "gate1"),
    "bitvavo_hot3": ("bitvavo", "bitvavo_hot3"),
    "htx_safe60": ("htx", "htx_safe60"),
    "mexc16": ("mexc", "mexc16"),
    "revolut3": ("revolut", "revolut3"),
}
EXCHANGE_RENAMES = {"huobi": "htx", "gate-io": "gate"}


def main(real_dir: str) -> None:
    real = Path(real_dir)
    seed = json.loads((real / "seed_project_wallets.json").read_text())
    rows: dict[str, dict[str, str]] = {}
    for label, address in seed.items():
        exchange, wallet = SEED_WALLETS[label.lower()]
        rows[address.lower()] = {
            "chain": "ethereum",
            "address": address.lower(),
            "exchange": exchange,
            "wallet": wallet,
            "label_source": "seed_project",
        }
    with open(real / "exchange_labels_etherscan_2023-06.csv", newline="") as fh:
        for rec in csv.DictReader(fh):
            address = rec["address"].strip().lower()
            if address in rows:
                rows[address]["label_source"] = "seed_project; etherscan_labels_2023_06"
                continue
            rows[address] = scraped_label("ethereum", rec, "etherscan_labels_2023_06")
    # Arbitrum One: keyed apart, an address is a different wallet on another chain
    arbitrum: dict[str, dict[str, str]] = {}
    with open(real / "exchange_labels_arbiscan.csv", newline="") as fh:
        for rec in csv.DictReader(fh):
            arbitrum.setdefault(rec["address"].strip().lower(), scraped_label("arbitrum", rec, "arbiscan_labels"))
    out = csv.DictWriter(sys.stdout, ["chain", "address", "exchange", "wallet", "label_source"],
                         lineterminator="\n")
    out.writeheader()
    for chain_rows in (rows, arbitrum):
        for row in sorted(chain_rows.values(), key=lambda r: (r["exchange"], r["wallet"], r["address"])):
            out.writerow(row)


def scraped_label(chain: str, rec: dict[str, str], source: str) -> dict[str, str]:
    """A row of a label scrape (address,name_tag,exchange) as a seed row."""
    address = rec["address"].strip().lower()
    return {
        "chain": chain,
        "address": address,
        "exchange": EXCHANGE_RENAMES.get(rec["exchange"], rec["exchange"]),
        "wallet": rec["name_tag"].strip() or address,
        "label_source": source,
    }


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1] / "tests" / "data" / "real"))
