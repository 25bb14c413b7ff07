# Sourced by the other scripts: make sure .venv exists and holds the project with its dev tools.
# Reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "relaybox needs Python 3.11 or newer on PATH (python3.11, python3.12, ...)" >&2
    return 1
}

if [ ! -x .venv/bin/python ]; then
    "$(find_python)" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi

stamp=.venv/.relaybox-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 |
        grep -v "^WARNING: Location" || true
    echo "$wanted" >"$stamp"
fi
