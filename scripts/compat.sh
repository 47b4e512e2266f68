#!/usr/bin/env bash
# Build the Data Commons NL server's library set in build/compat-venv (again only when this script changed):
#
#   bash scripts/compat.sh            # then: build/compat-venv/bin/python tests/compat/check_bundle.py BUNDLE ...
#
# The pins are the server's (nl_server/pyproject.toml, see ../shared/datacommons/serving.md), except torch:
# the server pins 2.12.0, this uses the same local CPU wheel as the project venv. svtune is NOT installed
# here, so what loads in this venv loads on the server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/fresh_venv.sh
fresh_venv "${COMPAT_VENV:-build/compat-venv}" "scripts/compat.sh" || exit 0
# numpy below 2 and pyarrow as in the server's uv.lock: pip left alone picks a pyarrow that fails under numpy 1.x.
"$VENV/bin/python" -m pip install -q sentence-transformers==2.7.0 transformers==4.53.0 datasets==2.18.0 \
    "numpy==1.26.4" "pyarrow==22.0.0"
"$VENV/bin/python" -c "import numpy; assert numpy.__version__.startswith('1.'), numpy.__version__"
touch "$VENV/.installed"
echo "compat venv ready: $VENV"
