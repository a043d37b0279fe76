#!/bin/sh
# Installs the mledojo runtime into an image that already has Debian's python3 (3.11).
# Runs as root inside the image being built, from the staging folder it lives in:
#   requirements.txt  runner.py  tools/ (optional)  wheels/ (offline builds only)
# With wheels/ present, pip never touches the network (--no-index); without it
# (the online Dockerfile) pip installs the same pins from the package index.
set -eu

STAGE="$(cd "$(dirname "$0")" && pwd)"
VENV=/opt/venv
SITE="$VENV/lib/python3.11/site-packages"

# 1. The Python environment: a venv keeps the packages apart from Debian's python3.
python3 -m venv "$VENV"
if [ -d "$STAGE/wheels" ]; then
    "$VENV/bin/pip" install --no-cache-dir --disable-pip-version-check \
        --no-index --find-links "$STAGE/wheels" -r "$STAGE/requirements.txt"
else
    "$VENV/bin/pip" install --no-cache-dir --disable-pip-version-check \
        -r "$STAGE/requirements.txt"
fi
"$VENV/bin/pip" check
# setuptools only serves source builds, which never happen here.
"$VENV/bin/pip" uninstall --yes --quiet setuptools || true

# 2. Slimming: test suites, C headers and Cython sources are never used at run time.
for pkg in numpy pandas scipy sklearn pyarrow; do
    find "$SITE/$pkg" -depth -type d -name tests -exec rm -rf {} +
done
rm -rf "$SITE/pyarrow/include" "$SITE/pyarrow/src" "$SITE/numpy/_core/include"
find "$SITE" \( -name '*.pxd' -o -name '*.pyx' -o -name '*.pxi' -o -name '*.h' \) -delete
# Sources were compiled while installing; drop byte code of the files just removed.
find "$SITE" -depth -type d -name __pycache__ -empty -delete

# 3. The trusted in-container code: the runner and the tools it serves.
install -d -m 0755 /opt/mledojo
install -m 0644 "$STAGE/runner.py" /opt/mledojo/runner.py
if [ -d "$STAGE/tools" ]; then
    cp -r "$STAGE/tools" /opt/mledojo/tools
fi
chmod -R a+rX,go-w /opt/mledojo
# The root file system is read-only at run time: compile now, never at import.
"$VENV/bin/python" -m compileall -q /opt/mledojo

# 4. The unprivileged user and the mount points.
if ! getent passwd agent >/dev/null; then
    useradd --uid 1000 --user-group --create-home --shell /bin/bash agent
fi
install -d -m 0755 -o agent -g agent /workspace
install -d -m 0755 /data

# 5. No set-uid/set-gid programs: nothing in a container may gain privileges (su, mount...).
find / -xdev -type f -perm /6000 -exec chmod ug-s {} +

# 6. Nothing the image does not need at run time.
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /root/.cache \
    /usr/share/man/* /usr/share/info/* /var/log/apt /var/log/dpkg.log
rm -rf "$STAGE"
