#!/bin/sh
# Loads the validation shop "Ridgeline Cycles" into a fresh kefu data directory.
#
#   evals/validation/load.sh KEFU_BINARY [DIRECTORY]
#
# DIRECTORY (default: the current one) gets kefu-data/ with the database and index.
# Run the eval from the same directory with the same KEFU_CONFIG:
#   cd DIRECTORY && KEFU_CONFIG=.../evals/validation/kefu.toml \
#     KEFU eval .../evals/validation/cases --today 2026-11-24
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 KEFU_BINARY [DIRECTORY]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
kefu=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
dir=${2:-.}
mkdir -p "$dir"
cd "$dir"
if [ -e kefu-data/kefu.db ]; then
    echo "$(pwd)/kefu-data/kefu.db already exists: load into a fresh directory" >&2
    exit 1
fi
export KEFU_CONFIG="$here/kefu.toml"
shop="$here/shop"
"$kefu" import products "$shop/products.csv" --format shopify --currency EUR --lang en
"$kefu" import products "$shop/products-de.csv" --format shopify --currency EUR --lang de
"$kefu" import products "$shop/products-ja.csv" --format shopify --currency EUR --lang ja
"$kefu" import customers "$shop/customers.csv"
"$kefu" import orders "$shop/orders.csv" --format shopify
"$kefu" import shipments "$shop/shipments.csv"
"$kefu" import faq "$shop/faq"
"$kefu" knowledge reindex
