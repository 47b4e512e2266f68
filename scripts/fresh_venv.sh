# Sourced by compat.sh and onnx_venv.sh: `fresh_venv VENV SCRIPT` sets VENV and makes it anew (pip, then the
# pinned CPU torch) unless VENV/.installed is newer than SCRIPT, when it returns 1: nothing to do.
fresh_venv() {
    VENV=$1
    local venv=$1 script=$2
    [ "$venv/.installed" -nt "$script" ] && return 1
    rm -rf "$venv"
    "${PYTHON:-python3.11}" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    # torch first and pinned: a CPU wheel, not a multi-GB CUDA build.
    "$venv/bin/python" -m pip install -q torch==2.13.0
}
