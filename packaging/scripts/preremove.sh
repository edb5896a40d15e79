#!/bin/sh
# imdsd package: before removal (deb: remove; rpm: $1 = 0). Not on upgrade.
set -e
case "$1" in
  remove|0)
    # Stops and disables the service (the daemon removes the link-local
    # addresses it added as it stops), removes the aws-user drop-in, and
    # sweeps any address a killed daemon left behind.
    if [ -x /usr/bin/imdsd ] && [ -d /run/systemd/system ]; then
      /usr/bin/imdsd service uninstall || true
    fi
    ;;
esac
exit 0
